// The noisy-neighbour scenario (issue 28 item 3, issue 34 item 1): a 1-client `pgbench -S` while
// another session of the same peer sends a 2 MiB statement (SELECT … IN (≈230 000 constants))
// every 100 ms, or streams a large result (an e-mail a row, masked by the full policy) back to
// back, against the same pgbench run with the neighbour quiet. The gateway passes when the noisy
// p99 stays within 1.5× of the quiet one. Part of `npm run bench`; on its own:
// `tsx bench/noisy-neighbour.ts [--seconds N] [--rounds N] [--peers postgres,airlock-full]
//  [--neighbour statements,stream] [--stream-mib N | --quick]`.
import { execFile } from 'node:child_process';
import { loadavg } from 'node:os';
import { promisify } from 'node:util';
import pg from 'pg';
import { runPgbench, type Endpoint, type PgbenchResult } from './pgbench.js';
import { DiscardingQuery, largeResultSql } from './large-result.js';

export const NOISY_STATEMENT_BYTES = 2 * 1024 * 1024;
export const NOISY_INTERVAL_MS = 100;
/** The budget: noisy p99 within this factor of the quiet p99. */
export const NOISY_P99_BUDGET = 1.5;

export interface NoisyNeighbourResult {
  quiet: PgbenchResult;
  noisy: PgbenchResult;
  /** noisy p99 / quiet p99 */
  p99Ratio: number;
  neighbour: { sent: number; answered: number; refused: number; firstRefusal?: string; meanMs: number; kind?: NeighbourKind; streamedMiB?: number; mibPerSecond?: number };
}

/** What the neighbour does: 2 MiB statements every 100 ms, or a large masked result streamed back to back. */
export type NeighbourKind = 'statements' | 'stream';
/** The stream neighbour's result size: the issue's 1 GiB; a result is started again when one ends within the run. */
export const NOISY_STREAM_BYTES = 1024 * 1024 * 1024;

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

/** Streams `bytes` of result, discarded as it arrives, again and again until stopped (mid-result: the connection is dropped). */
function startStreamNeighbour(ep: Endpoint, bytes: number): { stop(): Promise<NoisyNeighbourResult['neighbour']> } {
  const stats: NoisyNeighbourResult['neighbour'] = { sent: 0, answered: 0, refused: 0, meanMs: 0, kind: 'stream', streamedMiB: 0 };
  let running = true;
  let totalMs = 0;
  let streamed = 0;
  const client = new pg.Client({ host: ep.host, port: ep.port, database: ep.database, user: ep.user, password: ep.password });
  client.on('error', () => undefined);
  const t0 = performance.now();
  const loop = (async () => {
    await client.connect();
    while (running) {
      const q = new DiscardingQuery(largeResultSql(bytes));
      const started = performance.now();
      stats.sent++;
      try {
        await new Promise<void>((resolve, reject) => {
          q.callback = (err) => (err ? reject(err) : resolve());
          void client.query(q as unknown as pg.QueryConfig);
        });
        stats.answered++;
      } catch (err) {
        if (running) {
          stats.refused++;
          stats.firstRefusal ??= (err as Error).message.slice(0, 200);
        }
      } finally {
        streamed += q.bytes;
        totalMs += performance.now() - started;
      }
    }
  })().catch(() => undefined);
  let stopped: Promise<NoisyNeighbourResult['neighbour']> | undefined;
  return {
    stop: () =>
      (stopped ??= (async () => {
        running = false;
        const seconds = (performance.now() - t0) / 1000;
        // The result still streaming is cut off: the neighbour only had to be busy while pgbench ran.
        (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
        await loop;
        await client.end().catch(() => undefined);
        stats.meanMs = stats.sent ? totalMs / stats.sent : 0;
        stats.streamedMiB = streamed / 1024 / 1024;
        stats.mibPerSecond = stats.streamedMiB / seconds;
        return stats;
      })()),
  };
}

export async function measureNoisyNeighbour(ep: Endpoint, seconds: number, kind: NeighbourKind = 'statements', streamBytes = NOISY_STREAM_BYTES): Promise<NoisyNeighbourResult> {
  const args = ['-S', '-M', 'simple', '-c', '1', '-j', '1', '-T', String(seconds)];
  const quiet = await runPgbench(ep, args);
  const neighbour = kind === 'stream' ? startStreamNeighbour(ep, streamBytes) : startNeighbour(ep);
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
  const kinds = (arg('--neighbour') ?? 'statements').split(',') as NeighbourKind[];
  // --quick: a 200 MiB result instead of 1 GiB (the neighbour streams again when one ends).
  const streamBytes = Number(arg('--stream-mib') ?? (process.argv.includes('--quick') ? 200 : NOISY_STREAM_BYTES / 1024 / 1024)) * 1024 * 1024;
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
        for (const kind of kinds) {
          for (const peer of peers) {
            const r = await measureNoisyNeighbour(peer.endpoint, seconds, kind, streamBytes);
            const n = r.neighbour;
            const what = kind === 'stream' ? `streamed ${n.streamedMiB!.toFixed(0)} MiB at ${n.mibPerSecond!.toFixed(1)} MiB/s` : `sent ${n.sent}, answered ${n.answered}, refused ${n.refused}, mean ${n.meanMs.toFixed(0)} ms`;
            console.log(
              `${peer.name} ${kind} round ${round + 1} (load ${loadavg()[0]!.toFixed(2)}): quiet p50 ${r.quiet.p50Ms.toFixed(3)} p99 ${r.quiet.p99Ms.toFixed(3)} ms (${r.quiet.tps.toFixed(0)} tps); ` +
                `noisy p50 ${r.noisy.p50Ms.toFixed(3)} p99 ${r.noisy.p99Ms.toFixed(3)} ms (${r.noisy.tps.toFixed(0)} tps); p99 ×${r.p99Ratio.toFixed(2)} ` +
                `(budget ×${NOISY_P99_BUDGET}); neighbour ${what}${n.firstRefusal ? ` (${n.firstRefusal})` : ''}`,
            );
          }
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
