// Turns measurements into the JSON record and the Markdown page docs/benchmarks.md.
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { checkBudgets } from './budgets.js';
import { SETTLE_MS, type ConnectOutcome } from './connect-latency.js';
import type { IdleResult } from './idle-sessions.js';
import type { LargeResultOutcome } from './large-result.js';
import type { PgbenchResult } from './pgbench.js';
import type { ProfileReport } from './profile-summary.js';

import type { NoisyNeighbourResult } from './noisy-neighbour.js';

export interface Measurement {
  scenario: string;
  peer: string;
  round: number;
  pgbench?: PgbenchResult;
  idle?: IdleResult;
  connect?: ConnectOutcome;
  largeResult?: LargeResultOutcome;
  /** The noisy-neighbour scenario's quiet run, p99 ratio and neighbour (its noisy run is `pgbench`). */
  noisyNeighbour?: Omit<NoisyNeighbourResult, 'noisy'>;
  /** Peer CPU time per statement, microseconds (absent for PostgreSQL itself). */
  cpuUsPerStatement?: number;
  error?: string;
}

export interface BenchReport {
  startedAt: string;
  quick: boolean;
  machine: Record<string, string | number>;
  peers: { name: string; peakRssMiB?: number; error?: string; note?: string }[];
  measurements: Measurement[];
}

function version(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args).toString().split('\n')[0]!.trim();
  } catch {
    return 'unknown';
  }
}

export const loadAverage = (): string => loadavg().map((l) => l.toFixed(2)).join(' / ');

export function machine(): Record<string, string | number> {
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    postgres: version('/usr/lib/postgresql/15/bin/postgres', ['--version']),
    pgbouncer: version('pgbouncer', ['--version']),
    pgbench: version('pgbench', ['--version']),
    // The machine may be shared: a load average above the core count means every peer got less CPU.
    'load average at start (1/5/15 min)': loadAverage(),
  };
}

const median = (xs: number[]): number => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : NaN;
};
const fmt = (n: number | undefined, digits = 1): string => (n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits));

export interface PeerSummary {
  tps: number;
  p50: number;
  p99: number;
  cpu: number;
  idle?: IdleResult;
  connect?: ConnectOutcome;
  largeResult?: LargeResultOutcome;
  error?: string;
}

/** Medians over rounds, per scenario and peer (probes keep their last successful round). */
export function summarise(measurements: Measurement[]): Map<string, Map<string, PeerSummary>> {
  const out = new Map<string, Map<string, PeerSummary>>();
  for (const m of measurements) {
    const byPeer = out.get(m.scenario) ?? new Map<string, PeerSummary>();
    out.set(m.scenario, byPeer);
    const runs = measurements.filter((x) => x.scenario === m.scenario && x.peer === m.peer);
    const ok = runs.filter((r) => !r.error);
    byPeer.set(m.peer, {
      tps: median(ok.map((r) => r.pgbench?.tps ?? NaN)),
      p50: median(ok.map((r) => r.pgbench?.p50Ms ?? NaN)),
      p99: median(ok.map((r) => r.pgbench?.p99Ms ?? NaN)),
      cpu: median(ok.map((r) => r.cpuUsPerStatement ?? NaN)),
      idle: medianIdle(ok),
      connect: ok.at(-1)?.connect,
      largeResult: ok.at(-1)?.largeResult,
      error: ok.length ? undefined : runs[0]?.error,
    });
  }
  return out;
}

/** The round whose growth per idle session is the median (each round runs on a fresh process). */
function medianIdle(runs: Measurement[]): IdleResult | undefined {
  const measured = runs.flatMap((r) => (r.idle?.rssKiBPerSession !== undefined ? [r.idle] : [])).sort((a, b) => a.rssKiBPerSession! - b.rssKiBPerSession!);
  return measured[(measured.length - 1) >> 1] ?? runs.at(-1)?.idle;
}

const cell = (text: string, max: number): string => text.replace(/\|/g, '/').replace(/\n/g, ' ').slice(0, max);

/** What `bench/ssh.ts` writes to bench/results/ssh.json. */
export interface SshBenchResult {
  startedAt: string;
  quick: boolean;
  rounds: number;
  note?: string;
  /** The gateway process's peak RSS over the run (absent in runs where it shared the bench's process). */
  gatewayPeakRssMiB?: number;
  rows: {
    scenario: string;
    unit: string;
    direct: number;
    gateway: number;
    ratio: number;
    /** The gateway's CPU time (user + system) per unit of work, median over rounds. */
    gatewayCpuMs?: { value: number; per: string };
  }[];
}

