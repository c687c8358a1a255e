// `tsx bench/experiments/processes.ts`: do two gateway processes (`processes: 2`) serve more than one?
// Interleaved `pgbench -S` rounds against the bare relay (the reference for drift), airlock-full as one
// process and airlock-full as P processes on one listener. Reports per run tps, p50/p99, the gateway's
// CPU per statement (supervisor and its processes together) and how busy the whole machine was
// (/proc/stat): a gateway that cannot gain because the cores are full shows a machine near 100 %.
// An experiment, not part of `npm run bench` (`npm run bench -- --processes 2` adds the peer there).
//
// Knobs: F (long: the long-literals script instead of -S), C (clients, 16), M (pgbench -M mode, simple), R (rounds, 4), S (seconds per run, 8),
// P (processes of the second Airlock peer, 2); PIN=pg keeps PostgreSQL and pgbench on CPU 0 (their
// affinity is inherited from this process), the gateways free on both CPUs: one process can use one
// core at a time, two may take the rest of CPU 0 besides CPU 1.
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { startPostgres } from '../../test/support/pg-server.js';
import { buildGateway } from '../build.js';
import { airlock, relay, type Peer } from '../peers.js';
import { runPgbench } from '../pgbench.js';
import { rssMiB, treeCpuSeconds } from '../proc-stats.js';
import { PGBENCH_SCALE } from '../scenarios.js';

const execFileAsync = promisify(execFile);
const clients = process.env.C ?? '16';
const mode = process.env.M ?? 'simple';
const rounds = Number(process.env.R ?? 4);
const seconds = process.env.S ?? '8';
const processes = Number(process.env.P ?? 2);
const pin = process.env.PIN === 'pg';
// F=long: the long-literals script (bench/scripts) instead of -S: more gateway work per statement.
const workload = process.env.F === 'long' ? ['-f', new URL('../scripts/long-literals.pgbench', import.meta.url).pathname, '-s', String(PGBENCH_SCALE)] : ['-S'];

/** Busy and total jiffies of all CPUs so far. */
function machineJiffies(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - f[4]!, total }; // idle, iowait
}

const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

buildGateway(console.error);
const pg = await startPostgres({ maxConnections: 200 });
const peers: Peer[] = [];
const rows: { peer: string; tps: number; p50: number; p99: number; cpuUs: number; busy: number }[] = [];
try {
  await execFileAsync('pgbench', ['-i', '-q', '-s', String(PGBENCH_SCALE), '-h', pg.host, '-p', String(pg.port), '-U', pg.roles.app.user, pg.database], {
    env: { ...process.env, PGPASSWORD: pg.roles.app.password },
  });
  peers.push(await relay(pg), await airlock(pg, 'full'), await airlock(pg, 'full', [], processes));
  if (pin) {
    // PostgreSQL's backends are forked by the postmaster and pgbench by this process: both inherit CPU 0.
    execFileSync('taskset', ['-a', '-p', '-c', '0', String(pg.pid)], { stdio: 'ignore' });
    execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
  }
  // Warm-up, not counted: each gateway process compiles its hot path on its first few thousand statements.
  for (const peer of peers) await runPgbench(peer.endpoint, [...workload, '-M', mode, '-c', clients, '-j', '2', '-T', '3']);
  console.error(`# F=${process.env.F ?? 'select-only'} C=${clients} M=${mode} R=${rounds} S=${seconds} P=${processes} PIN=${pin ? 'pg' : 'none'}; load average at start ${loadavg()}`);
  for (let round = 0; round < rounds; round++) {
    for (const peer of peers.map((_, i) => peers[(i + round) % peers.length]!)) {
      const cpu0 = treeCpuSeconds(peer.pid!);
      const m0 = machineJiffies();
      const r = await runPgbench(peer.endpoint, [...workload, '-M', mode, '-c', clients, '-j', '2', '-T', seconds]);
      const m1 = machineJiffies();
      const row = {
        peer: peer.name,
        tps: r.tps,
        p50: r.p50Ms * 1000,
        p99: r.p99Ms * 1000,
        cpuUs: ((treeCpuSeconds(peer.pid!) - cpu0) * 1e6) / r.transactions,
        busy: (100 * (m1.busy - m0.busy)) / (m1.total - m0.total),
      };
      rows.push(row);
      console.error(
        `round ${round + 1} ${row.peer.padEnd(16)} ${row.tps.toFixed(0).padStart(6)} tps  p50 ${row.p50.toFixed(0)} µs  p99 ${row.p99.toFixed(0)} µs  ` +
          `gateway CPU ${row.cpuUs.toFixed(1)} µs/stmt  machine busy ${row.busy.toFixed(0)} %  load ${loadavg()}`,
      );
    }
  }
  console.log(`\nmedians over ${rounds} rounds (C=${clients}, ${mode}, ${seconds} s, PIN=${pin ? 'pg' : 'none'}), load average at end ${loadavg()}:`);
  for (const p of peers) {
    const mine = rows.filter((r) => r.peer === p.name);
    console.log(
      `${p.name.padEnd(16)} ${median(mine.map((r) => r.tps)).toFixed(0).padStart(6)} tps  p50 ${median(mine.map((r) => r.p50)).toFixed(0)} µs  p99 ${median(mine.map((r) => r.p99)).toFixed(0)} µs  ` +
        `CPU ${median(mine.map((r) => r.cpuUs)).toFixed(1)} µs/stmt  machine busy ${median(mine.map((r) => r.busy)).toFixed(0)} %`,
    );
  }
  const ratios = [...Array(rounds).keys()].map((round) => {
    const [one, many] = [peers[1]!, peers[2]!].map((p) => rows.filter((r) => r.peer === p.name)[round]!.tps);
    return many! / one!;
  });
  console.log(`tps ratio ${peers[2]!.name} / ${peers[1]!.name} per round: ${ratios.map((x) => x.toFixed(2)).join(' ')}`);
  // What each process holds after the runs (the supervisor, then its gateway processes).
  for (const p of peers.slice(1)) {
    const children = readFileSync(`/proc/${p.pid}/task/${p.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    console.log(`RSS ${p.name}: ${[p.pid!, ...children].map((pid) => `${rssMiB(pid).toFixed(0)} MiB`).join(' + ')}`);
  }
} finally {
  for (const p of peers) await p.stop().catch(() => undefined);
  await pg.stop();
}
