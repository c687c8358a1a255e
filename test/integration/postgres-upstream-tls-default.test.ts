// Secure by default: a target configured without `tls` is reached over verified TLS only, so a
// plaintext server is refused rather than silently used; `tls: { mode: disable }` opts in to plaintext.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { pgTarget, startTestGateway, type TestGateway } from '../support/gateway.js';

let server: RunningPostgres;
let gw: TestGateway;

before(async () => {
  server = await startPostgres(); // no TLS
  gw = await startTestGateway(server, {
    targets: [pgTarget(server, { name: 'implicit', tls: undefined }), pgTarget(server, { name: 'plain', tls: { mode: 'disable' } })],
  });
});
after(async () => {
  await gw?.stop();
  await server?.stop();
});

test('a target without `tls` refuses a plaintext server; `mode: disable` reaches it', async () => {
  const token = await gw.token();
  const implicit = new pg.Client({ ...gw.pgOptions(token), database: 'implicit' });
  await assert.rejects(implicit.connect(), (e: pg.DatabaseError) => {
    assert.equal(e.code, '08001');
    assert.match(e.message, /TLS|SSL/i);
    return true;
  });
  const plain = new pg.Client({ ...gw.pgOptions(token), database: 'plain' });
  await plain.connect();
  assert.equal((await plain.query('SELECT 1 AS n')).rows[0].n, 1);
  await plain.end();
});
