// The demo target: a real PGlite behind a real password login, read by real clients (pg, psql).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { startDemoDatabase, type DemoDatabase } from '../../fargate-proxy/src/demo/demo-database.js';
import { luhnValid } from '../../fargate-proxy/src/demo/seed.js';

const execFileAsync = promisify(execFile);
let demo: DemoDatabase;

before(async () => {
  demo = await startDemoDatabase({ host: '127.0.0.1', port: 0, password: 'demo-secret' });
});
after(() => demo?.close());

function client(overrides: Partial<pg.ClientConfig> = {}): pg.Client {
  return new pg.Client({ host: demo.host, port: demo.port, user: demo.user, password: demo.password, database: demo.database, ...overrides });
}

test('pg logs in with SCRAM-SHA-256 and reads the seeded shop', async () => {
  const c = client();
  await c.connect();
  try {
    const counts = await c.query(
      'select (select count(*) from customers)::int as customers, (select count(*) from orders)::int as orders, (select count(*) from order_items)::int as items',
    );
    assert.equal(counts.rows[0].customers, 200);
    assert.equal(counts.rows[0].orders, 1000);
    assert.ok(counts.rows[0].items >= 1000);
    const cards = await c.query('select card_number, ssn, email, phone from customers');
    assert.ok(cards.rows.every((r) => luhnValid(r.card_number)));
    assert.ok(cards.rows.every((r) => /^\d{3}-\d{2}-\d{4}$/.test(r.ssn) && /@example\.(com|org|net)$/.test(r.email)));
    const tokens = await c.query("select token from api_keys where service = 'github'");
    assert.ok(tokens.rows.length > 0 && tokens.rows.every((r) => /^ghp_[A-Za-z0-9]{36}$/.test(r.token)));
    const tickets = await c.query("select count(*)::int as n from support_tickets where body ~ '@example\\.'");
    assert.ok(tickets.rows[0].n > 0, 'some tickets mention an email address');
  } finally {
    await c.end();
  }
});

test('a wrong password, user or database is refused like PostgreSQL would', async () => {
  await assert.rejects(client({ password: 'nope' }).connect(), (e: pg.DatabaseError) => e.code === '28P01');
  await assert.rejects(client({ user: 'mallory' }).connect(), (e: pg.DatabaseError) => e.code === '28P01');
  await assert.rejects(client({ database: 'other' }).connect(), (e: pg.DatabaseError) => e.code === '3D000');
});

test('the real psql client reads the seed with a password', async () => {
  const { stdout } = await execFileAsync(
    'psql',
    ['-X', '-A', '-t', '-c', 'select count(*) from customers', `host=${demo.host} port=${demo.port} dbname=${demo.database} user=${demo.user}`],
    { env: { ...process.env, PGPASSWORD: demo.password } },
  );
  assert.equal(stdout.trim(), '200');
});

test('serves sequential connections', async () => {
  for (let i = 0; i < 5; i++) {
    const c = client();
    await c.connect();
    assert.equal((await c.query('select $1::int as i', [i])).rows[0].i, i);
    await c.end();
  }
});

test('concurrent connections get their own answers and whole transactions', async () => {
  const a = client();
  const b = client();
  await Promise.all([a.connect(), b.connect()]);
  try {
    await a.query('create table if not exists counter_test (who text, n int)');
    const work = async (c: pg.Client, who: string): Promise<number[]> => {
      const seen: number[] = [];
      for (let i = 0; i < 20; i++) {
        // Extended protocol with parameters: interleaving would cross the unnamed statements.
        const r = await c.query('select $1::text as who, $2::int as i', [who, i]);
        assert.equal(r.rows[0].who, who);
        seen.push(r.rows[0].i);
      }
      await c.query('begin');
      await c.query('insert into counter_test values ($1, 1)', [who]);
      await new Promise((r) => setTimeout(r, 20));
      await c.query('insert into counter_test values ($1, 2)', [who]);
      await c.query('commit');
      return seen;
    };
    const [sa, sb] = await Promise.all([work(a, 'a'), work(b, 'b')]);
    assert.deepEqual(sa, [...Array(20).keys()]);
    assert.deepEqual(sb, [...Array(20).keys()]);
    const rows = await a.query('select who, count(*)::int as n from counter_test group by who order by who');
    assert.deepEqual(rows.rows, [{ who: 'a', n: 2 }, { who: 'b', n: 2 }]);
  } finally {
    await Promise.all([a.end(), b.end()]);
  }
});

