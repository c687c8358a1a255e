// `tsx bench/experiments/journal-turn-cost.ts [DIR]`: what the audit journal costs per statement when
// the caller acknowledges each statement with `appendNow` (one write(2) per statement: what the
// PostgreSQL relay does with ack `local`) against `append` awaited once per event-loop turn (all
// sessions' events of the turn in one write(2): what the relay does when the sink offers no
// `appendNow`). 16 sessions in turn, each statement with its outcome deferred, as at 16 clients.
// Reports the process's CPU per statement and outcome, medians of ROUNDS, the two modes interleaved.
// An experiment, not part of `npm run bench`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEventInput } from '../../core/audit/events.js';
import { createLocalAuditSink } from '../../fargate-proxy/src/adapters/local/audit-file-sink.js';

const SESSIONS = 16;
const STATEMENTS = Number(process.env.STATEMENTS ?? 32_000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const parent = process.argv[2] ?? tmpdir();

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
const outcome = (sessionId: string, n: number): AuditEventInput => ({ type: 'statement.outcome', sessionId, statementId: `q${n}`, status: 'ok', rows: 1, bytes: 74, durationMs: 0.1 });

async function run(mode: 'appendNow' | 'append per turn'): Promise<number> {
  const dir = mkdtempSync(join(parent, 'airlock-journal-'));
  const sink = await createLocalAuditSink({ dir, ack: 'local', responseCapBytes: 0 });
  const ids = Array.from({ length: SESSIONS }, (_, i) => `bench-${i}`);
  for (const id of ids)
    await sink.append({ type: 'session.start', sessionId: id, principal: { id: 'bench', groups: [], issuer: 'https://idp.bench' }, target: 'pg', targetKind: 'postgres', client: { address: '127.0.0.1', port: 1 }, protocol: 'postgres' });
  const waits: Promise<unknown>[] = [];
  const c0 = process.cpuUsage();
  for (let n = 0; n < STATEMENTS / SESSIONS; n++) {
    for (const id of ids) {
      if (n > 0) sink.appendDeferred(outcome(id, n - 1));
      if (mode === 'appendNow') sink.appendNow!(statement(id, n));
      else waits.push(sink.append(statement(id, n)));
    }
    if (waits.length > 0) {
      await Promise.all(waits);
      waits.length = 0;
    } else await new Promise((r) => setImmediate(r));
  }
  const cpu = process.cpuUsage(c0);
  await sink.close();
  rmSync(dir, { recursive: true, force: true });
  return (cpu.user + cpu.system) / STATEMENTS;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const now: number[] = [];
const turn: number[] = [];
await run('appendNow'); // warm-up
for (let r = 0; r < ROUNDS; r++) {
  now.push(await run('appendNow'));
  turn.push(await run('append per turn'));
}
console.log(`CPU per statement + outcome, medians of ${ROUNDS} rounds of ${STATEMENTS}: appendNow ${median(now).toFixed(2)} µs, append per turn ${median(turn).toFixed(2)} µs`);
console.log(`rounds: appendNow ${now.map((x) => x.toFixed(2)).join(' ')}; per turn ${turn.map((x) => x.toFixed(2)).join(' ')}`);
