// Opens many sessions through a peer and holds them idle: what does each one cost the peer?
import pg from 'pg';
import type { Endpoint } from './pgbench.js';
import { rssMiB } from './proc-stats.js';

export interface IdleResult {
  opened: number;
  failed: number;
  openSeconds: number;
  /** Growth of the peer's resident memory per open session, in KiB (robust slope over the batches). */
  rssKiBPerSession?: number;
  /** Why the first session that failed to open failed. */
  firstError?: string;
}

/**
 * Theil–Sen slope: the median of the slopes between every pair of samples. A garbage collection
 * during the probe drops the resident size once; a plain (last − first) difference then reads a
 * small or negative growth, while the median of pairwise slopes is not moved by one step.
 */
export function robustSlope(points: Array<[number, number]>): number | undefined {
  const slopes: number[] = [];
  for (let i = 0; i < points.length; i++)
    for (let j = i + 1; j < points.length; j++) {
      const dx = points[j]![0] - points[i]![0];
      if (dx !== 0) slopes.push((points[j]![1] - points[i]![1]) / dx);
    }
  if (slopes.length === 0) return undefined;
  slopes.sort((a, b) => a - b);
  const mid = slopes.length >> 1;
  return slopes.length % 2 ? slopes[mid] : (slopes[mid - 1]! + slopes[mid]!) / 2;
}

export async function holdIdleSessions(ep: Endpoint, count: number, pid?: number): Promise<IdleResult> {
  // Let the previous scenario's garbage settle first, or a collection during this one hides the growth.
  await new Promise((r) => setTimeout(r, 1000));
  const samples: Array<[number, number]> = [];
  const sample = (): void => {
    if (pid) samples.push([clients.length, rssMiB(pid)]);
  };
  const clients: pg.Client[] = [];
  let failed = 0;
  let firstError: string | undefined;
  sample();
  const t0 = performance.now();
  const batch = 25; // opening all at once measures the accept queue, not the session
  for (let i = 0; i < count; i += batch) {
    const opened = await Promise.allSettled(
      Array.from({ length: Math.min(batch, count - i) }, async () => {
        const c = new pg.Client({ ...ep, ssl: false });
        c.on('error', () => undefined);
        await c.connect();
        await c.query('select 1');
        return c;
      }),
    );
    for (const r of opened) {
      if (r.status === 'fulfilled') clients.push(r.value);
      else {
        failed++;
        firstError ??= (r.reason as Error).message;
      }
    }
    sample();
  }
  const openSeconds = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 500));
  sample();
  await Promise.allSettled(clients.map((c) => c.end()));
  const slope = robustSlope(samples);
  return { opened: clients.length, failed, openSeconds, rssKiBPerSession: slope === undefined ? undefined : slope * 1024, firstError };
}