test('a client that disconnects mid-transaction does not block the others', async () => {
  const a = client();
  a.on('error', () => undefined); // its connection is cut on purpose below
  await a.connect();
  await a.query('begin');
  await a.query("insert into counter_test values ('gone', 1)");
  a.connection.stream.destroy();
  const b = client();
  await b.connect();
  const r = await b.query("select count(*)::int as n from counter_test where who = 'gone'");
  assert.equal(r.rows[0].n, 0);
  await b.end();
});

test('with a data directory the seed persists and is not repeated', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'airlock-demo-test-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));
  const first = await startDemoDatabase({ dataDir, password: 'pw' });
  const c1 = new pg.Client({ host: first.host, port: first.port, user: first.user, password: 'pw', database: first.database });
  await c1.connect();
  await c1.query("update customers set full_name = 'Changed Name' where id = 1");
  await c1.end();
  await first.close();
  const second = await startDemoDatabase({ dataDir, password: 'pw' });
  const c2 = new pg.Client({ host: second.host, port: second.port, user: second.user, password: 'pw', database: second.database });
  await c2.connect();
  const r = await c2.query('select full_name, (select count(*)::int from customers) as n from customers where id = 1');
  await c2.end();
  await second.close();
  assert.deepEqual(r.rows[0], { full_name: 'Changed Name', n: 200 });
});

test('md5 and cleartext logins can be demanded instead of SCRAM', async () => {
  const [md5, clear] = await Promise.all([
    startDemoDatabase({ authMethod: 'md5', password: 'pw-md5' }),
    startDemoDatabase({ authMethod: 'password', password: 'pw-clear' }),
  ]);
  after(() => Promise.all([md5.close(), clear.close()]));
  for (const [db, pw] of [[md5, 'pw-md5'], [clear, 'pw-clear']] as const) {
    const ok = new pg.Client({ host: db.host, port: db.port, user: db.user, password: pw, database: db.database });
    await ok.connect();
    assert.equal((await ok.query('select count(*)::int as n from products')).rows[0].n, 40);
    await ok.end();
    const bad = new pg.Client({ host: db.host, port: db.port, user: db.user, password: 'wrong', database: db.database });
    await assert.rejects(bad.connect(), (e: pg.DatabaseError) => e.code === '28P01');
  }
});

test('PGlite runs one transaction at a time: a waiting session is told why at once and gets a clear error past the limit', async () => {
  const busy = await startDemoDatabase({ password: 'pw', waitLimitMs: 1500 });
  after(() => busy.close());
  const login = { host: busy.host, port: busy.port, user: busy.user, password: 'pw', database: busy.database };
  const holder = new pg.Client(login);
  await holder.connect();
  await holder.query('begin');
  await holder.query("update customers set full_name = 'Held' where id = 1");

  // Start-up does not wait for the open transaction: the login completes at once.
  const waiter = new pg.Client({ ...login, connectionTimeoutMillis: 3000 });
  waiter.on('error', () => undefined); // the FATAL below ends its connection
  await waiter.connect();
  const notices: string[] = [];
  waiter.on('notice', (n) => notices.push(n.message ?? ''));
  const started = Date.now();
  await assert.rejects(waiter.query('select count(*) from customers'), (e: pg.DatabaseError) => {
    assert.equal(e.code, '55P03');
    assert.match(e.message, /demo database is busy: another session has held a transaction open/);
    return true;
  });
  assert.ok(Date.now() - started >= 1400, 'the error comes at the wait limit, not before');
  assert.equal(notices.length, 1);
  assert.match(notices[0]!, /one transaction at a time/);

  // A session whose turn comes in time is served once the transaction ends, after the notice.
  const patient = new pg.Client(login);
  await patient.connect();
  const patientNotices: string[] = [];
  patient.on('notice', (n) => patientNotices.push(n.message ?? ''));
  const read = patient.query('select full_name from customers where id = 1');
  await new Promise((r) => setTimeout(r, 300));
  await holder.query('commit');
  assert.equal((await read).rows[0].full_name, 'Held');
  assert.equal(patientNotices.length, 1);
  await Promise.all([holder.end(), patient.end()]);
});
