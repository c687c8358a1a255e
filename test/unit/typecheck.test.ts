// The suite runs TypeScript through tsx, which strips types without checking them: type errors in
// the gateway or in tests would otherwise pass `npm test` unnoticed (they did once, in 298e1c1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const ROOT = new URL('../..', import.meta.url).pathname;

test('the whole project typechecks (tsc --noEmit)', () => {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '--noEmit', '-p', 'tsconfig.json'], { cwd: ROOT, encoding: 'utf8', timeout: 170_000 });
  assert.equal(r.status, 0, `tsc reported errors:\n${r.stdout}${r.stderr}`);
});
