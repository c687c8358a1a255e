// The noisy-neighbour scenario (issue 28 item 3, issue 34 item 1): a 1-client `pgbench -S` while
// another session of the same peer sends a 2 MiB statement (SELECT … IN (≈230 000 constants))
// every 100 ms, against the same pgbench run with the neighbour quiet. The gateway passes when the
// noisy p99 stays within 1.5× of the quiet one. Part of `npm run bench`; on its own:
// `tsx bench/noisy-neighbour.ts [--seconds N] [--rounds N] [--peers postgres,airlock-full]`.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { runPgbench, type Endpoint, type PgbenchResult } from './pgbench.js';

export const NOISY_STATEMENT_BYTES = 2 * 1024 * 1024;
export const NOISY_INTERVAL_MS = 100;
/** The budget: noisy p99 within this factor of the quiet p99. */
export const NOISY_P99_BUDGET = 1.5;

export interface NoisyNeighbourResult {
  quiet: PgbenchResult;
  noisy: PgbenchResult;
  /** noisy p99 / quiet p99 */
  p99Ratio: number;
  neighbour: { sent: number; answered: number; refused: number; firstRefusal?: string; meanMs: number };
}

/** A statement of about `bytes` bytes whose constants differ with `seed` (no cache may answer it). */
export function noisyStatement(bytes: number, seed: number): string {
  const parts: string[] = [];
  let size = 70;
  for (let i = 0; size < bytes; i++) {
    const n = String(1_000_000 + ((i * 7919 + seed * 104_729) % 8_999_999));
    parts.push(n);
    size += n.length + 2;
  }
  // WHERE false: the server still parses and analyses the list, but reads no rows.
  return `SELECT count(*) FROM pgbench_accounts WHERE false AND aid IN (${parts.join(', ')})`;
}

/** Sends a large statement every NOISY_INTERVAL_MS (or as soon as the previous one is answered) until stopped. */
function startNeighbour(ep: Endpoint): { stop(): Promise<NoisyNeighbourResult['neighbour']> } {
  const stats: NoisyNeighbourResult['neighbour'] = { sent: 0, answered: 0, refused: 0, meanMs: 0 };
  let running = true;
  let totalMs = 0;
  const loop = (async () => {
    const c = new pg.Client({ host: ep.host, port: ep.port, database: ep.database, user: ep.user, password: ep.password });
    await c.connect();
    try {
      for (let seed = 1; running; seed++) {
        const sql = noisyStatement(NOISY_STATEMENT_BYTES, seed); // built before the clock starts
        const t0 = performance.now();
        stats.sent++;
        try {
          await c.query(sql);
          stats.answered++;
        } catch (err) {
          stats.refused++;
          stats.firstRefusal ??= (err as Error).message.slice(0, 200);
        }
        const ms = performance.now() - t0;
        totalMs += ms;
        if (ms < NOISY_INTERVAL_MS) await new Promise((r) => setTimeout(r, NOISY_INTERVAL_MS - ms));
      }
    } finally {
      await c.end().catch(() => undefined);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      stats.meanMs = stats.sent ? totalMs / stats.sent : 0;
      return stats;
    },
    // (stop may be called twice: after the run, and to read the figures)
  };
}

export async function measureNoisyNeighbour(ep: Endpoint, seconds: number): Promise<NoisyNeighbourResult> {
  const args = ['-S', '-M', 'simple', '-c', '1', '-j', '1', '-T', String(seconds)];
  const quiet = await runPgbench(ep, args);
  const neighbour = startNeighbour(ep);
  const noisy = await new Promise((r) => setTimeout(r, 300)) // the neighbour is connected and sending
    .then(() => runPgbench(ep, args))
    .finally(() => neighbour.stop());
  const stats = await neighbour.stop();
  return { quiet, noisy, p99Ratio: noisy.p99Ms / quiet.p99Ms, neighbour: stats };
}

async function main(): Promise<void> {
  const { startPostgres } = await import('../test/support/pg-server.js');
  const { buildGateway } = await import('./build.js');
  const { airlock, direct, relay } = await import('./peers.js');
  const { PGBENCH_SCALE } = await import('./scenarios.js');
  const arg = (name: string): string | undefined => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
  const seconds = Number(arg('--seconds') ?? 10);
  const rounds = Number(arg('--rounds') ?? 1);
  const wanted = (arg('--peers') ?? 'postgres,airlock-full').split(',');
  const log = (msg: string): void => console.error(`noisy-neighbour: ${msg}`);
  buildGateway(log);
  const server = await startPostgres({ maxConnections: 50 });
  try {
    await promisify(execFile)('pgbench', ['-i', '-q', '-s', String(PGBENCH_SCALE), '-h', server.host, '-p', String(server.port), '-U', server.roles.app.user, server.database], {
      env: { ...process.env, PGPASSWORD: server.roles.app.password },
    });
    const peers = [];
    if (wanted.includes('postgres')) peers.push(direct(server));
    if (wanted.includes('node-relay')) peers.push(await relay(server));
    if (wanted.includes('airlock-full')) peers.push(await airlock(server, 'full'));
    try {
      for (let round = 0; round < rounds; round++) {
        for (const peer of peers) {
          const r = await measureNoisyNeighbour(peer.endpoint, seconds);
          const n = r.neighbour;
          console.log(
            `${peer.name} round ${round + 1}: quiet p50 ${r.quiet.p50Ms.toFixed(3)} p99 ${r.quiet.p99Ms.toFixed(3)} ms (${r.quiet.tps.toFixed(0)} tps); ` +
              `noisy p50 ${r.noisy.p50Ms.toFixed(3)} p99 ${r.noisy.p99Ms.toFixed(3)} ms (${r.noisy.tps.toFixed(0)} tps); p99 ×${r.p99Ratio.toFixed(2)} ` +
              `(budget ×${NOISY_P99_BUDGET}); neighbour sent ${n.sent}, answered ${n.answered}, refused ${n.refused}, mean ${n.meanMs.toFixed(0)} ms${n.firstRefusal ? ` (${n.firstRefusal})` : ''}`,
          );
        }
      }
    } finally {
      for (const p of peers) await p.stop().catch(() => undefined);
    }
  } finally {
    await server.stop();
  }
}

if (process.argv[1]?.endsWith('noisy-neighbour.ts')) await main();
