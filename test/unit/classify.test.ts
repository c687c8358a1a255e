import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { inspectSql, loadSqlInspector, clearSqlInspectionCache, type PreparedLookup } from '../../core/classify/index.js';
import { STATEMENT_CLASSES, type StatementInspection } from '../../core/model.js';

interface CorpusCase {
  sql: string;
  class: (typeof STATEMENT_CLASSES)[number] | 'error';
  tables?: string[];
  functions?: string[];
  dmlWithoutWhere?: boolean;
  statements?: number;
  note?: string;
}

const corpus = parse(
  readFileSync(new URL('../fixtures/classification-corpus.yaml', import.meta.url), 'utf8'),
) as CorpusCase[];

before(async () => {
  await loadSqlInspector();
});

const union = (statements: StatementInspection[], key: 'tables' | 'functions') =>
  [...new Set(statements.flatMap((s) => s[key]))].sort();

test('the corpus is large enough to mean something', () => {
  assert.ok(corpus.length >= 150, `only ${corpus.length} cases`);
  for (const cls of [...STATEMENT_CLASSES, 'error']) {
    assert.ok(corpus.some((c) => c.class === cls), `no case for ${cls}`);
  }
});

for (const [i, c] of corpus.entries()) {
  const label = `corpus #${i + 1} ${c.class}: ${JSON.stringify(c.sql).slice(0, 90)}`;
  test(label, () => {
    const result = inspectSql(c.sql);
    if (c.class === 'error') {
      assert.equal(result.ok, false, `expected a parse failure, got ${JSON.stringify(result)}`);
      return;
    }
    assert.ok(result.ok, `did not parse: ${result.ok ? '' : result.error}`);
    const why = JSON.stringify(result.statements.map((s) => s.reasons));
    assert.equal(result.class, c.class, `reasons: ${why}`);
    const worst = result.statements.reduce((m, s) => Math.max(m, STATEMENT_CLASSES.indexOf(s.class)), 0);
    assert.equal(STATEMENT_CLASSES.indexOf(result.class), worst, 'the string class is the worst statement class');
    if (c.statements !== undefined) assert.equal(result.statements.length, c.statements);
    if (c.tables) assert.deepEqual(union(result.statements, 'tables'), [...c.tables].sort());
    if (c.functions) assert.deepEqual(union(result.statements, 'functions'), [...c.functions].sort());
    if (c.dmlWithoutWhere !== undefined) {
      assert.equal(result.statements.some((s) => s.dmlWithoutWhere), c.dmlWithoutWhere);
    }
    if (result.class !== 'read') {
      assert.ok(result.statements.some((s) => s.reasons.length > 0), 'a non-read verdict says why');
    }
  });
}

test('each statement carries its own slice of the source, also after multi-byte text', () => {
  const sql = "SELECT 'héllo wörld' AS g;\n  /* then */ DELETE FROM café_orders WHERE id = 1 ; SELECT '✓'";
  const result = inspectSql(sql);
  assert.ok(result.ok);
  assert.deepEqual(
    result.statements.map((s) => s.text),
    // The parser starts a statement at its first token: a comment before it belongs to neither.
    ["SELECT 'héllo wörld' AS g", 'DELETE FROM café_orders WHERE id = 1', "SELECT '✓'"],
  );
  assert.deepEqual(result.statements.map((s) => s.class), ['read', 'write', 'read']);
  assert.deepEqual(result.statements[1]?.tables, ['café_orders']);
});

test('statement types list every statement node found, nested ones included', () => {
  const result = inspectSql('EXPLAIN ANALYZE WITH d AS (DELETE FROM t WHERE id = 1 RETURNING *) SELECT * FROM d');
  assert.ok(result.ok);
  assert.deepEqual(result.statements[0]?.statementTypes, ['ExplainStmt', 'SelectStmt', 'DeleteStmt']);
  assert.deepEqual(result.statements[0]?.tables, ['t']);
});

test('reasons name what was found', () => {
  const result = inspectSql('DELETE FROM orders');
  assert.ok(result.ok);
  assert.deepEqual(result.statements[0]?.reasons, ['DELETE without WHERE on orders']);
  const copy = inspectSql("COPY users TO PROGRAM 'x'");
  assert.ok(copy.ok);
  assert.deepEqual(copy.statements[0]?.reasons, ['COPY users TO PROGRAM']);
});

