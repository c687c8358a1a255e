// Masking on the wire: sensitive values never reach the client, everything else arrives
// byte-identical, and results still stream.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import pg from 'pg';
import { queryAsApp, startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { OTHER_AGENT, TEST_POLICY, psql, startTap, startTestGateway, type TestGateway } from '../support/gateway.js';
import { createLocalAuditReader } from '../../fargate-proxy/src/adapters/local/audit-file-reader.js';

let server: RunningPostgres;
let gw: TestGateway;
let token: string;

// Luhn-valid test card numbers, a valid-looking SSN, e-mails and a GitHub-style token.
const CARD = '4111 1111 1111 1111';
const SSN = '123-45-6789';
const EMAIL = 'jane.doe@example.com';
const GH_TOKEN = 'ghp_' + 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8';
const ORDER_ID = '1234567812345678'; // 16 digits, Luhn-invalid: must be kept

const direct = (sql: string, params: unknown[] = []) => queryAsApp(server, sql, params);

/** A pg client whose every received byte is kept, to search for leaks. */
async function tappedClient(t: string): Promise<{ client: pg.Client; received: () => Buffer; close: () => void }> {
  const tap = await startTap(gw.port);
  const client = new pg.Client({ ...gw.pgOptions(t), port: tap.port });
  await client.connect();
  return { client, received: tap.received, close: tap.close };
}

before(async () => {
  server = await startPostgres();
  await direct(`
    CREATE TABLE people (id int PRIMARY KEY, name text, email text UNIQUE, card text, ssn text, note text, order_no text, api_token text, amount numeric(10,2), secret_pin int);
    INSERT INTO people VALUES
      (1, 'Jane Doe', '${EMAIL}', '${CARD}', '${SSN}', 'call me at ${EMAIL} or pay with ${CARD}', '${ORDER_ID}', '${GH_TOKEN}', 12.50, 4321),
      (2, 'Plain Row', 'nobody-at-all', 'n/a', 'n/a', 'nothing sensitive here', '2024-05-01', 'v1.2.3', 99.99, 8765);
    CREATE TABLE bulk AS SELECT i AS id, 'row ' || i || ' user' || i || '@example.org' AS contact, md5(i::text) AS hash FROM generate_series(1, 30000) i;
  `);
  // The second agent may see unmasked data (action view_unmasked); everyone else sees masked values.
  const policy = `${TEST_POLICY}
@id("agent-2-unmasked")
permit (principal == Airlock::Agent::"${OTHER_AGENT.clientId}", action == Airlock::Action::"view_unmasked", resource);
`;
  gw = await startTestGateway(server, {
    policy,
    config: (raw) => (raw.masking = { columnRules: [{ pattern: 'ssn', style: 'partial' }, { pattern: '*_pin', style: 'redact' }] }),
  });
  token = await gw.token();
});

after(async () => {
  await gw?.stop();
  await server?.stop();
});

test('sensitive values never reach the client; clean values arrive unchanged; row count and types kept', async () => {
  const { client, received, close } = await tappedClient(token);
  try {
    const r = await client.query('SELECT * FROM people ORDER BY id');
    const d = await direct('SELECT * FROM people ORDER BY id');
    assert.equal(r.rowCount, 2);
    assert.deepEqual(
      r.fields.map((f) => [f.name, f.dataTypeID]),
      d.fields.map((f) => [f.name, f.dataTypeID]),
    );
    const row = r.rows[0];
    assert.match(row.email, /REDACTED/);
    assert.match(row.card, /REDACTED/);
    assert.ok(row.ssn.endsWith('6789') && !row.ssn.includes('123-45'), `ssn not partially masked: ${row.ssn}`);
    assert.doesNotMatch(row.note, /jane\.doe@example\.com|4111/);
    assert.match(row.note, /^call me at /);
    assert.equal(row.order_no, ORDER_ID, 'a Luhn-invalid order number must be kept');
    assert.match(row.api_token, /REDACTED/);
    assert.equal(row.amount, '12.50');
    // The column rule masks `ssn` whatever it holds; every other cell of the clean row is as stored.
    const { ssn: ruled, secret_pin: _pin, ...clean } = r.rows[1];
    const { ssn: stored, secret_pin: _stored, ...expected } = d.rows[1];
    assert.notEqual(ruled, stored);
    assert.deepEqual(clean, expected, 'cells with nothing sensitive arrive unchanged');
    // Extended protocol with binary-format-free parameters too.
    const e = await client.query({ text: 'SELECT email FROM people WHERE id = $1', values: [1] });
    assert.match(e.rows[0].email, /REDACTED/);
    // A unique violation's DETAIL would echo the value.
    await assert.rejects(client.query(`INSERT INTO people (id, email) VALUES (3, '${EMAIL}')`), (err: pg.DatabaseError) => {
      assert.equal(err.code, '23505');
      assert.ok(!`${err.message} ${err.detail}`.includes(EMAIL), `detail leaks: ${err.detail}`);
      return true;
    });
    // NOTIFY payloads.
    const got = new Promise<string>((resolve) => client.on('notification', (n) => resolve(n.payload ?? '')));
    await client.query('LISTEN leak');
    await client.query(`SELECT pg_notify('leak', 'card ${CARD}')`);
    assert.doesNotMatch(await got, /4111/);
  } finally {
    await client.end();
    close();
  }
  const bytes = received();
  for (const secret of [EMAIL, CARD, SSN, GH_TOKEN, CARD.replace(/ /g, '')]) assert.equal(bytes.indexOf(secret), -1, `${secret} reached the client`);
  assert.notEqual(bytes.indexOf(ORDER_ID), -1);
});

test('binary-format results: textual columns are masked, a ruled non-text column is nulled with a notice', async () => {
  const c = new pg.Client(gw.pgOptions(token));
  await c.connect();
  const notices: string[] = [];
  c.on('notice', (n) => notices.push(n.message ?? ''));
  try {
    // Parameters make pg use the extended protocol, where results can be requested in binary.
    const r = await c.query({ text: 'SELECT id, email, secret_pin, amount FROM people WHERE name <> $1 ORDER BY id', values: ['nobody'], binary: true } as pg.QueryConfig);
    assert.equal(r.rowCount, 2);
    assert.match(String(r.rows[0].email), /REDACTED/);
    assert.equal(r.rows[0].secret_pin, null, 'a masked int column must not pass through raw in binary');
    assert.equal(r.rows[1].secret_pin, null);
    assert.ok(notices.some((n) => /secret_pin.*binary format/.test(n)), `no notice: ${notices.join(' | ')}`);
    // In text format too: a placeholder would not parse as an int, so the value is NULL, never raw.
    notices.length = 0;
    const t = await c.query('SELECT secret_pin, email FROM people ORDER BY id');
    assert.equal(t.rows[0].secret_pin, null);
    assert.match(t.rows[0].email, /REDACTED/);
    assert.ok(notices.some((n) => /secret_pin.*cannot hold a masked value/.test(n)), `no notice: ${notices.join(' | ')}`);
  } finally {
    await c.end();
  }
});

test('COPY TO STDOUT through psql is masked', async () => {
  const r = await psql(gw.conninfo(), ['-c', 'COPY (SELECT email, note, order_no FROM people ORDER BY id) TO STDOUT'], { token });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!r.stdout.includes(EMAIL));
  assert.ok(r.stdout.includes(ORDER_ID));
  assert.equal(r.stdout.trim().split('\n').length, 2);
});

