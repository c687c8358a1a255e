// Server-enforced read-only: a principal whom policy lets only read gets an upstream session with
// default_transaction_read_only = on, and cannot turn it off; a write the classifier cannot see
// (a view whose function inserts) is then refused by PostgreSQL itself.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { pgTarget, startTestGateway, TEST_POLICY, type TestGateway } from '../support/gateway.js';

const READ_ONLY_POLICY = `
@id("connect") permit (principal in Airlock::Group::"agents", action == Airlock::Action::"connect", resource);
@id("read") permit (principal in Airlock::Group::"agents", action == Airlock::Action::"read", resource);
`;

let server: RunningPostgres;
let readOnly: TestGateway;
let writable: TestGateway;
let withRole: TestGateway;
const RO_PASSWORD = 'read-only-role-password-123';

const hits = async () => Number((await server.psqlDirect(`SELECT count(*) FROM hits`)).trim());

before(async () => {
  server = await startPostgres({ md5Password: RO_PASSWORD }); // role app_md5 plays the read-only role
  // A view that writes when read: the classifier sees only `SELECT … FROM counted`.
  await server.psqlDirect(
    `CREATE TABLE hits (at timestamptz DEFAULT now());
     CREATE FUNCTION count_hit() RETURNS int LANGUAGE sql VOLATILE AS 'INSERT INTO hits DEFAULT VALUES RETURNING 1';
     CREATE VIEW counted AS SELECT count_hit() AS n;
     GRANT ALL ON hits, counted TO app;
     GRANT SELECT ON hits, counted TO app_md5;`,
    server.database,
  );
  process.env.AIRLOCK_TEST_RO_PASSWORD = RO_PASSWORD;
  withRole = await startTestGateway(server, {
    policy: READ_ONLY_POLICY,
    config: (raw) => (raw.masking = { enabled: false }),
    targets: [pgTarget(server, { readOnly: { user: 'app_md5', credential: 'env:AIRLOCK_TEST_RO_PASSWORD' } })],
  });
  readOnly = await startTestGateway(server, { policy: READ_ONLY_POLICY, config: (raw) => (raw.masking = { enabled: false }) });
  writable = await startTestGateway(server, { policy: TEST_POLICY, config: (raw) => (raw.masking = { enabled: false }) });
});

after(async () => {
  await readOnly?.stop();
  await writable?.stop();
  await withRole?.stop();
  await server?.stop();
});

async function connect(gw: TestGateway): Promise<pg.Client> {
  const c = new pg.Client(gw.pgOptions(await gw.token()));
  await c.connect();
  return c;
}

test('a write hidden from the classifier runs where policy permits writes (the test can fail)', async () => {
  const c = await connect(writable);
  try {
    const before = await hits();
    await c.query('SELECT n FROM counted');
    assert.equal(await hits(), before + 1);
  } finally {
    await c.end();
  }
});

test('a read-only principal: the same hidden write is refused by PostgreSQL itself', async () => {
  const c = await connect(readOnly);
  try {
    assert.equal((await c.query('SHOW default_transaction_read_only')).rows[0].default_transaction_read_only, 'on');
    const before = await hits();
    await assert.rejects(c.query('SELECT n FROM counted'), (err: Error & { code?: string }) => {
      assert.equal(err.code, '25006', err.message); // read_only_sql_transaction, from the server
      return true;
    });
    assert.equal(await hits(), before);
    assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1, 'the session stays usable');
  } finally {
    await c.end();
  }
});

test('every way of turning read-only off is refused by the gateway', async () => {
  const c = await connect(readOnly);
  try {
    for (const sql of [
      'SET default_transaction_read_only = off',
      'SET SESSION default_transaction_read_only TO false',
      'SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE',
      'BEGIN READ WRITE',
      'START TRANSACTION READ WRITE',
      "SELECT set_config('default_transaction_read_only', 'off', false)",
      'RESET ALL',
      'DISCARD ALL',
    ]) {
      await assert.rejects(c.query(sql), (err: Error & { code?: string }) => {
        assert.equal(err.code, '42501', `${sql}: ${err.message}`);
        return true;
      }, sql);
    }
    await c.query('BEGIN');
    await assert.rejects(c.query('SET TRANSACTION READ WRITE'), /Airlock refused/);
    await c.query('ROLLBACK');
    // RESET goes back to the value the gateway gave at start-up, not to the server's default.
    await c.query('RESET default_transaction_read_only');
    assert.equal((await c.query('SHOW default_transaction_read_only')).rows[0].default_transaction_read_only, 'on');
  } finally {
    await c.end();
  }
});

test('startup options cannot turn it off either', async () => {
  const token = await readOnly.token();
  const c = new pg.Client({ ...readOnly.pgOptions(token), options: '-c default_transaction_read_only=off' } as pg.ClientConfig);
  await assert.rejects(c.connect(), /not allowed through Airlock/);
});

test('a target with a read-only role: read-only principals log in as that role', async () => {
  const c = await connect(withRole);
  try {
    assert.equal((await c.query('SELECT current_user AS u')).rows[0].u, 'app_md5');
    const before = await hits();
    await assert.rejects(c.query('SELECT n FROM counted'), (err: Error & { code?: string }) => ['25006', '42501'].includes(err.code ?? ''));
    assert.equal(await hits(), before);
  } finally {
    await c.end();
  }
  // A principal who may write still gets the target's main role.
  const w = await connect(writable);
  try {
    assert.equal((await w.query('SELECT current_user AS u')).rows[0].u, 'app');
  } finally {
    await w.end();
  }
});
