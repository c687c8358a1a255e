// Which masked columns a statement uses in conditions or transforms, as the session resolver
// reports them to policy (maskedColumnsInPredicates / maskedColumnsTransformed).
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { inspectSql, loadSqlInspector } from '../../core/classify/index.js';
import { SqlSessionScope } from '../../core/classify/session-scope.js';
import { buildTargetCatalog } from '../../core/classify/target-catalog.js';
import type { MaskedColumns } from '../../core/classify/masked-column-uses.js';

before(loadSqlInspector);

const catalog = buildTargetCatalog([
  ['s', 'public', ''], ['s', 'pg_catalog', ''], ['s', 'crm', ''],
  ['r', 'public', 'customers'], ['r', 'public', 'orders'], ['r', 'crm', 'contacts'],
]);

function maskedSet(version = 1): MaskedColumns {
  const byTable = new Map([['public.customers', new Set(['email', 'ssn'])], ['crm.contacts', new Set(['phone'])]]);
  return { version, columnsOf: (t) => byTable.get(t), ruleMasks: (c) => c === 'card_number' };
}

function facts(sql: string, masked: MaskedColumns | null = maskedSet()) {
  const scope = new SqlSessionScope({ user: 'app', searchPath: '"$user", public', catalog: () => catalog, ...(masked ? { masked: () => masked } : {}) });
  const r = scope.inspect(sql);
  assert.ok(r.ok, sql);
  const s = r.statements[0]!;
  return { p: s.maskedColumnsInPredicates ?? [], t: s.maskedColumnsTransformed ?? [] };
}

test('conditions and orderings on masked columns are reported canonically', () => {
  assert.deepEqual(facts(`SELECT id FROM customers WHERE email LIKE 'radia%'`), { p: ['public.customers.email'], t: [] });
  assert.deepEqual(facts(`SELECT id FROM Public.CUSTOMERS c ORDER BY c.ssn`), { p: ['public.customers.ssn'], t: [] });
  assert.deepEqual(facts(`SELECT o.id FROM orders o JOIN customers c ON c.email = o.note`).p, ['public.customers.email']);
  assert.deepEqual(facts(`SELECT id FROM customers c1 JOIN customers c2 USING (ssn)`).p, ['public.customers.ssn']);
  assert.deepEqual(facts(`SELECT email FROM customers ORDER BY 1`).p, ['public.customers.email']);
  assert.deepEqual(facts(`SELECT * FROM customers ORDER BY 3`).p, ['public.customers.email', 'public.customers.ssn']);
  assert.deepEqual(facts(`SELECT id, email FROM customers ORDER BY 1`).p, []);
  assert.deepEqual(facts(`SELECT email AS e FROM customers ORDER BY e`).p, ['public.customers.email']);
  assert.deepEqual(facts(`SELECT * FROM (SELECT email AS e FROM customers) s WHERE e > 'm'`).p, ['public.customers.email']);
  assert.deepEqual(facts(`WITH c(x) AS (SELECT ssn FROM customers) SELECT 1 FROM c WHERE x = '1'`).p, ['public.customers.ssn']);
  assert.deepEqual(facts(`SELECT id FROM orders WHERE customer_id IN (SELECT id FROM customers WHERE ssn ~ '^1')`).p, ['public.customers.ssn']);
  assert.deepEqual(facts(`SELECT id, rank() OVER (ORDER BY email) FROM customers`).p, ['public.customers.email']);
  assert.deepEqual(facts(`SELECT id FROM crm.contacts WHERE phone IS NOT NULL`).p, ['crm.contacts.phone']);
  // A column rule masks a name wherever it is, known table or not.
  assert.deepEqual(facts(`SELECT id FROM payments WHERE card_number LIKE '4%'`).p, ['card_number']);
});

test('functions, operators, casts, whole rows and copies of masked columns are transformations', () => {
  for (const sql of [
    `SELECT reverse(email) FROM customers`,
    `SELECT translate(email, 'abc', 'xyz') FROM customers`,
    `SELECT substr(email, 1, 3), left(email, 2) FROM customers`,
    `SELECT md5(email), encode(email::bytea, 'hex') FROM customers`,
    `SELECT length(email), position('@' in email) FROM customers`,
    `SELECT CAST(email AS bytea) FROM customers`,
    `SELECT email || '' FROM customers`,
    `SELECT (SELECT upper(email) FROM customers LIMIT 1)`,
    `INSERT INTO orders (note) SELECT email FROM customers`,
  ]) assert.ok(facts(sql).t.includes('public.customers.email'), sql);
  assert.deepEqual(facts(`SELECT c::text FROM customers c`).t, ['public.customers.email', 'public.customers.ssn']);
  assert.deepEqual(facts(`SELECT row_to_json(c) FROM customers c`).t, ['public.customers.email', 'public.customers.ssn']);
  assert.deepEqual(facts(`COPY customers TO STDOUT`).t, ['public.customers.email', 'public.customers.ssn']);
});

test('masked columns returned as themselves, and other columns anywhere, are not reported', () => {
  for (const sql of [
    `SELECT id, email, ssn FROM customers WHERE id = 3 ORDER BY id`,
    `SELECT * FROM customers`,
    `SELECT c.* FROM customers c JOIN orders o ON o.customer_id = c.id`,
    `SELECT * FROM (SELECT id, email FROM customers) s WHERE id > 2`,
    `SELECT count(email), count(*) FROM customers GROUP BY id`,
    `SELECT lower(name) FROM orders WHERE email = 'x'`, // orders has no masked email
  ]) assert.deepEqual(facts(sql), { p: [], t: [] }, sql);
});

test('a session that sees data unmasked reports nothing; a new masked column is seen at once', () => {
  assert.deepEqual(facts(`SELECT id FROM customers WHERE email LIKE 'a%'`, null), { p: [], t: [] });
  let masked: MaskedColumns = { version: 1, columnsOf: () => undefined, ruleMasks: () => false };
  const scope = new SqlSessionScope({ user: 'app', searchPath: 'public', catalog: () => catalog, masked: () => masked });
  const sql = `SELECT id FROM customers WHERE name LIKE 'a%'`;
  const first = scope.inspect(sql);
  assert.ok(first.ok && first.statements[0]!.maskedColumnsInPredicates === undefined);
  masked = { version: 2, columnsOf: (t) => (t === 'public.customers' ? new Set(['name']) : undefined), ruleMasks: () => false };
  const second = scope.inspect(sql);
  assert.ok(second.ok);
  assert.deepEqual(second.statements[0]!.maskedColumnsInPredicates, ['public.customers.name']);
  // The raw inspection (shared by every session) carries the uses, never the masked facts.
  const raw = inspectSql(sql);
  assert.ok(raw.ok && raw.statements[0]!.maskedColumnsInPredicates === undefined && raw.statements[0]!.columnUses);
});

test('alias chains resolve without blowing up', () => {
  // Each level renames the previous one's two outputs into both of its own: a walk, not a tree.
  let q = `SELECT email AS a0, email AS b0 FROM customers`;
  for (let i = 1; i <= 40; i++) q = `SELECT a${i - 1} AS a${i}, b${i - 1} AS b${i} FROM (${q}) s${i}`;
  const f = facts(`SELECT 1 FROM (${q}) top WHERE a40 = 'x'`);
  assert.deepEqual(f.p, ['public.customers.email']);
});