/** What `bench/shell-inspect.ts` writes to bench/results/shell-inspect.json (wall µs per command). */
export interface ShellInspectResult {
  startedAt: string;
  /** Commands in the usefulness corpus, and how many of them are compound or hold a here-document. */
  commands: number;
  compoundCommands: number;
  cold: { p50: number; p99: number };
  /** The process's CPU time over the same cold calls (on a loaded machine the wall time holds other processes' turns). */
  coldCpu?: { p50: number; p99: number };
  coldCompound: { p50: number; p99: number };
  /** The corpus plus 5,000 lines of the difference test's grammar (mostly odd, many opaque). */
  coldGenerated: { p50: number; p99: number };
  warm: { p50: number; p99: number };
  loadAverage: string;
}

function shellInspectMarkdown(s: ShellInspectResult): string[] {
  const us = (x: number) => (x < 10 ? x.toFixed(1) : x.toFixed(0));
  return [
    '## SSH command classification',
    '',
    `\`bench/shell-inspect.ts\` (run by \`npm run bench\`), ${s.startedAt}, load average ${s.loadAverage}: wall time per exec command`,
    'in one process, cold (a text not seen before: bash parse, judgement and rebuilt command) and warm (a repeated text: the',
    "classifier's cache). The budget is p99 ≤ 200 µs per exec command (issue 27).",
    '',
    '| commands | n | cold p50 µs | cold p99 µs | cold CPU p50 / p99 µs | warm p50 µs | warm p99 µs |',
    '|---|---:|---:|---:|---:|---:|---:|',
    `| usefulness corpus | ${s.commands} | ${us(s.cold.p50)} | ${us(s.cold.p99)} | ${s.coldCpu ? `${us(s.coldCpu.p50)} / ${us(s.coldCpu.p99)}` : '–'} | ${us(s.warm.p50)} | ${us(s.warm.p99)} |`,
    `| of which compound / here-document | ${s.compoundCommands} | ${us(s.coldCompound.p50)} | ${us(s.coldCompound.p99)} | – | – | – |`,
    `| corpus + 5,000 generated lines | ${s.commands + 5000} | ${us(s.coldGenerated.p50)} | ${us(s.coldGenerated.p99)} | – | – | – |`,
    '',
  ];
}

/** The SSH results as Markdown table lines (this page, and what `bench/ssh.ts` prints). */
export function sshTable(rows: SshBenchResult['rows']): string[] {
  return [
    '| scenario | unit | direct | via Airlock | Airlock / direct | gateway CPU |',
    '|---|---|---:|---:|---:|---:|',
    ...rows.map(
      (row) =>
        `| ${row.scenario} | ${row.unit} | ${row.direct.toFixed(1)} | ${row.gateway.toFixed(1)} | ${row.ratio.toFixed(2)} | ${row.gatewayCpuMs ? `${row.gatewayCpuMs.value.toFixed(2)} ms / ${row.gatewayCpuMs.per}` : '–'} |`,
    ),
  ];
}

function sshMarkdown(s: SshBenchResult): string[] {
  return [
    '## SSH',
    '',
    `\`bench/ssh.ts\` (run by \`npm run bench\` after the PostgreSQL scenarios), ${s.startedAt}, ${s.quick ? 'quick, ' : ''}median of ${s.rounds} round(s): the same`,
    `OpenSSH server reached directly and through the gateway. ${s.note ?? ''}`,
    '',
    ...sshTable(s.rows),
    '',
    ...(s.gatewayPeakRssMiB !== undefined ? [`Gateway peak RSS over the run: ${s.gatewayPeakRssMiB.toFixed(1)} MiB.`, ''] : []),
  ];
}

// --- http (issue 30) ---
/** What `bench/http.ts` writes to bench/results/http.json. */
export interface HttpBenchRow {
  peer: string;
  clients: number;
  p50Us: number;
  p99Us: number;
  rps: number;
  /** The gateway's CPU time (user + system) per request. */
  cpuUsPerRequest?: number;
  /** A 16 MiB JSON document streamed once per round (masked through Airlock). */
  jsonMiBPerSecond?: number;
}

export interface HttpBenchResult {
  startedAt: string;
  quick: boolean;
  rounds: number;
  loadAverage: { before: string; after: string };
  rows: HttpBenchRow[];
}

