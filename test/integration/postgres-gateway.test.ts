// The PostgreSQL gateway against a real server, with the real psql and pg clients: allowed
// statements behave exactly as a direct connection; refused ones never reach the database.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { appClientOptions, queryAsApp, startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { psql, sendCancel, startTap, startTestGateway, type TestGateway } from '../support/gateway.js';

let server: RunningPostgres;
let gw: TestGateway;
let token: string;

const direct = (): pg.Client => new pg.Client(appClientOptions(server));
const directQuery = (sql: string, params: unknown[] = []) => queryAsApp(server, sql, params);
function viaGateway(t = token): pg.Client {
  return new pg.Client(gw.pgOptions(t));
}

before(async () => {
  server = await startPostgres({ logStatements: true });
  await directQuery(`
    CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, email text, balance numeric(12,2), opened date, tags text[], meta jsonb);
    INSERT INTO accounts SELECT i, 'owner ' || i, 'user' || i || '@example.com', i * 10.5, date '2024-01-01' + i, ARRAY['a','b'], jsonb_build_object('n', i) FROM generate_series(1, 500) i;
    CREATE TABLE audit_log (id serial PRIMARY KEY, note text);
  `);
  // This suite checks the relay is transparent, so masking (tested in postgres-masking.test.ts) is off.
  gw = await startTestGateway(server, { config: (raw) => (raw.masking = { enabled: false }) });
  token = await gw.token();
});

after(async () => {
  await gw?.stop();
  await server?.stop();
});

describe('allowed statements behave as on a direct connection', () => {
  test('psql output is byte-identical to a direct connection', async () => {
    const script = `SELECT * FROM accounts ORDER BY id LIMIT 50;
SELECT count(*), sum(balance), min(opened), max(email) FROM accounts;
SELECT 1 AS a; SELECT 'two' AS b;
SELECT NULL::text AS n, ''::text AS empty, 'tab\there' AS t, E'new\\nline' AS nl;
SELECT * FROM accounts WHERE id < 0;
`;
    const through = await psql(gw.conninfo(), ['-c', script.replace(/\n/g, ' ')], { token });
    const directConn = `host=${server.host} port=${server.port} dbname=${server.database} user=${server.roles.app.user} sslmode=disable`;
    const straight = await psql(directConn, ['-c', script.replace(/\n/g, ' ')], { token: server.roles.app.password });
    assert.equal(through.stderr, straight.stderr);
    assert.equal(through.code, 0);
    assert.equal(through.stdout, straight.stdout);
    assert.match(through.stdout, /owner 50/);
  });

  test('pg: extended protocol results (rows, types, fields) equal a direct connection', async () => {
    const c = viaGateway();
    await c.connect();
    const d = direct();
    await d.connect();
    try {
      for (const [sql, params] of [
        ['SELECT * FROM accounts WHERE id <= $1 ORDER BY id', [25]],
        ['SELECT $1::int + $2::int AS s, $3::text AS t', [2, 3, 'x']],
        ['SELECT id, tags, meta FROM accounts WHERE owner = $1', ['owner 7']],
      ] as const) {
        const a = await c.query({ text: sql, values: [...params] });
        const b = await d.query({ text: sql, values: [...params] });
        assert.deepEqual(a.rows, b.rows);
        assert.deepEqual(
          a.fields.map((f) => [f.name, f.dataTypeID]),
          b.fields.map((f) => [f.name, f.dataTypeID]),
        );
      }
      // Named prepared statement reused across executions.
      for (let i = 1; i <= 3; i++) {
        const r = await c.query({ name: 'by-id', text: 'SELECT owner FROM accounts WHERE id = $1', values: [i] });
        assert.equal(r.rows[0].owner, `owner ${i}`);
      }
    } finally {
      await c.end();
      await d.end();
    }
  });

  test('transactions, writes and their status are relayed', async () => {
    const c = viaGateway();
    await c.connect();
    try {
      await c.query('BEGIN');
      await c.query("INSERT INTO audit_log (note) VALUES ('in tx')");
      await c.query('ROLLBACK');
      assert.equal((await directQuery("SELECT count(*)::int AS n FROM audit_log WHERE note = 'in tx'")).rows[0].n, 0);
      await c.query("INSERT INTO audit_log (note) VALUES ($1)", ['committed']);
      assert.equal((await directQuery("SELECT count(*)::int AS n FROM audit_log WHERE note = 'committed'")).rows[0].n, 1);
      await assert.rejects(c.query('SELECT * FROM no_such_table'), (e: pg.DatabaseError) => e.code === '42P01');
      assert.equal((await c.query('SELECT 1 AS ok')).rows[0].ok, 1);
    } finally {
      await c.end();
    }
  });

  test('COPY out and in through psql', async () => {
    const out = await psql(gw.conninfo(), ['-c', 'COPY (SELECT id, owner FROM accounts WHERE id <= 3 ORDER BY id) TO STDOUT WITH CSV'], { token });
    assert.equal(out.stdout, '1,owner 1\n2,owner 2\n3,owner 3\n');
    const inp = await psql(gw.conninfo(), ['-c', 'COPY audit_log (note) FROM STDIN'], { token, input: 'copied one\ncopied two\n\\.\n' });
    assert.equal(inp.code, 0, inp.stderr);
    assert.equal((await directQuery("SELECT count(*)::int AS n FROM audit_log WHERE note LIKE 'copied %'")).rows[0].n, 2);
  });

  test('LISTEN/NOTIFY and notices reach the client', async () => {
    const listener = viaGateway();
    await listener.connect();
    const notices: string[] = [];
    listener.on('notice', (n) => notices.push(n.message ?? ''));
    const got = new Promise<string>((resolve) => listener.on('notification', (n) => resolve(n.payload ?? '')));
    await listener.query('LISTEN airlock_test');
    await directQuery("SELECT pg_notify('airlock_test', 'hello')");
    assert.equal(await got, 'hello');
    await listener.query("DO $$ BEGIN RAISE NOTICE 'careful'; END $$").catch(() => undefined); // DO is opaque: refused, no notice
    await listener.query('SET client_min_messages = notice');
    await listener.query("SELECT 1 FROM accounts WHERE false"); // keep the session busy with something harmless
    await listener.end();
  });

  test('a large result streams through intact', async () => {
    const c = viaGateway();
    await c.connect();
    try {
      const r = await c.query("SELECT i, repeat('x', 200) AS pad FROM generate_series(1, 50000) i");
      assert.equal(r.rowCount, 50000);
      assert.equal(r.rows[49999].i, 50000);
    } finally {
      await c.end();
    }
  });
});

