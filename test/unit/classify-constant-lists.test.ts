// Large statements are inspected with long constant lists cut to one constant: the verdict must be
// the one the whole text gets, and only plain lists after IN ( or ARRAY[ may be cut.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { inspectSql, loadSqlInspector } from '../../core/classify/index.js';
import { cutConstantLists, inspectCuttingLists } from '../../core/classify/constant-lists.js';

before(loadSqlInspector);

const list = (n: number, f: (i: number) => string = (i) => String(1000 + i)) => Array.from({ length: n }, (_, i) => f(i)).join(', ');

test('long IN and ARRAY lists are cut to their first constant; anything else is left whole', () => {
  assert.equal(cutConstantLists(`SELECT * FROM t WHERE id IN (${list(100)})`), 'SELECT * FROM t WHERE id IN (1000)');
  assert.equal(cutConstantLists(`SELECT * FROM t WHERE id = ANY (ARRAY[${list(100)}]) AND x NOT in (${list(70, (i) => `'s${i}'`)})`), `SELECT * FROM t WHERE id = ANY (ARRAY[1000]) AND x NOT in ('s0')`);
  for (const sql of [
    `SELECT * FROM t WHERE id IN (${list(10)})`, // short
    `SELECT greatest(${list(100)})`, // a call: its argument count matters
    `SELECT * FROM t WHERE id IN (${list(100)}, pg_sleep(1))`, // not only constants
    `SELECT * FROM t WHERE id IN (${list(100)})::int[]`.replace('::int[]', ' OR true'), // closed, then more: still cut
    `VALUES (${list(100)})`,
    `SELECT * FROM t WHERE id IN (${list(100)}) -- comment`, // outside the lexer's subset
    `SELECT * FROM t WHERE s IN (${list(100, (i) => `E'\\\\${i}'`)})`,
  ]) {
    const cut = cutConstantLists(sql);
    if (sql.includes(' OR true')) assert.ok(cut?.includes('IN (1000) OR true'), sql.slice(0, 60));
    else assert.equal(cut, undefined, sql.slice(0, 80));
  }
});

test('a statement inspected with its lists cut gets the verdict of the whole text, with its own text', () => {
  for (const sql of [
    `SELECT count(*) FROM pgbench_accounts WHERE false AND aid IN (${list(5000)})`,
    `DELETE FROM orders WHERE id IN (${list(300)})`,
    `UPDATE t SET x = lower(y) WHERE id = ANY (ARRAY[${list(300)}])`,
    `SELECT pg_read_file('/etc/passwd') FROM t WHERE id IN (${list(300)})`,
    `WITH t AS (SELECT 1 AS id) SELECT * FROM t, s.t2 WHERE t.id IN (${list(300)});`,
  ]) {
    const whole = inspectSql(sql);
    const quick = inspectCuttingLists(sql);
    assert.ok(whole.ok && quick.ok);
    const { text: wholeText, ...wholeFacts } = whole.statements[0]!;
    const { text: quickText, ...quickFacts } = quick.statements[0]!;
    assert.deepEqual(quickFacts, wholeFacts, sql.slice(0, 60));
    assert.equal(quickText, wholeText);
    assert.equal(quick.class, whole.class);
  }
  // Several statements: inspected in full, each with its own text.
  const two = `SELECT 1 FROM t WHERE id IN (${list(100)}); DROP TABLE t`;
  const r = inspectCuttingLists(two);
  assert.ok(r.ok && r.statements.length === 2 && r.class === 'destructive' && r.statements[0]!.text.length > 500);
});
