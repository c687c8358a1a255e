// `npm run bench [-- --quick] [-- --peers postgres,pgbouncer,...] [-- --no-ssh] [-- --no-http] [-- --no-kubernetes] [-- --report-only] [-- --processes N]`: PostgreSQL direct, PgBouncer, a bare
// Node.js relay and Airlock (full and pass-through) under the same pgbench load, in interleaved
// rounds; writes bench/results/latest.json and docs/benchmarks.md. Never run as a test.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startPostgres } from '../test/support/pg-server.js';
import { holdIdleSessions } from './idle-sessions.js';
import { buildGateway } from './build.js';
import { airlock, direct, pgbouncer, relay, type Peer } from './peers.js';
import { spawnSync } from 'node:child_process';
import { runPgbench } from './pgbench.js';
import { cpuSeconds, peakRssMiB, treeCpuSeconds } from './proc-stats.js';
import { loadAverage, machine, markdown, type BenchReport, type HttpBenchResult, type KubernetesBenchResult, type Measurement, type ShellInspectResult, type SshBenchResult } from './report.js';
import { PGBENCH_SCALE, scenarios } from './scenarios.js';
import type { ProfileReport } from './profile-summary.js';
import { measureConnects } from './connect-latency.js';
import { streamLargeResult } from './large-result.js';
import { measureNoisyNeighbour } from './noisy-neighbour.js';

const execFileAsync = promisify(execFile);
const ROOT = new URL('..', import.meta.url).pathname;
const quick = process.argv.includes('--quick');
const peerFilter = process.argv.includes('--peers') ? process.argv[process.argv.indexOf('--peers') + 1]?.split(',') : undefined;
// `--processes N` (N > 1) adds the peer airlock-full-pN: airlock-full as N gateway processes on one listener.
const processes = process.argv.includes('--processes') ? Number(process.argv[process.argv.indexOf('--processes') + 1]) : 1;
const rounds = quick ? 1 : 3;
const ALL_PEERS = ['postgres', 'pgbouncer', 'node-relay', 'airlock-full', 'airlock-pass-through', `airlock-full-p${processes}`];

// Statements per pgbench transaction, to turn CPU per transaction into CPU per statement.
const statementsPerTx = (name: string): number => (name.startsWith('tpc-b') ? 7 : 1);

const log = (msg: string): void => console.error(`bench: ${msg}`);

function describe(m: Measurement): string {
  if (m.error) return `error ${m.error.split('\n')[0]}`;
  if (m.noisyNeighbour && m.pgbench) return `p99 quiet ${m.noisyNeighbour.quiet.p99Ms.toFixed(2)} ms, noisy ${m.pgbench.p99Ms.toFixed(2)} ms (×${m.noisyNeighbour.p99Ratio.toFixed(2)}); neighbour ${m.noisyNeighbour.neighbour.answered}/${m.noisyNeighbour.neighbour.sent} answered`;
  if (m.pgbench) return `${m.pgbench.tps.toFixed(0)} tps p50 ${m.pgbench.p50Ms.toFixed(3)} ms p99 ${m.pgbench.p99Ms.toFixed(2)} ms`;
  if (m.connect) return `login p50 ${m.connect.p50Ms.toFixed(2)} ms p99 ${m.connect.p99Ms.toFixed(2)} ms`;
  if (m.largeResult) return `${(m.largeResult.bytes / 2 ** 20).toFixed(0)} MiB in ${m.largeResult.seconds.toFixed(2)} s, peak RSS ${m.largeResult.peakRssMiB?.toFixed(1) ?? '–'} MiB`;
  return `${m.idle?.opened} idle sessions, ${m.idle?.rssKiBPerSession?.toFixed(1) ?? '–'} KiB each${m.idle?.firstError ? ` (first failure: ${m.idle.firstError})` : ''}`;
}

