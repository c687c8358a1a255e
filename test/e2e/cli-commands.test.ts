// The `airlock` command as a user types it: several policy files at once, and help that explains
// each approvals subcommand.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'airlock-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'fargate-proxy/src/cli/main.ts', ...args], { encoding: 'utf8', timeout: 60_000 });

test('policy check takes several files (policies/*.cedar) and names the one that is wrong', () => {
  const bad = join(dir, 'bad.cedar');
  writeFileSync(bad, '@id("x")\npermit (principal, action == Airlock::Action::"raed", resource);\n');
  const r = cli(['policy', 'check', 'policies/demo.cedar', bad, 'policies/production-example.cedar', join(dir, 'missing.cedar')]);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /^policies\/demo\.cedar: valid$/m);
  assert.match(r.stdout, /^policies\/production-example\.cedar: valid$/m);
  assert.match(r.stdout, new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: error: .*raed`, 'm'));
  assert.match(r.stdout, /missing\.cedar: cannot read: ENOENT/);
  assert.match(r.stdout, /^2 of 4 files invalid$/m);
});

test('approvals approve and deny explain themselves in --help', () => {
  const top = cli(['approvals', '--help']);
  assert.match(top.stdout, /approve \[options\] <id>\s+let a held statement run/);
  assert.match(top.stdout, /deny \[options\] <id>\s+refuse a held statement/);
  const deny = cli(['approvals', 'deny', '--help']);
  assert.match(deny.stdout, /--reason <text>\s+why \(shown to the agent/);
  assert.match(deny.stdout, /id\s+request id, from `approvals list`/);
});
