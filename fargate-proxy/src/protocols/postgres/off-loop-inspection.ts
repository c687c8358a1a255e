// Large statements are inspected in a worker thread, so parsing one (seconds for a few MiB) never
// stalls the other sessions on the event loop; past a deadline the statement is refused. Statements
// over the configured maximum are refused without being parsed at all.
import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WorkerPool } from '../../workers/worker-pool.js';
import type { InspectResult, InspectTask } from './inspect-worker.js';

export interface StatementLimits {
  /** Largest statement (Query or Parse string, bytes) inspected at all; larger ones get 54000. */
  maxStatementBytes: number;
  /** Statements larger than this are inspected in the worker pool, smaller ones on the event loop. */
  offloadAboveBytes: number;
  /** How long a statement may wait for and take its off-loop inspection before it is refused (54001). */
  inspectDeadlineMs: number;
}

export const DEFAULT_STATEMENT_LIMITS: StatementLimits = {
  maxStatementBytes: 8 * 1024 * 1024,
  // Parsing costs about 1 ms per 2 KiB of a large IN list: 32 KiB is a few ms on the loop at most.
  offloadAboveBytes: 32 * 1024,
  inspectDeadlineMs: 10_000,
};

let pool: WorkerPool<InspectTask, InspectResult> | undefined;

function workerPool(): WorkerPool<InspectTask, InspectResult> {
  // The worker is this directory's inspect-worker, compiled (.js) or run from source (.ts).
  const ext = extname(fileURLToPath(import.meta.url));
  // One core stays with the event loop; the pool's queue is bounded by the sessions waiting on it.
  pool ??= new WorkerPool<InspectTask, InspectResult>(new URL(`./inspect-worker${ext}`, import.meta.url), {
    size: Math.max(1, Math.min(4, availableParallelism() - 1)),
    maxQueued: 64,
  });
  return pool;
}

/**
 * Inspects a statement string, given as its UTF-8 bytes, in the worker pool; rejects with
 * PoolDeadlineError or PoolBusyError. The bytes are copied once into memory the worker then owns.
 */
export function inspectOffLoop(utf8: Uint8Array, prepared: InspectTask['prepared'], deadlineMs: number): Promise<InspectResult> {
  const sql = new Uint8Array(utf8.byteLength);
  sql.set(utf8);
  return workerPool().run({ sql, prepared }, deadlineMs, [sql.buffer]);
}
