// A session's statement strings inspected: on the event loop when small, in the worker pool when
// large (their texts come back masked and rendered for the audit too, so the event loop makes no
// pass over a large text), refused when over the limit or past the deadline. A statement refused
// uninspected is audited by size and digest only.
import { webcrypto } from 'node:crypto';
import { rememberMaskedSqlText } from '../../../../core/audit/sql-literals.js';
import type { Inspection, StatementInspection } from '../../../../core/model.js';
import type { GatewayContext } from '../../context.js';
import { PoolBusyError, PoolDeadlineError } from '../../workers/worker-pool.js';
import { errorResponse } from './backend.js';
import { encodingChangeRefusal, type EncodingRefusal } from './client-encoding.js';
import { SQLSTATE } from './errors.js';
import type { Frame } from './framer.js';
import { decodeParse, type ParseMessage } from './frontend.js';
import type { InspectResult } from './inspect-worker.js';
import { inspectOffLoop, type StatementLimits } from './off-loop-inspection.js';
import { Refused } from './refusal.js';
import type { StatementAudit } from './statement-audit.js';

type MaybePromise<T> = T | Promise<T>;

export class StatementInspector {
  /** What the worker found beyond the inspection: an encoding refusal, or the audit's description of a text that does not parse. */
  readonly #offLoop = new WeakMap<Inspection, { encoding?: EncodingRefusal; uninspected?: string }>();

  constructor(
    private readonly ctx: GatewayContext,
    private readonly limits: StatementLimits,
    /** The session's SQL-level prepared statements, for EXECUTE. */
    private readonly sqlPrepared: Map<string, StatementInspection>,
    private readonly audit: StatementAudit,
    private readonly nextStatementId: () => string,
  ) {}

  /**
   * Starts the off-loop inspection of a statement string given as its UTF-8 bytes, before the loop
   * decodes it; undefined when the string is not for the worker (small, or over the limit).
   */
  startOffLoop(utf8: Uint8Array): Promise<InspectResult> | undefined {
    const bytes = utf8.byteLength;
    if (bytes <= this.limits.offloadAboveBytes || bytes > this.limits.maxStatementBytes) return undefined;
    const started = inspectOffLoop(utf8, [...this.sqlPrepared], this.limits.inspectDeadlineMs);
    started.catch(() => undefined); // its failure is reported where it is awaited, if the string decodes at all
    return started;
  }

  /** Inspects `sql`, whose UTF-8 bytes (a view into the client's message) are `utf8`; `started` is its `startOffLoop`. */
  inspect(sql: string, utf8: Uint8Array, started?: Promise<InspectResult>): MaybePromise<Inspection | Refused> {
    const limits = this.limits;
    const bytes = utf8.byteLength;
    if (bytes > limits.maxStatementBytes) {
      return this.#refuseUninspected(utf8, SQLSTATE.programLimitExceeded, `statement of ${bytes} bytes exceeds the gateway's limit of ${limits.maxStatementBytes} bytes`);
    }
    if (bytes <= limits.offloadAboveBytes) return this.ctx.sql.inspect(sql, (name) => this.sqlPrepared.get(name));
    return (started ?? inspectOffLoop(utf8, [...this.sqlPrepared], limits.inspectDeadlineMs)).then(
      // The answer was copied out of the worker's message in this turn; it is used in the next.
      (r) => new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#fromWorker(sql, r)),
      (err: Error) => {
        if (err instanceof PoolDeadlineError) return this.#refuseUninspected(utf8, SQLSTATE.statementTooComplex, `Airlock could not inspect this ${bytes}-byte statement within ${limits.inspectDeadlineMs} ms`);
        if (err instanceof PoolBusyError) return this.#refuseUninspected(utf8, SQLSTATE.insufficientResources, `Airlock is busy inspecting other large statements: ${err.message}`);
        return this.#refuseUninspected(utf8, SQLSTATE.systemError, `Airlock could not inspect this statement: ${err.message}`);
      },
    );
  }

