// `tsx bench/experiments/large-statement-cost.ts`: where a 2 MiB statement's time goes on the
// event loop (the noisy neighbour's statement: SELECT … IN (≈250 000 constants)). Each step timed
// on its own, median of ROUNDS. An experiment, not part of `npm run bench`.
import { createHash } from 'node:crypto';
import { inspectSql, loadSqlInspector } from '../../core/classify/index.js';
import { maskSqlLiterals, prepareSqlLiteralMasking } from '../../core/audit/sql-literals.js';
import { inspectCuttingLists } from '../../core/classify/constant-lists.js';
import { noisyStatement } from '../noisy-neighbour.js';

const ROUNDS = Number(process.env.ROUNDS ?? 5);
await loadSqlInspector();
await prepareSqlLiteralMasking();
const steps: Record<string, (sql: string, wire: Buffer) => unknown> = {
  'decode (utf8)': (_s, wire) => wire.toString('utf8'),
  'inspect (parse + classify)': (s) => inspectSql(s),
  'inspect with constant lists cut (worker path)': (s) => inspectCuttingLists(s),
  'mask literals (audit)': (s) => maskSqlLiterals(s),
  'JSON + sha256 of the text (audit record)': (s) => createHash('sha256').update(JSON.stringify({ text: s })).digest('hex'),
};
for (const [name, step] of Object.entries(steps)) {
  const ms: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const sql = noisyStatement(2 * 1024 * 1024, r + 1);
    const wire = Buffer.from(sql);
    const t0 = performance.now();
    step(sql, wire);
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  console.log(`${name}: ${ms[Math.floor(ROUNDS / 2)]!.toFixed(1)} ms (median of ${ROUNDS})`);
}
