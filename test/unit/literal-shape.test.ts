// The shape cache lets statements that differ only in constants share one verdict. Two things must
// hold for that to be safe, and both are checked against PostgreSQL's own code here:
//   1. literalShape reads the text exactly as PostgreSQL's scanner does, or refuses (differential
//      test against libpg-query's scanner, the server's scan.l compiled to WASM);
//   2. a verdict reused by shape is the verdict a fresh parse gives (every corpus statement, with
//      its constants changed, classified cold and warm).
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { parse } from 'yaml';
import { loadModule, scanSync } from 'libpg-query';
import { literalShape, singleStatementText } from '../../core/classify/literal-shape.js';
import { clearSqlInspectionCache, inspectSql, loadSqlInspector } from '../../core/classify/index.js';

before(async () => {
  await loadModule();
  await loadSqlInspector();
});

const MARKS: Record<string, string> = { ICONST: '\0i', FCONST: '\0f', SCONST: '\0s' };

/** The shape PostgreSQL's scanner implies: each constant token's bytes replaced by its kind's marker. */
function scannerShape(sql: string): string {
  const bytes = Buffer.from(sql, 'utf8');
  const parts: string[] = [];
  let at = 0;
  for (const t of scanSync(sql).tokens) {
    const mark = MARKS[t.tokenName];
    if (!mark) continue;
    parts.push(bytes.subarray(at, t.start).toString('utf8'), mark);
    at = t.end;
  }
  parts.push(bytes.subarray(at).toString('utf8'));
  return parts.join('');
}

const COMMENT_TOKENS = new Set(['SQL_COMMENT', 'C_COMMENT']);

let compared = 0;

function assertAgreesWithScanner(sql: string): void {
  const shape = literalShape(sql);
  // The WASM scanner refuses empty input outright; a blank text has no constants either way.
  if (shape === undefined || /^[\s\u00a0]*$/.test(sql)) return;
  compared++;
  let tokens;
  try {
    tokens = scanSync(sql).tokens;
  } catch (err) {
    assert.fail(`literalShape accepted ${JSON.stringify(sql)} but PostgreSQL's scanner rejects it: ${(err as Error).message}`);
  }
  for (const t of tokens) {
    assert.ok(!COMMENT_TOKENS.has(t.tokenName), `shape given to text with a comment: ${JSON.stringify(sql)}`);
    // U&"…" names depend on the UESCAPE string that follows them: a shape must never cover one.
    assert.ok(!/^u&/i.test(t.text), `shape given to text with a Unicode escape ${t.text}: ${JSON.stringify(sql)}`);
    // Prefixed constants (U&'', B'', X'') come back as UNKNOWN with the quote inside.
    if (t.tokenName !== 'IDENT' && t.tokenName !== 'UIDENT' && !MARKS[t.tokenName]) {
      assert.ok(!t.text.includes("'"), `shape given to text with a prefixed constant ${t.text}: ${JSON.stringify(sql)}`);
    }
  }
  assert.equal(shape, scannerShape(sql), `shape differs from the scanner's for ${JSON.stringify(sql)}`);
}

test('examples: constants become markers of their token kind; anything unusual has no shape', () => {
  assert.equal(literalShape('SELECT abalance FROM pgbench_accounts WHERE aid = 12345;'), 'SELECT abalance FROM pgbench_accounts WHERE aid = \0i;');
  assert.equal(literalShape("UPDATE t SET a = 'it''s', b = 1.5, c = 99999999999 WHERE id = $1"), 'UPDATE t SET a = \0s, b = \0f, c = \0f WHERE id = $1');
  assert.equal(literalShape('SELECT 2147483647, 2147483648, 00000000001'), 'SELECT \0i, \0f, \0i');
  assert.equal(literalShape('SELECT t1.c2, "we""ird 5 \'x\'" FROM t1'), 'SELECT t1.c2, "we""ird 5 \'x\'" FROM t1');
  for (const outside of [
    "SELECT E'\\n'", "SELECT 'a\\'", "SELECT U&'d'", "SELECT B'01'", "SELECT X'ff'", "SELECT N'x'", 'SELECT 1e5', 'SELECT .5', 'SELECT 1.',
    'SELECT 0x1F', 'SELECT 1_000', 'SELECT 123abc', 'SELECT 1 -- c', 'SELECT /* c */ 1', 'SELECT $$x$$', 'SELECT $a$x$a$', "SELECT 'open",
    'SELECT "open', "SELECT 'a'\n'b'", `SELECT * FROM U&"secre!0074" UESCAPE '!'`, 'SELECT u&"x"', 'SELECT \0', 'SELECT $1x', 'SELECT \\x',
  ]) {
    assert.equal(literalShape(outside), undefined, JSON.stringify(outside));
  }
  assert.equal(singleStatementText('  SELECT 1 ;; \n'), 'SELECT 1');
});

