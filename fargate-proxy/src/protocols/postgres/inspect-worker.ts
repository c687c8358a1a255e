// Worker thread entry: inspects one large statement per message, off the event loop, and masks
// the literals of each statement's text for the audit (the other slow step on a large text).
import { parentPort } from 'node:worker_threads';
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { loadSqlInspector } from '../../../../core/classify/index.js';
import { inspectCuttingLists } from '../../../../core/classify/constant-lists.js';
import { maskSqlLiterals, prepareSqlLiteralMasking } from '../../../../core/audit/sql-literals.js';
import { jsonString } from '../../../../core/audit/chain.js';
import { encodingChangeRefusal, type EncodingRefusal } from './client-encoding.js';
import { describeStatementBytes } from './uninspected.js';
import type { Inspection, StatementInspection } from '../../../../core/model.js';
import type { WorkerReply } from '../../workers/worker-pool.js';

export interface InspectTask {
  /**
   * The statement string's UTF-8 bytes, transferred and decoded here: a string would be copied
   * twice on the event loop (into the message, and out of the worker's answer).
   */
  sql: Uint8Array;
  /** The session's SQL-level prepared statements, for EXECUTE: a snapshot, as the lookup cannot cross threads. */
  prepared: [string, StatementInspection][];
}

export interface InspectResult {
  /**
   * The inspection; a statement whose text is a slice of the statement string comes back with an
   * empty text and its place in `textAt` (the event loop, which holds the string, slices it).
   */
  inspection: Inspection;
  /** Where each statement's text lies in the statement string, [start, end) in UTF-16 units. */
  textAt: ([number, number] | undefined)[];
  /** Each statement's text with its literals masked, in order (core/audit/sql-literals.ts); undefined when that is the text itself. */
  maskedTexts: (string | undefined)[];
  /** Each masked text's JSON rendering for the audit record (core/audit/chain.ts `jsonString`), when it is more than the text between quotes. */
  maskedJson: (string | undefined)[];
  /** Why the statements would change the client encoding, if they would (client-encoding.ts); parsed here, not on the loop. */
  encoding?: EncodingRefusal;
  /** For a statement that does not parse: what the audit records of it (size and digest), computed here. */
  uninspected?: string;
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
    reply = { ok: true, value: inspect(task) };
  } catch (err) {
    reply = { ok: false, error: (err as Error).message };
  }
  port.postMessage(reply);
});

function inspect(task: InspectTask): InspectResult {
  const bytes = Buffer.from(task.sql.buffer, task.sql.byteOffset, task.sql.byteLength);
  const sql = bytes.toString('utf8');
  const prepared = new Map(task.prepared);
  const inspection = inspectCuttingLists(sql, (name) => prepared.get(name));
  if (!inspection.ok) return { inspection, textAt: [], maskedTexts: [], maskedJson: [], uninspected: describeStatementBytes(bytes) };
  const masked = inspection.statements.map((s) => maskSqlLiterals(s.text));
  const maskedJson = masked.map((m) => {
    const json = jsonString(m);
    return json.length === m.length + 2 ? undefined : json;
  });
  const maskedTexts = masked.map((m, i) => (m === inspection.statements[i]!.text ? undefined : m));
  const encoding = encodingChangeRefusal(sql, inspection.statements);
  const textAt: InspectResult['textAt'] = [];
  let from = 0;
  const statements = inspection.statements.map((s) => {
    // A PREPARE's body carries its own text: such a statement crosses whole.
    const at = (s as { prepare?: unknown }).prepare ? -1 : sql.indexOf(s.text, from);
    if (at < 0) {
      textAt.push(undefined);
      return s;
    }
    from = at + s.text.length;
    textAt.push([at, from]);
    return { ...s, text: '' };
  });
  return { inspection: { ...inspection, statements }, textAt, maskedTexts, maskedJson, encoding };
}
