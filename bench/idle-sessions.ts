// Opens many sessions through a peer and holds them idle: what does each one cost the peer?
import pg from 'pg';
import type { Endpoint } from './pgbench.js';
import { rssMiB } from './proc-stats.js';

export interface IdleResult {
  opened: number;
  failed: number;
  openSeconds: number;
  /** Growth of the peer's resident memory per open session, in KiB. */
  rssKiBPerSession?: number;
}

export async function holdIdleSessions(ep: Endpoint, count: number, pid?: number): Promise<IdleResult> {
  // Let the previous scenario's garbage settle first, or a collection during this one hides the growth.
  await new Promise((r) => setTimeout(r, 1000));
  const before = pid ? rssMiB(pid) : undefined;
  const clients: pg.Client[] = [];
  let failed = 0;
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
    for (const r of opened) r.status === 'fulfilled' ? clients.push(r.value) : failed++;
  }
  const openSeconds = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 500));
  const after = pid ? rssMiB(pid) : undefined;
  await Promise.allSettled(clients.map((c) => c.end()));
  return {
    opened: clients.length,
    failed,
    openSeconds,
    rssKiBPerSession: before !== undefined && after !== undefined && clients.length ? ((after - before) * 1024) / clients.length : undefined,
  };
}
