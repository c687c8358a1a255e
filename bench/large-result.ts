// Streams one large result through a peer without keeping it: how much memory does the peer need
// to pass it on? pgbench and psql would buffer the whole result in the client, so this uses a pg
// "submittable" that counts DataRows and drops them.
import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Endpoint } from './pgbench.js';
import { peakRssMiB, resetPeakRss } from './proc-stats.js';

export interface LargeResultOutcome {
  /** Bytes of cell data received (what the SELECT produced). */
  bytes: number;
  rows: number;
  seconds: number;
  /** Peer's VmHWM during this scenario alone when the kernel allowed resetting it, else since start. */
  peakRssMiB?: number;
  peakSinceStart?: boolean;
}

// ~120 bytes on the wire per row (DataRow framing included), so 100 MiB is ~900,000 rows — the shape of
// issue 3's masking scenario: an id, a name, an e-mail address the masking engine must rewrite, padding.
const ROW_BYTES = 120;

/** A SELECT producing about `bytes` of result in ~120-byte rows. */
export const largeResultSql = (bytes: number): string =>
  `SELECT g AS id, 'customer ' || g AS name, 'user' || g || '@example.com' AS email, repeat('x', 60) AS pad FROM generate_series(1, ${Math.max(1, Math.round(bytes / ROW_BYTES))}) g`;

/** A pg submittable that counts DataRows and drops them. */
export class DiscardingQuery extends EventEmitter {
  rows = 0;
  bytes = 0;
  callback?: (err: Error | null) => void;
  constructor(private readonly text: string) {
    super();
  }
  submit(connection: { query(text: string): void }): void {
    connection.query(this.text);
  }
  handleRowDescription(): void {}
  handleDataRow(msg: { fields: (string | null)[] }): void {
    this.rows++;
    for (const f of msg.fields) this.bytes += f?.length ?? 0;
  }
  handleCommandComplete(): void {}
  handleEmptyQuery(): void {}
  handleError(err: Error): void {
    this.callback?.(err);
    this.callback = undefined;
  }
  handleReadyForQuery(): void {
    this.callback?.(null);
    this.callback = undefined;
  }
}

export async function streamLargeResult(ep: Endpoint, bytes: number, pid?: number): Promise<LargeResultOutcome> {
  const reset = pid !== undefined && resetPeakRss(pid);
  const client = new pg.Client({ ...ep, ssl: false });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const q = new DiscardingQuery(largeResultSql(bytes));
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      q.callback = (err) => (err ? reject(err) : resolve());
      void client.query(q as unknown as pg.QueryConfig);
    });
    return {
      bytes: q.bytes,
      rows: q.rows,
      seconds: (performance.now() - t0) / 1000,
      peakRssMiB: pid !== undefined ? peakRssMiB(pid) : undefined,
      peakSinceStart: pid !== undefined && !reset ? true : undefined,
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}