/** The HTTP results as Markdown lines: each peer, then what it adds over direct, and the budget check. */
export function httpTable(r: HttpBenchResult): string[] {
  const get = (peer: string, clients: number) => r.rows.find((x) => x.peer === peer && x.clients === clients);
  const lines = [
    '| clients | peer | p50 µs | p99 µs | added p50 µs | added p99 µs | req/s | × direct | × nginx-proxy | gateway CPU µs/req | large JSON MiB/s |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const row of r.rows) {
    const d = get('direct', row.clients)!;
    const n = get('nginx-proxy', row.clients);
    const added = row.peer === 'direct' ? '–' : (row.p50Us - d.p50Us).toFixed(0);
    const added99 = row.peer === 'direct' ? '–' : (row.p99Us - d.p99Us).toFixed(0);
    lines.push(
      `| ${row.clients} | ${row.peer} | ${row.p50Us.toFixed(0)} | ${row.p99Us.toFixed(0)} | ${added} | ${added99} | ${row.rps.toFixed(0)} | ${(row.rps / d.rps).toFixed(2)} | ${n ? (row.rps / n.rps).toFixed(2) : '–'} | ${row.cpuUsPerRequest?.toFixed(0) ?? '–'} | ${row.jsonMiBPerSecond?.toFixed(1) ?? '–'} |`,
    );
  }
  const a1 = get('airlock', 1);
  const d1 = get('direct', 1);
  const a16 = get('airlock', 16);
  const n16 = get('nginx-proxy', 16);
  if (a1 && d1 && a16 && n16) {
    const added = a1.p50Us - d1.p50Us;
    lines.push(
      '',
      '| budget (issue 30) | measured | met |',
      '|---|---:|---|',
      `| added p50, 1 client ≤ 150 µs | ${added.toFixed(0)} µs | ${added <= 150 ? 'yes' : 'no'} |`,
      `| requests/s at 16 clients ≥ 0.5 × nginx-proxy | ${(a16.rps / n16.rps).toFixed(2)} × | ${a16.rps >= 0.5 * n16.rps ? 'yes' : 'no'} |`,
    );
  }
  return lines;
}

function httpMarkdown(h: HttpBenchResult): string[] {
  return [
    '## HTTP',
    '',
    `\`bench/http.ts\` (run by \`npm run bench\` after the SSH scenarios), ${h.startedAt}, ${h.quick ? 'quick, ' : ''}median of ${h.rounds} round(s);`,
    `load average (1/5/15 min) ${h.loadAverage.before} before, ${h.loadAverage.after} after. nginx (one worker) serves a small`,
    'JSON document with synthetic PII: **direct**, through a second nginx server block reverse-proxying with keep-alive',
    '(**nginx-proxy**), through **node-proxy** (node:http + an undici pool and nothing else: the floor for a Node.js',
    'gateway) and through **airlock** (`airlock serve`, compiled, plain HTTP/1.1: token, canonical path, Cedar, audit',
    'before forwarding, JSON masking, outcome audit). Clients are undici keep-alive pools in the bench process; 1 client',
    'is sequential. "large JSON" streams a 16 MiB document once per round (masked through Airlock).',
    '',
    ...httpTable(h),
    '',
  ];
}
// --- end http ---

// --- kubernetes (issue 31) ---
/** What `bench/kubernetes.ts` writes to bench/results/kubernetes.json. */
export interface KubernetesBenchResult {
  startedAt: string;
  quick: boolean;
  scenario: string;
  peers: Record<'direct' | 'airlock', { p50Ms: number; p99Ms: number; requests: number; responseBytes?: number }>;
  addedP50Ms: number;
  addedP99Ms: number;
}

function kubernetesMarkdown(k: KubernetesBenchResult): string[] {
  const row = (name: string, p: { p50Ms: number; p99Ms: number; requests: number }) => `| ${name} | ${p.requests} | ${p.p50Ms.toFixed(2)} | ${p.p99Ms.toFixed(2)} |`;
  return [
    '## Kubernetes',
    '',
    `\`bench/kubernetes.ts\` (run by \`npm run bench\`), ${k.startedAt}${k.quick ? ', quick' : ''}: ${k.scenario}, through the Kubernetes`,
    "gateway and directly to the suite's API server, in interleaved rounds. The gateway runs under tsx in the bench's own",
    'process (token check, request attributes, Cedar, audit, every Table cell masked, credential scrubbing), so the client',
    'shares its CPU.',
    '',
    '| peer | requests | p50 ms | p99 ms |',
    '|---|---:|---:|---:|',
    row('direct', k.peers.direct),
    row('through Airlock', k.peers.airlock),
    `| added | | ${k.addedP50Ms.toFixed(2)} | ${k.addedP99Ms.toFixed(2)} |`,
    '',
  ];
}