  /**
   * The worker's answer made whole on the loop without a pass over the text: statement texts are
   * slices of `sql`, the audit's masked texts and their renderings come ready.
   */
  #fromWorker(sql: string, r: InspectResult): Inspection {
    const raw = r.inspection;
    if (!raw.ok) {
      if (r.uninspected !== undefined) this.#offLoop.set(raw, { uninspected: r.uninspected });
      return raw;
    }
    raw.statements.forEach((s, i) => {
      const at = r.textAt[i];
      if (at) s.text = sql.slice(at[0], at[1]);
    });
    // The worker only parsed: this session's names (search_path, catalog) are resolved here, as
    // `ctx.sql.inspect` does for small statements.
    const inspection = this.ctx.sql.resolve?.(raw) ?? raw;
    if (inspection.ok) {
      inspection.statements.forEach((s, i) => {
        const masked = r.maskedTexts[i] ?? raw.statements[i]!.text;
        this.audit.maskedText(s, masked, r.maskedJson[i]);
      });
    }
    this.#offLoop.set(inspection, { encoding: r.encoding });
    return inspection;
  }

  /** Why these statements would change the client encoding (client-encoding.ts): for a large text, the worker's answer. */
  encodingRefusal(sql: string, inspection: Extract<Inspection, { ok: true }>): EncodingRefusal | undefined {
    const known = this.#offLoop.get(inspection);
    return known ? known.encoding : encodingChangeRefusal(sql, inspection.statements);
  }

  /** For a large text that does not parse: what the audit records of it, made by the worker. */
  uninspected(inspection: Inspection): string | undefined {
    return this.#offLoop.get(inspection)?.uninspected;
  }

  /** Whether a Parse is large enough to be inspected (or refused) before its batch is decided. */
  isLarge(frame: Frame): boolean {
    return frame.body.length > Math.min(this.limits.offloadAboveBytes, this.limits.maxStatementBytes);
  }

  /** Large Parse messages decoded and inspected, by frame; malformed ones are left to the batch's run to report. */
  async parses(parses: Frame[]): Promise<Map<Frame, { parse: ParseMessage; inspection: Inspection | Refused }>> {
    const out = new Map<Frame, { parse: ParseMessage; inspection: Inspection | Refused }>();
    for (const frame of parses) {
      let parse: ParseMessage;
      try {
        parse = decodeParse(frame.body);
      } catch {
        continue;
      }
      // The query string's bytes: after the statement name and its NUL, up to the next NUL.
      const start = frame.body.indexOf(0) + 1;
      const utf8 = frame.body.subarray(start, frame.body.indexOf(0, start));
      out.set(frame, { parse, inspection: await this.inspect(parse.query, utf8) });
    }
    return out;
  }

  /** Audits and refuses a statement that was not inspected; its text is recorded by size and digest only, hashed off the loop. */
  async #refuseUninspected(utf8: Uint8Array, code: string, message: string): Promise<Refused> {
    const text = await describeOffLoop(utf8);
    const s: StatementInspection = { class: 'opaque', statementTypes: [], tables: [], functions: [], dmlWithoutWhere: false, reasons: [message], text };
    const policy = this.ctx.policy();
    await this.audit.statement(this.nextStatementId(), s, { effect: 'deny', policyIds: [], policyVersion: policy.version, reason: message });
    return new Refused(errorResponse({ severity: 'ERROR', code, message }));
  }
}

/** `describeStatementBytes`, with the digest computed on libuv's thread pool (WebCrypto) rather than the event loop. */
async function describeOffLoop(utf8: Uint8Array): Promise<string> {
  const digest = Buffer.from(await webcrypto.subtle.digest('SHA-256', utf8)).toString('hex');
  const text = `<statement of ${utf8.byteLength} bytes, sha256 ${digest}>`;
  rememberMaskedSqlText(text);
  return text;
}
