// The session resolver with catalogs built by hand: what an unqualified name can resolve to, and
// when a trusted built-in name stops being trusted. (The oracle and gateway tests use a real server.)
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { loadSqlInspector } from '../../core/classify/index.js';
import { SqlSessionScope } from '../../core/classify/session-scope.js';
import { buildTargetCatalog, type CatalogRow } from '../../core/classify/target-catalog.js';
import { parseSearchPath } from '../../core/classify/search-path.js';

before(async () => {
  await loadSqlInspector();
});

const BASE: CatalogRow[] = [
  ['s', 'public', ''], ['s', 'pg_catalog', ''], ['s', 'sales', ''], ['s', 'alice', ''],
  ['r', 'public', 'customers'], ['r', 'sales', 'customers'], ['r', 'sales', 'orders'], ['r', 'alice', 'notes'],
  ['r', 'pg_catalog', 'pg_authid'], ['r', 'pg_catalog', 'pg_class'],
  ...['lower', 'upper', 'count', 'now'].map((n): CatalogRow => ['b', 'pg_catalog', n]),
];

function scope(extra: CatalogRow[] = [], searchPath = '"$user", public', mayRun?: (s: { class: string }) => boolean) {
  const catalog = buildTargetCatalog([...BASE, ...extra]);
  return new SqlSessionScope({ user: 'alice', searchPath, catalog: () => catalog, mayRun });
}

function facts(s: SqlSessionScope, sql: string) {
  const r = s.inspect(sql);
  assert.ok(r.ok, sql);
  return { class: r.class, tables: [...new Set(r.statements.flatMap((x) => x.tables))].sort(), reasons: r.statements.flatMap((x) => x.reasons) };
}

test('search_path text is read as PostgreSQL reads it', () => {
  assert.deepEqual(parseSearchPath('"$user", public'), ['$user', 'public']);
  assert.deepEqual(parseSearchPath('Sales,"Odd ""x""" , pg_catalog'), ['sales', 'Odd "x"', 'pg_catalog']);
  assert.deepEqual(parseSearchPath(''), []);
  assert.equal(parseSearchPath('a b'), undefined);
  assert.equal(parseSearchPath('"unterminated'), undefined);
});

test('unqualified names: pg_catalog first, then the path; "$user" is the user\'s schema', () => {
  const s = scope();
  assert.deepEqual(facts(s, 'SELECT * FROM customers, notes, pg_authid').tables, ['alice.notes', 'pg_catalog.pg_authid', 'public.customers']);
  assert.deepEqual(facts(s, 'SELECT * FROM sales.customers').tables, ['sales.customers']);
});

test('every path that may be in effect counts; a refused SET changes nothing', () => {
  const s = scope([], '"$user", public', (x) => x.class !== 'privileged');
  facts(s, 'SET search_path = sales, pg_catalog'); // privileged: refused, so not in effect
  assert.deepEqual(facts(s, 'SELECT * FROM customers').tables, ['public.customers']);
  facts(s, 'SET search_path = sales');
  assert.deepEqual(facts(s, 'SELECT * FROM customers').tables, ['public.customers', 'sales.customers']);
  // In one string, the SET applies to the statements after it.
  const t = scope();
  assert.deepEqual(facts(t, 'SET search_path = sales; UPDATE customers SET x = 1 WHERE id = 1').tables, ['public.customers', 'sales.customers']);
});

test('temporary tables come first; created tables join the candidates', () => {
  const s = scope();
  facts(s, 'CREATE TEMP TABLE customers (id int)');
  assert.deepEqual(facts(s, 'SELECT * FROM customers').tables, ['pg_temp.customers']);
  const t = scope();
  facts(t, 'CREATE TABLE alice.customers (id int)'); // alice is before public through "$user"
  assert.deepEqual(facts(t, 'SELECT * FROM customers').tables, ['alice.customers', 'public.customers']);
});

test('without a catalog every schema of the path is a candidate', () => {
  const s = new SqlSessionScope({ user: 'alice', searchPath: 'sales, public', catalog: () => undefined });
  assert.deepEqual(facts(s, 'SELECT * FROM orders').tables, ['pg_catalog.orders', 'public.orders', 'sales.orders']);
  assert.equal(facts(s, 'SELECT lower(x) FROM orders').class, 'opaque');
});

