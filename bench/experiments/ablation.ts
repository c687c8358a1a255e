// `tsx bench/experiments/ablation.ts`: interleaved `pgbench -S` rounds against PostgreSQL, the bare
// relay (and PgBouncer with PGB=1) and Airlock variants, reporting medians of tps, p50/p99 latency
// and the gateway's user/system CPU per transaction. An experiment, not part of `npm run bench`.
//
// Variants (V, comma-separated) are `<mode>` or `<mode>+<ablation>`: mode `full` or `pass-through`
// (bench/peers.ts); ablation `shm` puts the audit directory on tmpfs, and the others take effect
// only in a gateway built with bench/experiments/audit-ablation.patch applied (never on main: they
// switch the audit off):
//   noaudit  no statement or outcome events at all      nowrite  events rendered, never written
//   nofsync  no batched fsyncs                          journal  prototype of one journal per gateway
//                                                                (one write(2) per event-loop turn)
// Other knobs: C (client counts, default 1,16), M (pgbench -M mode, default simple), R (rounds, 3),
// S (seconds per round, 5); PIN=1 gives the proxies (relay, PgBouncer, Airlock) CPU 1 to themselves
// and PostgreSQL and pgbench CPU 0, as a proxy task with its own vCPU would have. Apply the patch in a
// separate worktree so the gateway compiled there (bench/build.ts) carries it.
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { startPostgres } from '../../test/support/pg-server.js';
import { buildGateway } from '../build.js';
import { airlock, direct, pgbouncer, relay, type AirlockMode, type Peer } from '../peers.js';
import { runPgbench } from '../pgbench.js';

const execFileAsync = promisify(execFile);
const CLOCK_TICKS = 100; // getconf CLK_TCK on Linux

/** User and system CPU seconds the process has used so far. */
function cpu(pid: number | undefined): [number, number] {
  if (pid === undefined) return [0, 0];
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [Number(f[11]) / CLOCK_TICKS, Number(f[12]) / CLOCK_TICKS];
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const clients = (process.env.C ?? '1,16').split(',');
const rounds = Number(process.env.R ?? 3);
const seconds = process.env.S ?? '5';
const mode = process.env.M ?? 'simple';

buildGateway(console.error);
const pin = process.env.PIN === '1';
// Children inherit the affinity: PostgreSQL (its backends too) and every pgbench run stay on CPU 0.
if (pin) execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
const pg = await startPostgres({ maxConnections: 100 });
const peers: Peer[] = [];
try {
  await execFileAsync('pgbench', ['-i', '-q', '-s', '1', '-h', pg.host, '-p', String(pg.port), '-U', pg.roles.app.user, pg.database], {
    env: { ...process.env, PGPASSWORD: pg.roles.app.password },
  });
  peers.push(direct(pg), await relay(pg));
  if (process.env.PGB) peers.push(await pgbouncer(pg, 100));
  for (const variant of (process.env.V ?? 'full').split(',')) {
    const [airlockMode, ablation] = variant.split('+') as [AirlockMode, string | undefined];
    // airlock() reads both when it creates the gateway's directory and spawns it.
    if (ablation === 'shm') process.env.TMPDIR = '/dev/shm';
    else if (ablation) process.env.AIRLOCK_X = ablation;
    try {
      peers.push({ ...(await airlock(pg, airlockMode)), name: variant });
    } finally {
      delete process.env.AIRLOCK_X;
      delete process.env.TMPDIR;
    }
  }
  if (pin) for (const p of peers) if (p.pid !== undefined) execFileSync('taskset', ['-a', '-p', '-c', '1', String(p.pid)], { stdio: 'ignore' });
  const load = (c: string): string[] => ['-S', '-M', mode, '-c', c, '-j', c === '1' ? '1' : '2', '-T', seconds];
  for (const p of peers) await runPgbench(p.endpoint, load('16')); // warm-up: JIT, caches, connections
  const results = new Map<string, number[][]>();
  for (let i = 0; i < rounds; i++) {
    for (const c of clients) {
      for (const p of peers) {
        const [u0, s0] = cpu(p.pid);
        const r = await runPgbench(p.endpoint, load(c));
        const [u1, s1] = cpu(p.pid);
        const key = `${c}|${p.name}`;
        if (!results.has(key)) results.set(key, []);
        results.get(key)!.push([r.tps, r.p50Ms * 1000, r.p99Ms * 1000, ((u1 - u0) / r.transactions) * 1e6, ((s1 - s0) / r.transactions) * 1e6]);
      }
    }
  }
  console.log(`pgbench -S -M ${mode}; medians of ${rounds} rounds of ${seconds} s${pin ? '; proxies on CPU 1, PostgreSQL and pgbench on CPU 0' : ''}`);
  console.log('clients|peer'.padEnd(32), ['tps', 'p50 µs', 'p99 µs', 'user µs', 'sys µs', 'CPU µs'].map((h) => h.padStart(8)).join(''), '  tps per round');
  for (const [key, rows] of results) {
    const cols = [0, 1, 2, 3, 4].map((j) => median(rows.map((r) => r[j]!)));
    cols.push(median(rows.map((r) => r[3]! + r[4]!)));
    console.log(key.padEnd(32), cols.map((v, j) => v.toFixed(j === 5 ? 1 : 0).padStart(8)).join(''), ' ', rows.map((r) => r[0]!.toFixed(0)).join(' '));
  }
} finally {
  for (const p of peers) await p.stop();
  await pg.stop();
}