async function main(): Promise<void> {
  const startedAt = new Date().toISOString();
  const list = scenarios(quick);
  const maxIdle = Math.max(...list.map((s) => s.idleSessions ?? 0));
  buildGateway(log);
  // Room for one peer's idle sessions while another's are still closing (PgBouncer keeps servers ~2 s).
  log(`starting PostgreSQL (max_connections ${2 * maxIdle + 200})`);
  const pg = await startPostgres({ maxConnections: 2 * maxIdle + 200, settings: { shared_buffers: '256MB' } });
  const work = mkdtempSync(join(tmpdir(), 'airlock-bench-'));
  const peers: Peer[] = [];
  const report: BenchReport = { startedAt, quick, machine: machine(), peers: [], measurements: [] };
  try {
    log(`pgbench -i -s ${PGBENCH_SCALE}`);
    await execFileAsync('pgbench', ['-i', '-q', '-s', String(PGBENCH_SCALE), '-h', pg.host, '-p', String(pg.port), '-U', pg.roles.app.user, pg.database], {
      env: { ...process.env, PGPASSWORD: pg.roles.app.password },
    });

    const wanted = (name: string): boolean => !peerFilter || peerFilter.includes(name);
    const starters: [string, () => Promise<Peer>][] = [
      ['postgres', async () => direct(pg)],
      ['pgbouncer', () => pgbouncer(pg, maxIdle)],
      ['node-relay', () => relay(pg)],
      ['airlock-full', () => airlock(pg, 'full')],
      ['airlock-pass-through', () => airlock(pg, 'pass-through')],
      ...(processes > 1 ? [[`airlock-full-p${processes}`, () => airlock(pg, 'full', [], processes)]] : []),
    ].filter(([n]) => wanted(n as string)) as [string, () => Promise<Peer>][];
    // Started together: Airlock's start-up (WASM parser, Cedar, issuer keys) dominates otherwise.
    const started = await Promise.allSettled(starters.map(async ([name, start]) => ({ name, peer: await start() })));
    started.forEach((r, i) => {
      const name = starters[i]![0];
      if (r.status === 'fulfilled') {
        peers.push(r.value.peer);
        log(`peer ${name} up${r.value.peer.note ? ` (${r.value.peer.note})` : ''}`);
      } else {
        const error = (r.reason as Error).message;
        report.peers.push({ name, error });
        log(`peer ${name} unavailable: ${error.split('\n')[0]}`);
      }
    });
    // Untimed warm-up before the first measured window: a gateway's first sessions pay for JIT
    // tiers, the inspection workers' parser load and the target catalogue. In a 2 s quick window
    // that read as 583 µs CPU per statement at 1 client; warmed, 267 µs (bench/profile.ts warms likewise).
    for (const p of peers) {
      for (const mode of ['simple', 'extended', 'prepared']) await runPgbench(p.endpoint, ['-S', '-M', mode, '-c', '2', '-j', '2', '-T', '1']).catch(() => undefined);
    }
    /**
     * Memory per idle session is read off a fresh process: one that streamed a gigabyte a minute
     * earlier returns that memory to the system while sessions open, and its RSS falls (the earlier
     * runs read −42 to −89 KiB per session). Peak RSS of the whole run is read before the restart.
     */
    const restartPeers = async (): Promise<void> => {
      for (const p of peers) recordPeak(p);
      for (const [i, p] of peers.entries()) {
        await p.stop().catch(() => undefined);
        const start = starters.find(([n]) => n === p.name)![1];
        peers[i] = await start();
      }
    };
    const peaks = new Map<string, number>();
    const recordPeak = (p: Peer): void => {
      const peak = p.pid ? peakRssMiB(p.pid) : undefined;
      if (peak !== undefined) peaks.set(p.name, Math.max(peaks.get(p.name) ?? 0, peak));
    };

    for (const scenario of list) {
      for (let round = 0; round < rounds; round++) {
        if (scenario.idleSessions) {
          log(`restarting the peers for a fresh process (${scenario.name}, round ${round + 1})`);
          await restartPeers();
        }
        // Interleave: each round starts with a different peer so drift (caches, thermal) spreads evenly.
        const order = peers.map((_, i) => peers[(i + round) % peers.length]!);
        for (const peer of order) {
          const m: Measurement = { scenario: scenario.name, peer: peer.name, round };
          const cpuOf = (pid: number) => (peer.countChildren ? treeCpuSeconds(pid) : cpuSeconds(pid));
          const cpu0 = peer.pid ? cpuOf(peer.pid) : 0;
          try {
            if (scenario.idleSessions) {
              m.idle = await holdIdleSessions(peer.endpoint, scenario.idleSessions, peer.pid);
            } else if (scenario.connects) {
              m.connect = await measureConnects(peer.endpoint, scenario.connects);
            } else if (scenario.noisyNeighbourSeconds) {
              const stream = scenario.noisyNeighbourStreamBytes;
              const { noisy, ...rest } = await measureNoisyNeighbour(peer.endpoint, scenario.noisyNeighbourSeconds, stream ? 'stream' : 'statements', stream);
              m.pgbench = noisy;
              m.noisyNeighbour = rest;
            } else if (scenario.resultBytes) {
              m.largeResult = await streamLargeResult(peer.endpoint, scenario.resultBytes, peer.pid);
            } else {
              m.pgbench = await runPgbench(peer.endpoint, scenario.pgbench!);
              if (peer.pid && m.pgbench.transactions > 0) {
                m.cpuUsPerStatement = ((cpuOf(peer.pid) - cpu0) * 1e6) / (m.pgbench.transactions * statementsPerTx(scenario.name));
              }
            }
          } catch (err) {
            m.error = (err as Error).message;
          }
          report.measurements.push(m);
          log(`${scenario.name} / ${peer.name}: ${describe(m)}`);
        }
      }
    }
    for (const p of peers) {
      recordPeak(p);
      report.peers.push({ name: p.name, peakRssMiB: peaks.get(p.name), note: p.note });
    }
    report.peers.sort((a, b) => ALL_PEERS.indexOf(a.name) - ALL_PEERS.indexOf(b.name));
    report.machine['load average at end (1/5/15 min)'] = loadAverage();
  } finally {
    for (const p of peers) await p.stop().catch(() => undefined);
    await pg.stop();
    rmSync(work, { recursive: true, force: true });
  }
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench/results/latest.json'), JSON.stringify(report, null, 2) + '\n');
  // The SSH scenarios run in their own process (they start their own sshd and gateway).
  if (!peerFilter && !process.argv.includes('--no-ssh')) {
    log('ssh: scp download and exec burst, via the gateway and direct');
    const ssh = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/ssh.ts'), ...(quick ? ['--quick'] : [])], { stdio: 'inherit', cwd: ROOT });
    if (ssh.status !== 0) log(`ssh scenarios failed (exit ${ssh.status}); the page keeps the last SSH results`);
  }
  if (!peerFilter) {
    log('ssh: command classification cost (cold and warm, per exec command)');
    const shell = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/shell-inspect.ts')], { stdio: 'inherit', cwd: ROOT });
    if (shell.status !== 0) log(`shell classification bench failed (exit ${shell.status}); the page keeps the last results`);
  }
  // The HTTP scenarios too (they start their own nginx and gateway).
  if (!peerFilter && !process.argv.includes('--no-http')) {
    log('http: nginx direct, nginx as reverse proxy, and Airlock');
    const http = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/http.ts'), ...(quick ? ['--quick'] : [])], { stdio: 'inherit', cwd: ROOT });
    if (http.status !== 0) log(`http scenarios failed (exit ${http.status}); the page keeps the last HTTP results`);
  }
  // Kubernetes: kubectl get-style Table lists, via the gateway and direct (bench/kubernetes.ts, its own process).
  if (!peerFilter && !process.argv.includes('--no-kubernetes')) {
    log('kubernetes: kubectl get-style list requests, via the gateway and direct');
    const kube = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/kubernetes.ts'), ...(quick ? ['--quick'] : [])], { stdio: 'inherit', cwd: ROOT });
    if (kube.status !== 0) log(`kubernetes scenario failed (exit ${kube.status})`);
  }
  render(report);
  log('wrote bench/results/latest.json and docs/benchmarks.md');
}

