// Masked values cannot be inferred through the gateway: a masked column in a condition or an
// ordering, or passed through a function, is refused for a principal who sees data masked, and
// allowed for one who may see it unmasked (view_unmasked). Real gateway, real PostgreSQL, real psql.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { queryAsApp, startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { OTHER_AGENT, psql, startTestGateway, type TestGateway } from '../support/gateway.js';

let server: RunningPostgres;
let gw: TestGateway;
let masked: string;
let unmasked: string;

const EMAIL = 'radia.perlman@example.com';

const direct = (sql: string) => queryAsApp(server, sql);

const run = (token: string, sql: string) => psql(gw.conninfo(), ['-At', '-c', sql], { token });

function refused(r: { code: number; stderr: string }, field: RegExp): void {
  assert.notEqual(r.code, 0, 'psql should fail');
  assert.match(r.stderr, /Airlock refused/);
  assert.match(r.stderr, field);
}

before(async () => {
  server = await startPostgres();
  await direct(`
    CREATE TABLE customers (id int PRIMARY KEY, name text, email text, ssn text, city text, secret_code text);
    INSERT INTO customers VALUES (1, 'Radia', '${EMAIL}', '123-45-6789', 'Boston', 'ZX-CODE-7781'), (2, 'Ada', 'ada@example.org', '987-65-4321', 'London', 'ZX-CODE-0042');
    CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total numeric);
    INSERT INTO orders VALUES (10, 1, 12.5), (11, 2, 7);
  `);
  // The shipped read-only example policy, plus view_unmasked for the second agent.
  const policy = `${readFileSync(new URL('../../policies/read-only.cedar', import.meta.url), 'utf8')}
@id("agent-2-unmasked")
permit (principal == Airlock::Agent::"${OTHER_AGENT.clientId}", action == Airlock::Action::"view_unmasked", resource);
`;
  gw = await startTestGateway(server, { policy, config: (raw) => (raw.masking = { columnRules: [{ pattern: 'ssn', style: 'redact' }, { pattern: 'secret_*', style: 'redact' }] }) });
  masked = await gw.token();
  unmasked = await gw.token(OTHER_AGENT);
});

after(async () => {
  await gw?.stop();
  await server?.stop();
});

test('an ordinary select of masked columns works, masked; the detector hit teaches the gateway that email is masked', async () => {
  const r = await run(masked, 'SELECT id, email, ssn, city FROM customers ORDER BY id');
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!r.stdout.includes(EMAIL) && !r.stdout.includes('123-45-6789'), r.stdout);
  assert.match(r.stdout, /^1\|.*\|.*\|Boston$/m);
  // Learned per target in the background (a lookup on a connection of its own): wait for it.
  let last = { code: 0, stdout: '', stderr: '' };
  let tries = 0;
  for (; tries < 50 && last.code === 0; tries++) {
    await new Promise((res) => setTimeout(res, 100));
    last = await run(masked, `SELECT count(*) FROM customers WHERE email LIKE 'radia%'`);
  }
  refused(last, /condition or ordering/);
  assert.match(last.stderr, /policy: ro-no-masked-predicates;/);
  console.log(`# email learned as masked after ${tries} tries of 100 ms`);
});

test('a masked column in WHERE, ORDER BY or JOIN is refused for a masked principal and allowed with view_unmasked', async () => {
  // The column rule names ssn: known from the start, no detector hit needed.
  refused(await run(masked, `SELECT id FROM customers WHERE ssn LIKE '123%'`), /condition or ordering/);
  refused(await run(masked, `SELECT id FROM customers ORDER BY ssn`), /condition or ordering/);
  refused(await run(masked, `SELECT c.id FROM customers c JOIN customers d ON c.ssn < d.ssn`), /condition or ordering/);
  // Renamed in a subquery or a CTE, or sorted by position, it is still the masked column.
  refused(await run(masked, `SELECT * FROM (SELECT id, ssn AS s FROM customers) x WHERE s > '5'`), /condition or ordering/);
  refused(await run(masked, `WITH c(a, b) AS (SELECT id, ssn FROM customers) SELECT a FROM c WHERE b LIKE '1%'`), /condition or ordering/);
  refused(await run(masked, `SELECT ssn FROM customers ORDER BY 1`), /condition or ordering/);

  const allowed = await run(unmasked, `SELECT count(*) FROM customers WHERE email LIKE 'radia%'`);
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.equal(allowed.stdout.trim(), '1');
  const sorted = await run(unmasked, `SELECT id FROM customers ORDER BY ssn`);
  assert.equal(sorted.code, 0, sorted.stderr);
});