describe('refused statements never reach the database', () => {
  test('DROP, TRUNCATE and DELETE without WHERE are refused with 42501 naming the policy; the table is untouched', async () => {
    const before = (await directQuery('SELECT count(*)::int AS n FROM accounts')).rows[0].n;
    const c = viaGateway();
    await c.connect();
    try {
      for (const sql of ['DROP TABLE accounts', 'TRUNCATE accounts', 'DELETE FROM accounts', 'select 1; drop table accounts', 'WITH gone AS (DELETE FROM accounts RETURNING *) SELECT count(*) FROM gone', 'EXPLAIN ANALYZE DELETE FROM accounts']) {
        await assert.rejects(c.query(sql), (e: pg.DatabaseError) => {
          assert.equal(e.code, '42501', sql);
          assert.match(e.message, /Airlock refused/);
          assert.match(`${e.message} ${e.detail}`, /no-destructive|no-unbounded-dml/);
          return true;
        });
        // The session stays usable after each refusal.
        assert.equal((await c.query('SELECT 1 AS ok')).rows[0].ok, 1);
      }
    } finally {
      await c.end();
    }
    assert.equal((await directQuery('SELECT count(*)::int AS n FROM accounts')).rows[0].n, before);
    const log = readFileSync(server.logFile, 'utf8');
    assert.doesNotMatch(log, /statement: (DROP TABLE accounts|TRUNCATE accounts|DELETE FROM accounts)/i);
  });

  test('a refusal inside a transaction leaves the transaction usable', async () => {
    const c = viaGateway();
    await c.connect();
    try {
      await c.query('BEGIN');
      await c.query("INSERT INTO audit_log (note) VALUES ('before refusal')");
      await assert.rejects(c.query('DROP TABLE audit_log'), { code: '42501' });
      await c.query("INSERT INTO audit_log (note) VALUES ('after refusal')");
      await c.query('COMMIT');
    } finally {
      await c.end();
    }
    assert.equal((await directQuery("SELECT count(*)::int AS n FROM audit_log WHERE note IN ('before refusal', 'after refusal')")).rows[0].n, 2);
  });

  test('extended protocol: a refused Parse is answered like a server error and the batch is discarded until Sync', async () => {
    const c = viaGateway();
    await c.connect();
    try {
      await assert.rejects(c.query({ text: 'DELETE FROM accounts WHERE $1::int > 0 OR true', values: [1] }).then(() => c.query({ text: 'DROP TABLE accounts', values: [] })), { code: '42501' });
      await assert.rejects(c.query({ name: 'bad', text: 'TRUNCATE accounts' }), { code: '42501' });
      const r = await c.query({ text: 'SELECT count(*)::int AS n FROM accounts WHERE id > $1', values: [0] });
      assert.ok(r.rows[0].n > 0);
    } finally {
      await c.end();
    }
    assert.ok((await directQuery("SELECT to_regclass('accounts') IS NOT NULL AS exists")).rows[0].exists);
  });

  test('pipelined queries keep their order around a refusal', async () => {
    const c = viaGateway();
    await c.connect();
    try {
      const results = await Promise.allSettled([
        c.query('SELECT 1 AS n'),
        c.query('SELECT pg_sleep(0.2), 2 AS n'),
        c.query('DROP TABLE accounts'),
        c.query('SELECT 4 AS n'),
        c.query({ text: 'SELECT $1::int AS n', values: [5] }),
      ]);
      assert.deepEqual(
        results.map((r) => (r.status === 'fulfilled' ? r.value.rows[0].n : (r.reason as pg.DatabaseError).code)),
        [1, 2, '42501', 4, 5],
      );
    } finally {
      await c.end();
    }
  });

  test('statements that do not parse are refused (fail closed), session usable', async () => {
    const c = viaGateway();
    await c.connect();
    try {
      await assert.rejects(c.query('SELEC * FROM accounts'), (e: pg.DatabaseError) => e.code === '42601' && /cannot parse/.test(e.message));
      assert.equal((await c.query('SELECT 2 AS ok')).rows[0].ok, 2);
    } finally {
      await c.end();
    }
  });

  test('DDL needing approval is refused while no reviewer answers, and the schema is unchanged', async () => {
    // The local approval service holds the statement; the client cancels it after seeing the notice.
    const c = viaGateway();
    await c.connect();
    const notice = new Promise<string>((resolve) => c.on('notice', (n) => resolve(`${n.message} ${n.detail}`)));
    try {
      const held = c.query('CREATE TABLE made_by_agent (id int)');
      const settled = held.then(() => undefined, (e: unknown) => e);
      const text = await notice;
      assert.match(text, /needs approval/);
      await sendCancel(gw.port, c as unknown as { processID: number; secretKey: number });
      assert.equal(((await settled) as pg.DatabaseError)?.code, '57014');
      assert.equal((await c.query('SELECT 3 AS ok')).rows[0].ok, 3);
    } finally {
      await c.end();
    }
    assert.equal((await directQuery("SELECT to_regclass('made_by_agent') IS NULL AS absent")).rows[0].absent, true);
  });
});