test('a principal permitted view_unmasked sees the data as stored', async () => {
  const c = new pg.Client(gw.pgOptions(await gw.token(OTHER_AGENT)));
  await c.connect();
  try {
    assert.deepEqual((await c.query('SELECT * FROM people ORDER BY id')).rows, (await direct('SELECT * FROM people ORDER BY id')).rows);
  } finally {
    await c.end();
  }
});

test('large masked results still stream, row count intact, and the audit counts what was masked', async () => {
  const c = new pg.Client(gw.pgOptions(token));
  await c.connect();
  try {
    const r = await c.query('SELECT * FROM bulk ORDER BY id');
    assert.equal(r.rowCount, 30000);
    assert.ok(r.rows.every((row) => !row.contact.includes('@example.org')));
    assert.equal(r.rows[29999].hash, (await direct('SELECT md5(30000::text) AS h')).rows[0].h);
  } finally {
    await c.end();
  }
  await new Promise((r) => setTimeout(r, 300));
  const reader = createLocalAuditReader(join(gw.dir, 'data', 'audit'));
  let masked = 0;
  for (const s of await reader.listSessions({})) {
    for (const e of (await reader.readSession(s.sessionId)) ?? []) {
      const rec = ('record' in e ? (e as { record: any }).record : e) as any;
      if (rec.type === 'statement.outcome' && rec.masking) masked = Math.max(masked, rec.masking.total);
      assert.ok(!JSON.stringify(rec).includes(EMAIL), 'a raw value reached the audit trail');
    }
  }
  assert.ok(masked >= 30000, `masking summary too small: ${masked}`);
});

test('rows larger than a socket read are neither lost nor altered when masking is on', async () => {
  const c = new pg.Client(gw.pgOptions(token));
  await c.connect();
  try {
    const sql = "SELECT repeat('x', 1024) || g AS pad, g FROM generate_series(1, 2000) g";
    const r = await c.query(sql);
    assert.equal(r.rowCount, 2000);
    assert.equal(r.rows.length, 2000);
    assert.deepEqual(r.rows, (await direct(sql)).rows);
    const big = await c.query("SELECT repeat('y', 300000) AS big, 'mail me: " + EMAIL + "' AS note");
    assert.equal(big.rows[0].big.length, 300000);
    assert.match(big.rows[0].note, /REDACTED/);
  } finally {
    await c.end();
  }
});

test('a client that stops reading still gets every row intact, masked or not (upstream reads reuse their buffer only once nothing refers to it)', async () => {
  // ~10 MiB: more than the loopback sockets buffer, so the gateway's writes to the client queue
  // while the upstream keeps sending; each row is distinct, so bytes overwritten too early show.
  const sql = 'SELECT id, contact, hash, repeat(hash, 8) AS wide FROM bulk ORDER BY id';
  const expected = (await direct(sql)).rows;
  for (const [who, masked] of [[token, true], [await gw.token(OTHER_AGENT), false]] as const) {
    const c = new pg.Client(gw.pgOptions(who));
    await c.connect();
    try {
      const stream = (c as unknown as { connection: { stream: import('node:net').Socket } }).connection.stream;
      const result = c.query(sql);
      stream.pause();
      await new Promise((r) => setTimeout(r, 400));
      stream.resume();
      const r = await result;
      assert.equal(r.rows.length, expected.length);
      r.rows.forEach((row, i) => {
        const want = expected[i];
        assert.equal(row.id, want.id);
        assert.equal(row.hash, want.hash);
        assert.equal(row.wide, want.wide);
        assert.equal(row.contact, masked ? `row ${want.id} [REDACTED:email]` : want.contact);
      });
    } finally {
      await c.end();
    }
  }
});