export function markdown(r: BenchReport, profiles: ProfileReport[] = [], findings?: string, ssh?: SshBenchResult, shellInspect?: ShellInspectResult, http?: HttpBenchResult, kubernetes?: KubernetesBenchResult): string {
  const lines = [
    '# Benchmarks',
    '',
    'Produced by `npm run bench [-- --quick]` (`bench/main.ts`), the profile section by `tsx bench/profile.ts`, the findings',
    'from `bench/findings.md` (hand-written); `tsx bench/main.ts --report-only` re-renders this page without measuring. Do',
    'not edit this page by hand. Raw data: `bench/results/latest.json` and `bench/results/profile.json`.',
    '',
    'Peers: **postgres** (direct, the ceiling), **pgbouncer** (session pooling, the established peer), **node-relay**',
    '(bytes piped, nothing parsed: the floor for any Node.js proxy), **airlock-full** (connect grant, per-statement Cedar',
    'policy with forbids and an approval rule, audit; masking when the gateway supports it, see notes) and',
    '**airlock-pass-through** (one permit-all policy; audit stays on, it is not optional). Peers are measured in',
    'interleaved rounds; figures are medians over rounds. Latency percentiles come from pgbench per-transaction logs',
    "(`-l`); CPU is the peer process's user+system time per statement from `/proc/PID/stat`. Ratios compare with direct",
    'PostgreSQL. pgbench, the peers and PostgreSQL share the same cores, so a proxy competes with its own load.',
    'Airlock and the relay run the way `fargate-proxy/Dockerfile` runs the gateway: compiled by tsc into `dist/` when the',
    'run starts (`bench/build.ts`) and started with plain `node` under `NODE_ENV=production`. Runs before 2026-12-04 12:00',
    'UTC started them through tsx, which cost the masking path up to a tenth of its throughput (see the findings).',
    '',
    `Run: ${r.startedAt}${r.quick ? ' (`--quick`: 2 s runs, one round, fewer client counts and smaller results; numbers are indicative only)' : ''}`,
    '',
    '## Machine',
    '',
    ...Object.entries(r.machine).map(([k, v]) => `- ${k}: ${v}`),
    '',
  ];
  const summary = summarise(r.measurements);

  const budgets = checkBudgets(summary);
  lines.push('## Budget (issue 8)', '', '| item | peer | budget | measured | met |', '|---|---|---|---:|---|');
  for (const b of budgets) lines.push(`| ${b.item} | ${b.peer} | ${b.budget} | ${b.measured} | ${b.met === undefined ? 'not measured' : b.met ? 'yes' : '**no**'} |`);
  lines.push('');

  lines.push('## Throughput and latency', '', '| scenario | peer | tps | p50 ms | p99 ms | CPU µs/stmt | tps vs postgres | p99 vs postgres |', '|---|---|---:|---:|---:|---:|---:|---:|');
  const probes: Record<'connect' | 'large' | 'idle', string[]> = { connect: [], large: [], idle: [] };
  for (const [scenario, byPeer] of summary) {
    const base = byPeer.get('postgres');
    for (const [peer, s] of byPeer) {
      const failed = s.error ? ` failed: ${cell(s.error, 100)}` : '';
      if (scenario.startsWith('idle')) {
        probes.idle.push(`| ${peer} | ${s.idle?.opened ?? '–'} | ${s.idle?.failed ?? '–'} | ${fmt(s.idle?.openSeconds, 2)} | ${fmt(s.idle?.rssKiBPerSession)} |${failed}`);
      } else if (scenario.startsWith('connection')) {
        const added = s.connect && base?.connect ? s.connect.p50Ms - base.connect.p50Ms : undefined;
        probes.connect.push(`| ${peer} | ${s.connect?.count ?? '–'} | ${fmt(s.connect?.p50Ms, 2)} | ${fmt(s.connect?.p99Ms, 2)} | ${fmt(added, 2)} |${failed}`);
      } else if (scenario.startsWith('streamed')) {
        const l = s.largeResult;
        const rate = l ? l.bytes / 2 ** 20 / l.seconds : undefined;
        probes.large.push(`| ${scenario.replace('streamed result ', '')} | ${peer} | ${fmt(l?.seconds, 2)} | ${fmt(rate, 0)} | ${fmt(l?.peakRssMiB)}${l?.peakSinceStart ? ' (since start)' : ''} |${failed}`);
      } else if (s.error) {
        lines.push(`| ${scenario} | ${peer} | failed: ${cell(s.error, 100)} | | | | | |`);
      } else {
        lines.push(`| ${scenario} | ${peer} | ${fmt(s.tps, 0)} | ${fmt(s.p50, 3)} | ${fmt(s.p99, 2)} | ${fmt(s.cpu)} | ${base ? fmt(s.tps / base.tps, 2) : '–'} | ${base ? fmt(s.p99 / base.p99, 2) : '–'} |`);
      }
    }
  }
  lines.push(
    '',
    '## Connection set-up',
    '',
    'Sequential logins with the `pg` client (connect to first ReadyForQuery, then close). Direct is a SCRAM-SHA-256 login;',
    "through Airlock the token is the password and the gateway verifies it, checks the connect grant, reads the credential",
    `and does the SCRAM login upstream. Each login starts ${SETTLE_MS} ms after the last one closed: a proxy answers the`,
    "client's close before PostgreSQL's backend has exited, and back-to-back logins would queue behind that exit.",
    '',
    '| peer | logins | p50 ms | p99 ms | p50 added over direct, ms |',
    '|---|---:|---:|---:|---:|',
    ...probes.connect,
    '',
    '## Streamed large result',
    '',
    "One `SELECT g, 'customer ' || g, 'user' || g || '@example.com', repeat('x', 60) FROM generate_series(...)` (~120-byte rows, ~870,000 per 100 MiB; airlock-full masks every e-mail, pass-through masks nothing) whose rows the client counts and drops (pgbench and psql",
    "would buffer them). Peak RSS is the peer's VmHWM during that query alone (reset through `/proc/PID/clear_refs`).",
    '',
    '| result | peer | seconds | MiB/s | peak RSS MiB |',
    '|---|---|---:|---:|---:|',
    ...probes.large,
    '',
    '## Idle sessions',
    '',
    'Sessions opened 25 at a time with `pg`, one `select 1` each, then held, by a peer process started afresh for each round',
    '(one that had just streamed a large result gave memory back while sessions opened, and read a negative growth). The',
    'peer\'s RSS is sampled after every batch; the figure is the Theil–Sen slope (median of pairwise slopes) of RSS over',
    'sessions, which one garbage collection during the probe does not move, and the median over rounds.',
    '',
    '| peer | opened | failed | seconds to open | peer RSS KiB per session |',
    '|---|---:|---:|---:|---:|',
    ...probes.idle,
    '',
    '## Peak memory (VmHWM over the whole run)',
    '',
    '| peer | peak RSS MiB | note |',
    '|---|---:|---|',
  );
  for (const p of r.peers) lines.push(`| ${p.name} | ${fmt(p.peakRssMiB)} | ${p.error ? `not measured: ${cell(p.error, 160)}` : (p.note ?? '')} |`);
  lines.push('');
  if (ssh) lines.push(...sshMarkdown(ssh));
  if (shellInspect) lines.push(...shellInspectMarkdown(shellInspect));
  if (http) lines.push(...httpMarkdown(http));
  if (kubernetes) lines.push(...kubernetesMarkdown(kubernetes));
  if (profiles.length) lines.push(...profileMarkdown(profiles));
  if (findings) lines.push(findings.trim(), '');
  return lines.join('\n');
}

