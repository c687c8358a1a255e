// Graceful draining: a stopping gateway takes no new sessions but lets live ones finish.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { expectAuditVerifies } from '../support/audit-trail.js';

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

test('draining refuses new sessions, keeps live ones working, and ends when they end', async () => {
  const token = await gw.token();
  const live = new pg.Client(gw.pgOptions(token));
  await live.connect();
  const started = Date.now();
  const drained = gw.gw.drain(20_000);
  await new Promise((r) => setTimeout(r, 100));
  const late = new pg.Client(gw.pgOptions(token));
  await assert.rejects(late.connect(), (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED');
  // The live session carries on, transactions included.
  await live.query('BEGIN');
  assert.equal((await live.query('SELECT 2 AS n')).rows[0].n, 2);
  await live.query('COMMIT');
  await live.end();
  await drained;
  assert.ok(Date.now() - started < 10_000, 'drain waited past the last session');
  await expectAuditVerifies(gw);
});
