// `tsx bench/profile.ts [--mode full|pass-through] [--seconds N] [--logins N] [--keep DIR]`: runs Airlock (compiled as deployed, bench/build.ts) under
// `node --cpu-prof`, drives it with `pgbench -S` at 1 and 16 clients and with sequential logins, and writes the self-time summary to
// bench/results/profile.json (docs/benchmarks.md includes it on the next `npm run bench`).
// Each load gets a fresh gateway so one profile holds one load; the profiles themselves
// stay in a temporary directory. Never run as a test.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startPostgres } from '../test/support/pg-server.js';
import { buildGateway } from './build.js';
import { airlock, type AirlockMode } from './peers.js';
import { runPgbench } from './pgbench.js';
import { summariseProfile, type ProfileReport, type ProfileRun } from './profile-summary.js';
import { measureConnects } from './connect-latency.js';
import { PGBENCH_SCALE } from './scenarios.js';
import type { Endpoint } from './pgbench.js';

const execFileAsync = promisify(execFile);
const ROOT = new URL('..', import.meta.url).pathname;
const arg = (name: string): string | undefined => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const mode = (arg('--mode') ?? 'full') as AirlockMode;
const seconds = Number(arg('--seconds') ?? 10);
const logins = Number(arg('--logins') ?? 100);
const keep = arg('--keep'); // a directory to keep the .cpuprofile files in (for Chrome DevTools)
const log = (msg: string): void => console.error(`profile: ${msg}`);

buildGateway(log);
const pg = await startPostgres({ maxConnections: 100 });
const profiles = keep ?? mkdtempSync(join(tmpdir(), 'airlock-cpuprof-'));
const report: ProfileReport = { startedAt: new Date().toISOString(), peer: `airlock-${mode}`, seconds, runs: [] };
try {
  await execFileAsync('pgbench', ['-i', '-q', '-s', String(PGBENCH_SCALE), '-h', pg.host, '-p', String(pg.port), '-U', pg.roles.app.user, pg.database], {
    env: { ...process.env, PGPASSWORD: pg.roles.app.password },
  });
  const pgbenchLoad = (clients: number, secs: number): string[] => ['-S', '-M', 'simple', '-c', String(clients), '-j', String(Math.min(clients, 2)), '-T', String(secs)];
  const loads: { load: string; unit: ProfileRun['unit']; warm: (ep: Endpoint) => Promise<unknown>; run: (ep: Endpoint) => Promise<number> }[] = [
    ...[1, 16].map((c) => ({
      load: `pgbench ${pgbenchLoad(c, seconds).join(' ')}`,
      unit: 'tps' as const,
      warm: (ep: Endpoint) => runPgbench(ep, pgbenchLoad(c, 1)),
      run: async (ep: Endpoint) => (await runPgbench(ep, pgbenchLoad(c, seconds))).tps,
    })),
    {
      load: `${logins} sequential logins (pg client)`,
      unit: 'logins/s',
      warm: (ep: Endpoint) => measureConnects(ep, 5),
      run: async (ep: Endpoint) => {
        const t0 = performance.now();
        await measureConnects(ep, logins);
        return logins / ((performance.now() - t0) / 1000);
      },
    },
  ];
  for (const [i, l] of loads.entries()) {
    const dir = join(profiles, `run${i}`);
    mkdirSync(dir, { recursive: true });
    const peer = await airlock(pg, mode, ['--cpu-prof', '--cpu-prof-dir', dir]);
    let window: [number, number];
    let rate: number;
    try {
      await l.warm(peer.endpoint); // JIT tiers and caches settle before the measured window
      const from = Date.now() - peer.spawnedAt!;
      rate = await l.run(peer.endpoint);
      window = [from + 300, Date.now() - peer.spawnedAt! - 300]; // margins: connection set-up and tear-down
    } finally {
      await peer.stop(); // the profile is written when the gateway exits
    }
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error(`no .cpuprofile in ${dir}: did the gateway exit cleanly?`);
    const run: ProfileRun = { load: l.load, rate, unit: l.unit, ...summariseProfile(join(dir, file), ...window) };
    report.runs.push(run);
    log(`${l.load}: ${rate.toFixed(0)} ${l.unit}, top ${run.top.slice(0, 3).map((t) => `${t.fn} ${t.pct.toFixed(1)}%`).join(', ')}`);
  }
} finally {
  await pg.stop();
  if (!keep) rmSync(profiles, { recursive: true, force: true });
}
// One report per Airlock configuration: profiling one keeps the other's last profile.
const out = join(ROOT, 'bench/results/profile.json');
const previous = existsSync(out) ? (JSON.parse(readFileSync(out, 'utf8')) as ProfileReport[] | ProfileReport) : [];
const reports = (Array.isArray(previous) ? previous : []).filter((r) => r.peer !== report.peer).concat(report);
mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
writeFileSync(out, JSON.stringify(reports, null, 2) + '\n');
log('wrote bench/results/profile.json');
