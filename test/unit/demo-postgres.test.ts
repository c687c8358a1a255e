// The demo target on a real PostgreSQL (what `npm start` runs when PostgreSQL is installed):
// sessions run concurrently, the login is an ordinary role, and the cluster is gone after close.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import pg from 'pg';
import { findPostgresBin } from '../../fargate-proxy/src/demo/demo-postgres.js';
import { startDemoTarget } from '../../fargate-proxy/src/demo/demo-target.js';

test('with PostgreSQL installed, `auto` picks a real server that serves a second session while a first holds a transaction', async () => {
  assert.ok(findPostgresBin(), 'the test machine has PostgreSQL (.ci/run installs it)');
  const { db, fallbackReason } = await startDemoTarget('auto', { host: '127.0.0.1', port: 0 });
  after(() => db.close());
  assert.equal(fallbackReason, undefined);
  assert.equal(db.engine, 'postgres');
  const login = { host: db.host, port: db.port, user: db.user, password: db.password, database: db.database };
  const a = new pg.Client(login);
  const b = new pg.Client({ ...login, connectionTimeoutMillis: 2000 });
  await a.connect();
  await a.query('begin');
  await a.query("update customers set full_name = 'Held' where id = 1");
  const started = Date.now();
  await b.connect();
  const notices: string[] = [];
  b.on('notice', (n) => notices.push(n.message ?? ''));
  const r = await b.query('select full_name, (select count(*)::int from customers) as n from customers where id = 1');
  assert.ok(Date.now() - started < 2000, 'the second session did not wait for the first');
  assert.notEqual(r.rows[0].full_name, 'Held', 'it reads the committed row, as PostgreSQL does');
  assert.equal(r.rows[0].n, 200);
  assert.deepEqual(notices, []);
  const su = await b.query('select rolsuper from pg_roles where rolname = current_user');
  assert.equal(su.rows[0].rolsuper, false, 'the demo login is not a superuser');
  await a.query('rollback');
  await Promise.all([a.end(), b.end()]);
  await db.close();
  const refused = new pg.Client({ ...login, connectionTimeoutMillis: 1000 });
  refused.on('error', () => undefined);
  await assert.rejects(refused.connect(), 'the server is stopped after close');
});

test('an AIRLOCK_PG_BIN without PostgreSQL in it is not used', () => {
  assert.equal(findPostgresBin({ AIRLOCK_PG_BIN: '/nonexistent' }), undefined);
  assert.ok(existsSync(findPostgresBin({})!));
});
