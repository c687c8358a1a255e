// Worker thread entry: inspects one large statement per message, off the event loop, and masks
// the literals of each statement's text for the audit (the other slow step on a large text).
import { parentPort } from 'node:worker_threads';
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { loadSqlInspector } from '../../../../core/classify/index.js';
import { inspectCuttingLists } from '../../../../core/classify/constant-lists.js';
import { maskSqlLiterals, prepareSqlLiteralMasking } from '../../../../core/audit/sql-literals.js';
import type { Inspection, StatementInspection } from '../../../../core/model.js';
import type { WorkerReply } from '../../workers/worker-pool.js';

export interface InspectTask {
  sql: string;
  /** The session's SQL-level prepared statements, for EXECUTE: a snapshot, as the lookup cannot cross threads. */
  prepared: [string, StatementInspection][];
}

export interface InspectResult {
  inspection: Inspection;
  /** Each statement's text with its literals masked, in order (core/audit/sql-literals.ts). */
  maskedTexts: string[];
}

/**
 * The inspection threads yield the CPU to the event loop (every other session): on Linux this
 * thread's own nice value goes to the lowest priority. setpriority() takes a thread id there, which
 * /proc/thread-self names; lowering one's own priority needs no privilege. Elsewhere: unchanged.
 */
export const INSPECT_THREAD_NICE = 19;
try {
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  if (Number.isInteger(tid) && tid > 0) setPriority(tid, INSPECT_THREAD_NICE);
} catch {
  // No /proc (not Linux) or not permitted: the thread keeps the process's priority.
}

const port = parentPort!;
await Promise.all([loadSqlInspector(), prepareSqlLiteralMasking()]);
port.on('message', (task: InspectTask) => {
  let reply: WorkerReply<InspectResult>;
  try {
    const prepared = new Map(task.prepared);
    const inspection = inspectCuttingLists(task.sql, (name) => prepared.get(name));
    const maskedTexts = inspection.ok ? inspection.statements.map((s) => maskSqlLiterals(s.text)) : [];
    reply = { ok: true, value: { inspection, maskedTexts } };
  } catch (err) {
    reply = { ok: false, error: (err as Error).message };
  }
  port.postMessage(reply);
});