// SQL-ish pieces chosen to hit every branch of the scanner and every way it must refuse.
const piece = fc.constantFrom(
  'SELECT', 'select', 'FROM', 'WHERE', 'a', 't1', 'é', 'x$y', '_', 'E', 'U&', 'B', 'X', 'N', 'date', 'e5',
  '0', '1', '42', '007', '2147483647', '2147483648', '99999999999', '1.5', '.5', '1.', '1e5', '0x1F', '1_000',
  "'x'", "''", "'it''s'", "'a\\'", "'", '"', '"q"', '"a""b"', '$1', '$12', '$', '$$', '$t$',
  '--', '/*', '*/', '-', '/', '*', '+', '=', '<>', '.', ',', ';', '(', ')', '::', '\\', '&', '?', '@',
  ' ', ' ', ' ', '\n', '\t', '\u00a0', '中',
);

test('differential: wherever literalShape gives a shape, it is the shape PostgreSQL\'s scanner implies', () => {
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 24 }), (pieces) => assertAgreesWithScanner(pieces.join(''))),
    { numRuns: 20_000 },
  );
  // Most generated texts must get a shape, or the comparison above proves little.
  assert.ok(compared > 5000, `only ${compared} of 20000 texts had a shape`);
});

test('differential over arbitrary text', () => {
  fc.assert(fc.property(fc.string({ maxLength: 60 }), (sql) => assertAgreesWithScanner(sql)), { numRuns: 5000 });
});

type Case = { sql: string };
const corpus = parse(readFileSync(new URL('../fixtures/classification-corpus.yaml', import.meta.url), 'utf8')) as Case[];

/** The statement with every integer constant changed (digits rotated) and every plain string emptied or filled. */
function withOtherConstants(sql: string, seed: number): string {
  return sql
    .replace(/(?<![\w.$])\d+(?![\w.])/g, (d) => String((Number(d) + seed) % 1000))
    .replace(/(?<![\w&'\\])'([^'\\\n]*)'(?!')/g, () => (seed % 2 ? "''" : "'shape-test'"));
}

test('a verdict reused by shape equals a fresh parse, for every corpus statement with other constants', () => {
  let reused = 0;
  for (const { sql } of corpus) {
    for (const seed of [1, 2, 7]) {
      const variant = withOtherConstants(sql, seed);
      clearSqlInspectionCache();
      const cold = inspectSql(variant);
      clearSqlInspectionCache();
      inspectSql(sql); // teaches the shape (when it is shareable)
      const warm = inspectSql(variant);
      assert.deepEqual(warm, cold, `${JSON.stringify(variant)} (after ${JSON.stringify(sql)})`);
      if (literalShape(sql) !== undefined && literalShape(sql) === literalShape(variant) && sql !== variant) reused++;
    }
  }
  assert.ok(reused > 100, `only ${reused} variants shared a shape: the test is not exercising reuse`);
});

test('constants that decide the verdict are never shared by shape', () => {
  clearSqlInspectionCache();
  assert.equal(inspectSql('EXPLAIN (ANALYZE 0) DELETE FROM t').ok, true);
  const analyse = inspectSql('EXPLAIN (ANALYZE 1) DELETE FROM t');
  assert.ok(analyse.ok && analyse.class === 'destructive', JSON.stringify(analyse));
  clearSqlInspectionCache();
  const harmless = inspectSql('SET statement_timeout = 1000');
  const other = inspectSql("SET role = 'postgres'");
  assert.ok(harmless.ok && other.ok);
  // The UESCAPE string decides which table a Unicode identifier names.
  clearSqlInspectionCache();
  const other_escape = inspectSql(`SELECT * FROM U&"secre!0074" UESCAPE '#'`);
  const secret = inspectSql(`SELECT * FROM U&"secre!0074" UESCAPE '!'`);
  assert.ok(other_escape.ok && secret.ok);
  assert.deepEqual(secret.statements[0]!.tables, ['secret']);
  assert.notDeepEqual(other_escape.statements[0]!.tables, ['secret']);
  const again = inspectSql('SET statement_timeout = 0');
  assert.ok(again.ok);
  assert.equal(again.statements[0]!.text, 'SET statement_timeout = 0');
});

test('a statement reused by shape carries its own text, not the first one\'s', () => {
  clearSqlInspectionCache();
  inspectSql("SELECT * FROM users WHERE email = 'a@example.com'");
  const second = inspectSql("SELECT * FROM users WHERE email = 'b@example.com';");
  assert.ok(second.ok);
  assert.equal(second.statements[0]!.text, "SELECT * FROM users WHERE email = 'b@example.com'");
  assert.deepEqual(second.statements[0]!.tables, ['users']);
  assert.ok(Object.isFrozen(second.statements[0]));
});
