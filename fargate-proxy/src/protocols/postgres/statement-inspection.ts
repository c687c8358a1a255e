// A session's statement strings inspected: on the event loop when small, in the worker pool when
// large (their texts come back masked for the audit too), refused when over the limit or past the
// deadline. A statement refused uninspected is audited by size and digest only.
import type { Inspection, StatementInspection } from '../../../../core/model.js';
import type { GatewayContext } from '../../context.js';
import { PoolBusyError, PoolDeadlineError } from '../../workers/worker-pool.js';
import { errorResponse } from './backend.js';
import { SQLSTATE } from './errors.js';
import type { Frame } from './framer.js';
import { decodeParse } from './frontend.js';
import { inspectOffLoop, type StatementLimits } from './off-loop-inspection.js';
import { Refused } from './refusal.js';
import { describeUninspected, type StatementAudit } from './statement-audit.js';

type MaybePromise<T> = T | Promise<T>;

export class StatementInspector {
  constructor(
    private readonly ctx: GatewayContext,
    private readonly limits: StatementLimits,
    /** The session's SQL-level prepared statements, for EXECUTE. */
    private readonly sqlPrepared: Map<string, StatementInspection>,
    private readonly audit: StatementAudit,
    private readonly nextStatementId: () => string,
  ) {}

  inspect(sql: string, bytes: number): MaybePromise<Inspection | Refused> {
    const limits = this.limits;
    if (bytes > limits.maxStatementBytes) {
      return this.#refuseUninspected(sql, SQLSTATE.programLimitExceeded, `statement of ${bytes} bytes exceeds the gateway's limit of ${limits.maxStatementBytes} bytes`);
    }
    if (bytes <= limits.offloadAboveBytes) return this.ctx.sql.inspect(sql, (name) => this.sqlPrepared.get(name));
    return inspectOffLoop({ sql, prepared: [...this.sqlPrepared] }, limits.inspectDeadlineMs).then(
      ({ inspection: raw, maskedTexts }) => {
        // The worker only parsed: this session's names (search_path, catalog) are resolved here, as
        // `ctx.sql.inspect` does for small statements.
        const inspection = this.ctx.sql.resolve?.(raw) ?? raw;
        if (inspection.ok) {
          inspection.statements.forEach((s, i) => {
            const masked = maskedTexts[i];
            if (masked !== undefined) this.audit.maskedText(s, masked);
          });
        }
        return inspection;
      },
      (err: Error) => {
        if (err instanceof PoolDeadlineError) return this.#refuseUninspected(sql, SQLSTATE.statementTooComplex, `Airlock could not inspect this ${bytes}-byte statement within ${limits.inspectDeadlineMs} ms`);
        if (err instanceof PoolBusyError) return this.#refuseUninspected(sql, SQLSTATE.insufficientResources, `Airlock is busy inspecting other large statements: ${err.message}`);
        return this.#refuseUninspected(sql, SQLSTATE.systemError, `Airlock could not inspect this statement: ${err.message}`);
      },
    );
  }

  /** Whether a Parse is large enough to be inspected (or refused) before its batch is decided. */
  isLarge(frame: Frame): boolean {
    return frame.body.length > Math.min(this.limits.offloadAboveBytes, this.limits.maxStatementBytes);
  }

  /** Inspections of large Parse messages, by frame; malformed ones are left to the batch's run to report. */
  async parses(parses: Frame[]): Promise<Map<Frame, Inspection | Refused>> {
    const out = new Map<Frame, Inspection | Refused>();
    for (const frame of parses) {
      let query: string;
      try {
        query = decodeParse(frame.body).query;
      } catch {
        continue;
      }
      out.set(frame, await this.inspect(query, Buffer.byteLength(query)));
    }
    return out;
  }

  /** Audits and refuses a statement that was not inspected; its text is recorded by size and digest only. */
  async #refuseUninspected(sql: string, code: string, message: string): Promise<Refused> {
    const s: StatementInspection = { class: 'opaque', statementTypes: [], tables: [], functions: [], dmlWithoutWhere: false, reasons: [message], text: describeUninspected(sql) };
    const policy = this.ctx.policy();
    await this.audit.statement(this.nextStatementId(), s, { effect: 'deny', policyIds: [], policyVersion: policy.version, reason: message });
    return new Refused(errorResponse({ severity: 'ERROR', code, message }));
  }
}
