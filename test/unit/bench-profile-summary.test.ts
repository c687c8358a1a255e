// The profile summary of a compiled gateway (the bench runs dist/, as the Dockerfile does) must
// name the TypeScript sources: areas by source directory, functions by their definition line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { areaOf, summariseProfile } from '../../bench/profile-summary.js';

const ROOT = new URL('../../', import.meta.url).pathname;

test('frames from dist/ are attributed to the TypeScript source they were compiled from', () => {
  const compiled = { functionName: 'canonicalJson', url: `file://${ROOT}dist/core/audit/chain.js`, lineNumber: 3 };
  const dependency = { functionName: 'parse', url: `file://${ROOT}node_modules/libpg-query/wasm/index.js`, lineNumber: 9 };
  assert.equal(areaOf(compiled), 'core/audit');
  assert.equal(areaOf(dependency), 'npm libpg-query');

  const dir = mkdtempSync(join(tmpdir(), 'airlock-profile-test-'));
  try {
    const file = join(dir, 'run.cpuprofile');
    const root = { functionName: '(root)', url: '', lineNumber: -1 };
    const nodes = [
      { id: 1, callFrame: root, children: [2, 3] },
      { id: 2, callFrame: compiled },
      { id: 3, callFrame: dependency },
    ];
    // Three samples in canonicalJson, one in the dependency, 1 ms apart.
    writeFileSync(file, JSON.stringify({ nodes, startTime: 0, endTime: 5000, samples: [2, 2, 2, 3, 2], timeDeltas: [1000, 1000, 1000, 1000, 1000] }));
    const summary = summariseProfile(file, 0, 10);
    const top = summary.top.find((t) => t.fn === 'canonicalJson');
    const definedAt = readFileSync(join(ROOT, 'core/audit/chain.ts'), 'utf8').split('\n').findIndex((l) => l.startsWith('export function canonicalJson')) + 1;
    assert.ok(definedAt > 0);
    assert.equal(top?.where, `core/audit/chain.ts:${definedAt}`);
    assert.equal(summary.top.find((t) => t.fn === 'parse')?.where, 'libpg-query/wasm/index.js:10', 'dependencies keep their own paths');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