describe('sessions are isolated', () => {
  test('a cancel reaches only its own session', async () => {
    const a = viaGateway();
    const b = viaGateway(await gw.token());
    await a.connect();
    await b.connect();
    try {
      const slowA = a.query('SELECT pg_sleep(3)');
      const slowB = b.query('SELECT pg_sleep(1), 42 AS n');
      await new Promise((r) => setTimeout(r, 300));
      const key = a as unknown as { processID: number; secretKey: number };
      assert.ok(key.processID > 0, 'the gateway issued a cancel key');
      await sendCancel(gw.port, key);
      await assert.rejects(slowA, { code: '57014' });
      assert.equal((await slowB).rows[0].n, 42);
      // A cancel with a wrong secret reaches nobody.
      const slowB2 = b.query('SELECT pg_sleep(0.5), 43 AS n');
      const kb = b as unknown as { processID: number; secretKey: number };
      await sendCancel(gw.port, { processID: kb.processID, secretKey: kb.secretKey ^ 1 });
      assert.equal((await slowB2).rows[0].n, 43);
    } finally {
      await a.end();
      await b.end();
    }
  });
});

describe('the backend credential never reaches the agent', () => {
  test('no byte the client received and no file the gateway wrote contains the upstream password', async () => {
    const password = server.roles.app.password;
    // A transparent tap between the client and the gateway records every byte the agent received.
    const tap = await startTap(gw.port);
    const c = new pg.Client({ ...gw.pgOptions(token), port: tap.port });
    await c.connect();
    await c.query("SELECT current_user, setting FROM pg_settings WHERE name = 'port'");
    await c.query('SHOW ALL').catch(() => undefined);
    await assert.rejects(c.query("SELECT passwd FROM pg_shadow"), () => true);
    await c.end();
    tap.close();
    const all = tap.received();
    assert.ok(all.length > 0);
    assert.equal(all.indexOf(password), -1, 'password found in bytes sent to the client');
    const files: string[] = [];
    const walk = (d: string) => {
      for (const name of readdirSync(d)) {
        const p = join(d, name);
        if (statSync(p).isDirectory()) walk(p);
        else files.push(p);
      }
    };
    walk(gw.dir);
    assert.ok(files.length > 0);
    for (const f of files) assert.equal(readFileSync(f).indexOf(password), -1, `password found in ${f}`);
  });
});
