// Policy files are hot-reloaded by a running gateway: a live session's next statement is decided by
// the new policy set, and a broken edit keeps the previous set in force.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { TEST_POLICY, startTestGateway, type TestGateway } from '../support/gateway.js';

let server: RunningPostgres;
let gw: TestGateway;

before(async () => {
  server = await startPostgres();
  gw = await startTestGateway(server);
});
after(async () => {
  await gw?.stop();
  await server?.stop();
});

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

test('an edited policy applies to the next statement of a live session; a broken edit is rejected', async () => {
  const c = new pg.Client(gw.pgOptions(await gw.token()));
  await c.connect();
  try {
    assert.equal((await c.query('SELECT 1 AS n')).rows[0].n, 1);
    // Reads are now forbidden for everyone (save by rename, as editors do).
    writeFileSync(`${gw.policyFile}.tmp`, `${TEST_POLICY}\n@id("reads-frozen")\n@reason("maintenance")\nforbid (principal, action == Airlock::Action::"read", resource);\n`);
    spawnSync('mv', [`${gw.policyFile}.tmp`, gw.policyFile]);
    await waitFor(async () => (await c.query('SELECT 2 AS n').then(() => false, (e: pg.DatabaseError) => e.code === '42501' && /reads-frozen/.test(`${e.message} ${e.detail}`))), 'the new policy');
    // A syntax error keeps the last good set (reads still frozen), and the session carries on.
    writeFileSync(join(gw.dir, 'broken.tmp'), 'permit (principal, action, resource'); // not even Cedar
    spawnSync('mv', [join(gw.dir, 'broken.tmp'), gw.policyFile]);
    await new Promise((r) => setTimeout(r, 500));
    await assert.rejects(c.query('SELECT 3 AS n'), { code: '42501' });
    // Restoring the original policy lifts the freeze.
    writeFileSync(`${gw.policyFile}.tmp`, TEST_POLICY);
    spawnSync('mv', [`${gw.policyFile}.tmp`, gw.policyFile]);
    await waitFor(async () => c.query('SELECT 4 AS n').then(() => true, () => false), 'the restored policy');
  } finally {
    await c.end();
  }
});

test('airlock policy check validates a file and reports errors with their place', () => {
  const ok = spawnSync(process.execPath, ['--import', 'tsx', 'fargate-proxy/src/cli/main.ts', 'policy', 'check', 'policies/demo.cedar'], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /demo\.cedar: valid/);
  const bad = join(gw.dir, 'bad.cedar');
  writeFileSync(bad, '@id("x")\npermit (principal, action == Airlock::Action::"raed", resource);\n');
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'fargate-proxy/src/cli/main.ts', 'policy', 'check', bad], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stdout, /error: .*raed/);
});
