import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { inspectSql, loadSqlInspector } from '../../core/classify/index.js';
import { STATEMENT_CLASSES, type Inspection } from '../../core/model.js';

before(async () => {
  await loadSqlInspector();
});

function assertWellFormed(result: Inspection): void {
  if (!result.ok) {
    assert.equal(typeof result.error, 'string');
    assert.ok(result.error.length > 0 && result.error.length < 400);
    return;
  }
  assert.ok(STATEMENT_CLASSES.includes(result.class));
  for (const s of result.statements) {
    assert.ok(STATEMENT_CLASSES.includes(s.class));
    assert.ok(STATEMENT_CLASSES.indexOf(s.class) <= STATEMENT_CLASSES.indexOf(result.class));
  }
}

test('random strings never throw and always give a well-formed verdict', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (sql) => {
      assertWellFormed(inspectSql(sql));
    }),
    { numRuns: 2000 },
  );
});

// Random text rarely parses; gluing SQL-ish tokens together reaches far more of the walker.
const token = fc.constantFrom(
  'SELECT', 'FROM', 'WHERE', 'DELETE', 'UPDATE', 'SET', 'INSERT', 'INTO', 'VALUES', 'DROP', 'TABLE', 'WITH',
  'AS', '(', ')', ',', ';', '*', '=', '1', "'x'", 't', 'u.v', 'pg_read_file(', 'count(', 'EXPLAIN', 'ANALYZE',
  'RETURNING', 'UNION', 'EXECUTE', 'PREPARE', 'p', 'DO', '$$x$$', '--', '/*', '*/', '\n', 'CREATE', 'FUNCTION',
  'LANGUAGE', 'sql', 'COPY', 'TO', 'PROGRAM', 'GRANT', 'ROLE', 'NULL', 'AND', 'OR', 'NOT', 'IN', 'EXISTS',
);

test('random token soups never throw and always give a well-formed verdict', () => {
  let parsed = 0;
  fc.assert(
    fc.property(fc.array(token, { maxLength: 30 }), (tokens) => {
      const result = inspectSql(tokens.join(' '));
      if (result.ok) parsed++;
      assertWellFormed(result);
    }),
    { numRuns: 3000 },
  );
  assert.ok(parsed > 0, 'some token soups should parse');
});

test('a parsed string is never less dangerous than any of its statements on their own', () => {
  const statements = fc.constantFrom(
    'SELECT 1', 'DELETE FROM t', 'UPDATE t SET a = 1 WHERE b = 2', 'DROP TABLE x', "SELECT pg_read_file('f')",
    'CREATE TABLE y (a int)', 'DO $$ BEGIN END $$', 'SET ROLE r', 'INSERT INTO t VALUES (1)', "SELECT 'DROP TABLE z'",
  );
  fc.assert(
    fc.property(fc.array(statements, { minLength: 1, maxLength: 5 }), (parts) => {
      const whole = inspectSql(parts.join('; '));
      assert.ok(whole.ok);
      for (const p of parts) {
        const alone = inspectSql(p);
        assert.ok(alone.ok);
        assert.ok(STATEMENT_CLASSES.indexOf(whole.class) >= STATEMENT_CLASSES.indexOf(alone.class));
      }
      assert.equal(whole.statements.length, parts.length);
    }),
    { numRuns: 300 },
  );
});
