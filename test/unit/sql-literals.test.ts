// The audit masks SQL literals with the classifier's JavaScript lexer where it can read the text,
// and with PostgreSQL's own scanner (WASM) elsewhere. The two must never disagree: wherever the
// lexer answers, the masked text is exactly the scanner path's.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { literalConstants } from '../../core/classify/literal-shape.js';
import { maskSqlLiterals, prepareSqlLiteralMasking, scanAndMask } from '../../core/audit/sql-literals.js';

before(() => prepareSqlLiteralMasking());

let lexed = 0;
function assertSameAsScanner(sql: string): void {
  if (/^[\s\u00a0]*$/.test(sql)) return; // the scanner refuses blank text; nothing to mask either way
  if (!literalConstants(sql)) return;
  lexed++;
  assert.equal(maskSqlLiterals(sql), scanAndMask(sql), JSON.stringify(sql));
}

// Pieces of the statements agents and pgbench send, plus everything that must push the lexer out.
const piece = fc.oneof(
  fc.constantFrom(
    'SELECT', 'abalance', 'FROM', 'pgbench_accounts', 'WHERE', 'aid', 'UPDATE', 'SET', 'VALUES', 'é', 'x$y', 'E', 'U&', 'B', 'X', 'N', 'e5',
    '0', '42', '99999', '100000', '123456', '0000012', '2147483648', '4111111111111111', '1.5', '12345.678', '.5', '1.', '1e5', '0x1F', '1_000',
    "'x'", "''", "'it''s'", "'a\\'", "'", '"', '"q"', '"a""b"', '"123456"', '$1', '$123456', '$', '$$', '$t$',
    '--', '/*', '*/', '-', '/', '*', '+', '=', '.', ',', ';', '(', ')', '::', '\\', '&',
    ' ', ' ', ' ', '\n', '\t', '\u00a0', '中',
  ),
  fc.bigInt({ min: 0n, max: 10n ** 20n }).map(String),
  fc.string({ maxLength: 12 }).map((s) => `'${s.replace(/'/g, "''")}'`),
);

test('differential: wherever the JavaScript lexer answers, the masked text is the scanner path\'s', () => {
  fc.assert(fc.property(fc.array(piece, { maxLength: 24 }), (pieces) => assertSameAsScanner(pieces.join(''))), { numRuns: 20_000 });
  fc.assert(fc.property(fc.string({ maxLength: 60 }), (sql) => assertSameAsScanner(sql)), { numRuns: 3000 });
  // Most generated texts must be read by the lexer, or the comparison proves little.
  assert.ok(lexed > 5000, `only ${lexed} texts were read by the lexer`);
});

test('pgbench-style statements with long literals take the lexer path and are masked', () => {
  const cases: Array<[string, string]> = [
    ['SELECT abalance FROM pgbench_accounts WHERE aid = 123456;', 'SELECT abalance FROM pgbench_accounts WHERE aid = 0;'],
    ['UPDATE pgbench_accounts SET abalance = abalance + -4321 WHERE aid = 9876543;', 'UPDATE pgbench_accounts SET abalance = abalance + -4321 WHERE aid = 0;'],
    ["INSERT INTO h VALUES (1, 1234567.89, 'card 4111 1111 1111 1111', 12.5)", "INSERT INTO h VALUES (1, 0, '***', 12.5)"],
    ['SELECT "col123456" FROM t123456 WHERE $1 = 1', 'SELECT "col123456" FROM t123456 WHERE $1 = 1'],
  ];
  for (const [sql, masked] of cases) {
    assert.ok(literalConstants(sql), `the lexer must read ${sql}`);
    assert.equal(maskSqlLiterals(sql), masked);
    assert.equal(scanAndMask(sql), masked);
  }
  // Outside the lexer's subset the scanner still masks exactly.
  assert.equal(maskSqlLiterals("SELECT 1 /* pw=hunter2 */, E'x\\'y', 1234567e3"), "SELECT 1 /* *** */, '***', 0");
});