test('a masked column passed through a function, operator or cast is refused; unmasked principals may', async () => {
  refused(await run(masked, `SELECT reverse(ssn) FROM customers`), /function, operator or cast/);
  refused(await run(masked, `SELECT translate(ssn, '0123456789', 'abcdefghij') FROM customers`), /function, operator or cast/);
  refused(await run(masked, `SELECT ssn::bytea FROM customers`), /function, operator or cast/);
  refused(await run(masked, `SELECT c::text FROM customers c`), /function, operator or cast/);
  refused(await run(masked, `SELECT row_to_json(c) FROM customers c`), /function, operator or cast/);
  refused(await run(masked, `SELECT * FROM (SELECT md5(ssn) AS h FROM customers) x`), /function, operator or cast/);
  refused(await run(masked, `SELECT reverse(email) FROM customers`), /function, operator or cast|condition or ordering/);
  const r = await run(unmasked, `SELECT reverse(ssn) FROM customers WHERE id = 1`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), '9876-54-321');
});

test('a rule-masked column returned under another name is still masked (RowDescription names its table column)', async () => {
  const r = await run(masked, `SELECT secret_code AS x, c.secret_code AS "Y", id FROM customers c ORDER BY id`);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /ZX-CODE/);
  assert.match(r.stdout, /\|1$/m);
  const plain = await run(unmasked, `SELECT secret_code AS x FROM customers WHERE id = 1`);
  assert.equal(plain.stdout.trim(), 'ZX-CODE-7781');
});

test('a rule-masked column that comes back tied to no table column (subquery value, ARRAY(), UNION arm, VALUES) is refused, never sent raw', async () => {
  for (const sql of [
    `SELECT (SELECT secret_code FROM customers WHERE id = 1) AS x`,
    `SELECT ARRAY(SELECT secret_code FROM customers) AS x`,
    `SELECT 'a' AS x UNION ALL SELECT secret_code FROM customers`,
    `SELECT secret_code AS x FROM customers UNION SELECT 'a'`,
    `SELECT t.x FROM customers c CROSS JOIN LATERAL (VALUES (c.secret_code)) AS t(x)`,
  ]) {
    const r = await run(masked, sql);
    assert.doesNotMatch(r.stdout, /ZX-CODE/, sql);
    refused(r, /function, operator or cast/);
  }
});

test('statements that use masked columns only as output, or other columns in conditions, stay allowed', async () => {
  for (const sql of [
    `SELECT id, name, email, ssn FROM customers WHERE id = 1`,
    `SELECT c.name, o.total FROM customers c JOIN orders o ON o.customer_id = c.id WHERE o.total > 5 ORDER BY c.name`,
    `SELECT city, count(*), count(ssn) FROM customers GROUP BY city ORDER BY city`,
    `SELECT * FROM (SELECT id, email FROM customers) x WHERE id = 2`,
    `SELECT relname FROM pg_catalog.pg_class WHERE relname LIKE 'cust%'`,
  ]) {
    const r = await run(masked, sql);
    assert.equal(r.code, 0, `${sql}: ${r.stderr}`);
    assert.ok(!r.stdout.includes(EMAIL) && !r.stdout.includes('123-45-6789'), `${sql}: ${r.stdout}`);
  }
});