function profileMarkdown(reports: ProfileReport[]): string[] {
  const lines = [
    '## Where the gateway spends its time (CPU profiles)',
    '',
    'Produced by `tsx bench/profile.ts --mode full|pass-through`: Airlock under `node --cpu-prof`, a fresh gateway per load',
    '(profile files in a temporary directory, not kept). Self time per function, as a share of all main-thread samples',
    'taken while the load ran (`(idle)` is the event loop waiting for the network); a native function is named with its',
    'JavaScript caller. Areas group self time by where the code lives. Repository line numbers are function definitions.',
    "V8 samples wall-clock time, not CPU time: a write to a loopback socket that wakes pgbench or PostgreSQL on a shared",
    'core can be preempted inside the kernel, and the whole wait is charged to `writeBuffer`. Profiles of the compiled',
    'gateway (from 2026-12-04) show this plainly; those of the tsx-run gateway before it ran 3–6× slower under the profiler.',
    '',
  ];
  for (const p of reports) {
    for (const run of p.runs) {
      lines.push(`### ${p.peer}: ${run.load} — ${fmt(run.rate, 0)} ${run.unit}, ${fmt(run.busyPct, 0)} % busy (${p.startedAt})`, '');
      lines.push('| area | self % |', '|---|---:|', ...run.areas.filter((a) => a.pct >= 0.1).map((a) => `| ${a.area} | ${fmt(a.pct)} |`), '');
      lines.push('| function | where | self % |', '|---|---|---:|', ...run.top.map((t) => `| \`${t.fn}\` | ${t.where} | ${fmt(t.pct)} |`), '');
    }
  }
  return lines;
}
