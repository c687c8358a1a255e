// `tsx bench/experiments/spool-cost.ts [DIR]`: what the spool of a remote audit store (AWS mode)
// adds per statement. The local audit sink runs as the gateway drives it at 16 clients: 16 sessions
// in turn, each statement appended with `appendNow` and its outcome with `appendDeferred`, one
// event-loop turn per 16 statements. Once without a store (local mode, what `npm run bench`
// measures) and once with a store that acknowledges at once and keeps nothing, so only the spool's
// writes and bookkeeping differ. Reports the process's CPU per statement, medians of ROUNDS.
// Run it under `strace -f -c -e trace=write` to count the write(2) calls. An experiment, not part
// of `npm run bench`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEventInput } from '../../core/audit/events.js';
import { createLocalAuditSink } from '../../fargate-proxy/src/adapters/local/audit-file-sink.js';

const SESSIONS = 16;
const STATEMENTS = Number(process.env.STATEMENTS ?? 40_000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const parent = process.argv[2] ?? tmpdir();

// The shapes the relay appends for `pgbench -S` (core/audit/events.ts).
const statement = (sessionId: string, n: number): AuditEventInput => ({
  type: 'statement',
  sessionId,
  statementId: `q${n}`,
  text: `SELECT abalance FROM pgbench_accounts WHERE aid = ${(n * 7919) % 100_000};`,
  class: 'read',
  statementTypes: ['SelectStmt'],
  tables: ['pgbench_accounts'],
  functions: [],
  decision: { effect: 'allow', policyIds: ['bench-read-write'], policyVersion: 'v1', reason: 'permitted' },
});
const outcome = (sessionId: string, n: number): AuditEventInput => ({
  type: 'statement.outcome',
  sessionId,
  statementId: `q${n}`,
  status: 'ok',
  rows: 1,
  bytes: 74,
  durationMs: 0.1,
});

async function run(withStore: boolean): Promise<number> {
  const dir = mkdtempSync(join(parent, 'airlock-spool-'));
  const sink = await createLocalAuditSink({
    dir,
    ack: 'local',
    responseCapBytes: 64 * 1024,
    store: withStore ? { write: async () => {} } : undefined,
  });
  try {
    const ids = Array.from({ length: SESSIONS }, (_, i) => `bench-${process.pid}-${i}`);
    for (const id of ids) {
      await sink.append({ type: 'session.start', sessionId: id, principal: { id: 'bench-agent', groups: ['bench'], issuer: 'http://127.0.0.1', tokenId: 'jti' }, target: 'bench', targetKind: 'postgres', client: { address: '127.0.0.1', port: 40000 }, protocol: 'postgres' });
    }
    const cpu0 = process.cpuUsage();
    for (let n = 0; n < STATEMENTS; n++) {
      const id = ids[n % SESSIONS]!;
      sink.appendNow!(statement(id, n));
      sink.appendDeferred(outcome(id, n));
      if (n % SESSIONS === SESSIONS - 1) await new Promise((r) => setImmediate(r));
    }
    const used = process.cpuUsage(cpu0);
    return (used.user + used.system) / STATEMENTS;
  } finally {
    await sink.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const local: number[] = [];
const spooled: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  local.push(await run(false));
  spooled.push(await run(true));
}
console.log(`CPU per statement + outcome, medians of ${ROUNDS} rounds of ${STATEMENTS}: local ${median(local).toFixed(2)} µs, with a store's spool ${median(spooled).toFixed(2)} µs (+${(median(spooled) - median(local)).toFixed(2)})`);
console.log(`rounds: local ${local.map((x) => x.toFixed(2)).join(' ')}; spool ${spooled.map((x) => x.toFixed(2)).join(' ')}`);
