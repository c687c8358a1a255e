// Worker thread entry: inspects one large statement per message, off the event loop, and masks
// the literals of each statement's text for the audit (the other slow step on a large text).
import { parentPort } from 'node:worker_threads';
import { inspectSql, loadSqlInspector } from '../../../../core/classify/index.js';
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

const port = parentPort!;
await Promise.all([loadSqlInspector(), prepareSqlLiteralMasking()]);
port.on('message', (task: InspectTask) => {
  let reply: WorkerReply<InspectResult>;
  try {
    const prepared = new Map(task.prepared);
    const inspection = inspectSql(task.sql, (name) => prepared.get(name));
    const maskedTexts = inspection.ok ? inspection.statements.map((s) => maskSqlLiterals(s.text)) : [];
    reply = { ok: true, value: { inspection, maskedTexts } };
  } catch (err) {
    reply = { ok: false, error: (err as Error).message };
  }
  port.postMessage(reply);
});