/** Re-renders docs/benchmarks.md from the last results, the profile and the findings (no measuring). */
function render(report: BenchReport): void {
  const optional = (path: string): string | undefined => (existsSync(join(ROOT, path)) ? readFileSync(join(ROOT, path), 'utf8') : undefined);
  const profile = optional('bench/results/profile.json');
  const profiles = profile ? (JSON.parse(profile) as ProfileReport[] | ProfileReport) : [];
  const ssh = optional('bench/results/ssh.json');
  const shell = optional('bench/results/shell-inspect.json');
  const http = optional('bench/results/http.json');
  const kubernetes = optional('bench/results/kubernetes.json');
  writeFileSync(
    join(ROOT, 'docs/benchmarks.md'),
    markdown(report, Array.isArray(profiles) ? profiles : [profiles], optional('bench/findings.md'), ssh ? (JSON.parse(ssh) as SshBenchResult) : undefined, shell ? (JSON.parse(shell) as ShellInspectResult) : undefined, http ? (JSON.parse(http) as HttpBenchResult) : undefined, kubernetes ? (JSON.parse(kubernetes) as KubernetesBenchResult) : undefined),
  );
}

if (process.argv.includes('--report-only')) render(JSON.parse(readFileSync(join(ROOT, 'bench/results/latest.json'), 'utf8')) as BenchReport);
else await main();