test('parse errors are useful but do not echo the statement', () => {
  const secret = "ALTER ROLE bob PASSWORD 'hunter2-very-secret";
  const result = inspectSql(secret);
  assert.equal(result.ok, false);
  assert.ok(!result.ok && /unterminated quoted string/.test(result.error), !result.ok ? result.error : '');
  assert.ok(!result.ok && !result.error.includes('hunter2'), 'the literal must not be echoed');

  const bad = inspectSql('SELECT * FORM users');
  assert.ok(!bad.ok && /syntax error at or near "FORM"/.test(bad.error), !bad.ok ? bad.error : '');
  assert.ok(!bad.ok && !bad.error.includes('SELECT * FORM'));
});

test('PREPARE exposes its body; DEALLOCATE exposes the name it forgets', () => {
  const result = inspectSql('PREPARE wipe(int) AS DELETE FROM orders WHERE id = $1; DEALLOCATE wipe; DEALLOCATE ALL');
  assert.ok(result.ok);
  const [prep, dealloc, all] = result.statements;
  assert.equal(prep?.prepare?.name, 'wipe');
  assert.equal(prep?.prepare?.body.class, 'write');
  assert.equal(prep?.prepare?.body.text, 'DELETE FROM orders WHERE id = $1');
  assert.equal(prep?.class, 'write');
  assert.equal(dealloc?.deallocate, 'wipe');
  assert.equal(all?.deallocate, '*');
});

test('EXECUTE takes the class of the prepared body from the session', () => {
  const prepared = inspectSql('PREPARE wipe AS DELETE FROM orders');
  assert.ok(prepared.ok && prepared.statements[0]?.prepare);
  const body = prepared.statements[0].prepare.body;
  const session = new Map<string, StatementInspection>([['wipe', body]]);
  const lookup: PreparedLookup = (name) => session.get(name);

  const run = inspectSql('EXECUTE wipe', lookup);
  assert.ok(run.ok);
  assert.equal(run.class, 'destructive');
  assert.deepEqual(run.statements[0]?.tables, ['orders']);

  // The same text means something else once the session forgets the name: no stale cache.
  session.delete('wipe');
  const again = inspectSql('EXECUTE wipe', lookup);
  assert.ok(again.ok);
  assert.equal(again.class, 'opaque');
  assert.match(again.statements[0]?.reasons[0] ?? '', /unknown prepared statement wipe/);
});

test('verdicts are cached and frozen; cached and fresh verdicts agree', () => {
  clearSqlInspectionCache();
  const sql = 'SELECT id FROM users WHERE id = 1';
  const first = inspectSql(sql);
  const second = inspectSql(sql);
  assert.equal(first, second, 'second call is served from the cache');
  assert.ok(Object.isFrozen(first));
  clearSqlInspectionCache();
  assert.deepEqual(inspectSql(sql), first);
});

test('pathologically deep SQL fails closed instead of throwing', () => {
  const deep = 'SELECT ' + '('.repeat(5000) + '1' + ')'.repeat(5000);
  const result = inspectSql(deep);
  assert.ok(result.ok === false || STATEMENT_CLASSES.includes(result.class));
});

test('settings that lift server-side limits are flagged; ordinary values are not', () => {
  const flag = (sql: string) => {
    const r = inspectSql(sql);
    assert.ok(r.ok);
    return r.statements[0]!.liftsServerLimits ?? false;
  };
  for (const sql of ["SET statement_timeout = 0", "SET lock_timeout TO '0'", "SET idle_in_transaction_session_timeout = '0ms'", "SET work_mem = '10GB'", "SET maintenance_work_mem = 4000000", "SET LOCAL work_mem = '2TB'", "SET hash_mem_multiplier = 100"]) {
    assert.equal(flag(sql), true, sql);
  }
  for (const sql of ["SET statement_timeout = '5s'", "SET work_mem = '64MB'", "SET lock_timeout = 1000", "RESET statement_timeout", "SELECT 1"]) {
    assert.equal(flag(sql), false, sql);
  }
});

test('catalogs holding server secrets are flagged, in any spelling; look-alikes elsewhere are not', () => {
  const flag = (sql: string) => {
    const r = inspectSql(sql);
    assert.ok(r.ok);
    return r.statements[0]!.serverSecrets ?? false;
  };
  for (const sql of ['SELECT * FROM pg_authid', 'SELECT * FROM PG_CATALOG.PG_SHADOW', 'SELECT * FROM pg_hba_file_rules', 'TABLE pg_file_settings', 'SELECT umoptions FROM pg_user_mappings']) {
    assert.equal(flag(sql), true, sql);
  }
  for (const sql of ['SELECT * FROM pg_roles', 'SELECT * FROM myschema.pg_authid', 'WITH pg_authid AS (SELECT 1) SELECT * FROM pg_authid']) {
    assert.equal(flag(sql), false, sql);
  }
});
