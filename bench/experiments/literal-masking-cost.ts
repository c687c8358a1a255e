// `tsx bench/experiments/literal-masking-cost.ts`: CPU per call of the audit's SQL literal masking
// (core/audit/sql-literals.ts) on the statements pgbench sends at scale ≥ 10, where most account
// ids have six digits and so must be masked. Every call gets a different id, as pgbench's do, so
// the cache of recent texts does not answer. Reports the median of ROUNDS. An experiment, not part
// of `npm run bench`.
import { maskSqlLiterals, prepareSqlLiteralMasking } from '../../core/audit/sql-literals.js';

const CALLS = Number(process.env.CALLS ?? 100_000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);

const aid = (i: number): number => 100_000 + ((i * 7919) % 900_000);
const statements: Record<string, (i: number) => string> = {
  'pgbench -S select (6-digit aid)': (i) => `SELECT abalance FROM pgbench_accounts WHERE aid = ${aid(i)};`,
  'pgbench tpc-b update (6-digit aid)': (i) => `UPDATE pgbench_accounts SET abalance = abalance + ${(i % 10_000) - 5000} WHERE aid = ${aid(i)};`,
  'insert with long string and numeric literals': (i) =>
    `INSERT INTO pgbench_history (tid, bid, aid, delta, mtime, filler) VALUES (${i % 100}, 1, ${aid(i)}, 1234567.89, '2026-12-07 11:00:00', 'note ${i} for account ${aid(i)} ${'x'.repeat(64)}');`,
};

await prepareSqlLiteralMasking();
for (const [name, make] of Object.entries(statements)) {
  const perCall: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const offset = (round + 1) * CALLS;
    const c0 = process.cpuUsage();
    for (let i = 0; i < CALLS; i++) maskSqlLiterals(make(offset + i));
    const c = process.cpuUsage(c0);
    perCall.push((c.user + c.system) / CALLS);
  }
  perCall.sort((a, b) => a - b);
  console.log(`${name}: ${perCall[Math.floor(ROUNDS / 2)]!.toFixed(2)} µs CPU per call (median of ${ROUNDS}); e.g. ${maskSqlLiterals(make(3))}`);
}