test('a trusted name is opaque when something outside pg_catalog could be chosen instead', () => {
  assert.equal(facts(scope(), "SELECT lower('A'), count(*) FROM customers").class, 'read');
  assert.equal(facts(scope([['f', 'public', 'lower']]), "SELECT lower('A')").class, 'opaque');
  assert.equal(facts(scope([['f', 'public', 'lower']]), "SELECT pg_catalog.lower('A')").class, 'read');
  assert.equal(facts(scope([['f', 'sales', 'lower']]), "SELECT lower('A')").class, 'read', 'sales is not on the path');
  assert.equal(facts(scope(), "SELECT casefold('A')").class, 'opaque', 'not a built-in of this server');
  assert.equal(facts(scope([['o', 'public', '=']]), 'SELECT 1 FROM customers WHERE id = 1').class, 'opaque');
  assert.equal(facts(scope([['t', 'public', 'checked']]), "SELECT 'x'::checked").class, 'opaque');
  assert.equal(facts(scope([['t', 'public', 'checked']]), "SELECT 'x'::sales.checked").class, 'read');
  assert.equal(facts(scope([['a', 'public', 'secret']]), 'SELECT c.secret FROM customers c').class, 'opaque');
  assert.equal(facts(scope([['a', 'public', 'secret']]), 'SELECT c.name FROM customers c').class, 'read');
  assert.equal(facts(scope([['c', '', '']]), 'SELECT 1::text').class, 'opaque', 'user casts between built-in types');
});

test('a function the session creates is a candidate at once, before the catalog is read again', () => {
  let refreshed = 0;
  const catalog = buildTargetCatalog(BASE);
  const s = new SqlSessionScope({ user: 'alice', searchPath: 'public', catalog: () => catalog, onCatalogChange: () => refreshed++ });
  assert.equal(facts(s, "SELECT upper('a')").class, 'read');
  facts(s, "CREATE FUNCTION upper(int) RETURNS text LANGUAGE sql AS 'SELECT 1::text'");
  assert.equal(facts(s, "SELECT upper('a')").class, 'opaque');
  assert.ok(refreshed > 0);
});

test('pg_input_is_valid / pg_input_error_info judge the type named in their string like a cast to it (PostgreSQL 16+)', () => {
  const s = scope([['b', 'pg_catalog', 'pg_input_is_valid'], ['b', 'pg_catalog', 'pg_input_error_info'], ['t', 'public', 'ticking']]);
  // A domain whose checks run code: opaque, however the name is spelled in the string.
  for (const sql of [`SELECT pg_input_is_valid('5', 'ticking')`, `SELECT pg_input_is_valid('5', 'public.ticking')`, `SELECT * FROM pg_input_error_info('5', ' "ticking"[] ')`]) {
    const f = facts(s, sql);
    assert.equal(f.class, 'opaque', sql);
    assert.match(f.reasons.join('\n'), /casts to .*ticking/, sql);
  }
  // A type the statement computes, or a string that is not just a type.
  assert.equal(facts(s, `SELECT pg_input_is_valid('5', t) FROM (SELECT 'ticking' AS t) x`).class, 'opaque');
  assert.equal(facts(s, `SELECT pg_input_is_valid('5', 'int; x')`).class, 'opaque');
  assert.equal(facts(s, `SELECT pg_input_is_valid('5', 'int AS x')`).class, 'opaque');
  // Built-in types stay readable.
  assert.equal(facts(s, `SELECT pg_input_is_valid('2024-13-01', 'date'), pg_input_is_valid('5', 'integer')`).class, 'read');
});

test('foreign key actions: DELETE reports ON DELETE targets, UPDATE ON UPDATE ones, TRUNCATE every referencing table; reads none', () => {
  const edge = (kind: string, child: string): CatalogRow => [kind, 'public', 'customers', JSON.stringify(['sales', child])];
  const s = scope([['r', 'sales', 'invoices'], ['r', 'sales', 'notes'], edge('k', 'orders'), edge('kd', 'orders'), edge('k', 'invoices'), edge('ku', 'invoices'), edge('k', 'notes')]);
  assert.deepEqual(facts(s, 'DELETE FROM public.customers WHERE id = 1').tables, ['public.customers', 'sales.orders']);
  assert.deepEqual(facts(s, 'UPDATE public.customers SET id = 2 WHERE id = 1').tables, ['public.customers', 'sales.invoices']);
  assert.deepEqual(facts(s, 'TRUNCATE public.customers CASCADE').tables, ['public.customers', 'sales.invoices', 'sales.notes', 'sales.orders']);
  assert.deepEqual(facts(s, 'SELECT * FROM public.customers').tables, ['public.customers']);
});
