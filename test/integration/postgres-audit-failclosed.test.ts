// When the audit trail cannot accept events, the gateway refuses: statements in open sessions get
// 58000 (the session stays usable for when it recovers), new sessions get 57P03, nothing reaches
// the database.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { expectAuditVerifies } from '../support/audit-trail.js';

let server: RunningPostgres;
let gw: TestGateway;

before(async () => {
  server = await startPostgres({ logStatements: true });
  gw = await startTestGateway(server);
});
after(async () => {
  await gw?.stop();
  await server?.stop();
});

test('a vanished audit directory refuses statements and sessions, and nothing runs', async () => {
  const c = new pg.Client(gw.pgOptions(await gw.token()));
  await c.connect();
  try {
    assert.equal((await c.query('SELECT 1 AS n')).rows[0].n, 1);
    const audit = join(gw.dir, 'data', 'audit');
    renameSync(audit, `${audit}.moved`);
    await assert.rejects(c.query('SELECT 424242 AS must_not_run'), (e: pg.DatabaseError) => {
      assert.equal(e.code, '58000');
      assert.match(e.message, /audit trail cannot accept events/);
      return true;
    });
    const fresh = new pg.Client(gw.pgOptions(await gw.token()));
    await assert.rejects(fresh.connect(), (e: pg.DatabaseError) => e.code === '57P03' && /audit trail is unavailable/.test(e.message));
  } finally {
    await c.end().catch(() => undefined);
  }
  assert.doesNotMatch(readFileSync(server.logFile, 'utf8'), /must_not_run/);
  // What was written before the directory went away still verifies where it went.
  await expectAuditVerifies(`${join(gw.dir, 'data', 'audit')}.moved`);
});
