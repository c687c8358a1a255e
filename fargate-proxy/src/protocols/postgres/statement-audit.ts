// A session's statements in the audit trail: each statement's event is appended before it is
// forwarded (a statement the trail cannot take is refused), outcomes once answered.
import type { Logger } from 'pino';
import { rememberJsonRendering } from '../../../../core/audit/chain.js';
import type { AuditEventInput } from '../../../../core/audit/events.js';
import { rememberMaskedSqlText } from '../../../../core/audit/sql-literals.js';
import type { Decision, StatementInspection } from '../../../../core/model.js';
import type { Task } from '../../../../core/task/types.js';
import type { GatewayContext } from '../../context.js';
import { Refused, auditRefusal } from './refusal.js';
import type { Decided } from './statement-decisions.js';
import type { ResponseUnit } from './statement-units.js';
import { describeStatementBytes } from './uninspected.js';

type MaybePromise<T> = T | Promise<T>;
type AuditedDecision = Extract<AuditEventInput, { type: 'statement' }>['decision'];
const auditedDecisions = new WeakMap<Decision, AuditedDecision>();

/**
 * What a statement's record says of its decision, one frozen object per decision: sessions reuse
 * their decisions, and the audit renders a deep-frozen member once (chain.ts).
 */
function auditedDecision(d: Decision): AuditedDecision {
  let audited = auditedDecisions.get(d);
  if (!audited) {
    // Keys in sorted order: the audit renders it as it stands.
    audited = Object.freeze({ effect: d.effect, policyIds: Object.freeze([...d.policyIds]) as string[], policyVersion: d.policyVersion, reason: d.reason });
    auditedDecisions.set(d, audited);
  }
  return audited;
}

/** What the audit records of a statement too large to record as text: its size and digest. */
export function describeUninspected(sql: string): string {
  const text = describeStatementBytes(Buffer.from(sql, 'utf8'));
  rememberMaskedSqlText(text);
  return text;
}

export class StatementAudit {
  /** Texts of statements inspected off the loop, already masked there for the audit. */
  readonly #maskedTexts = new WeakMap<StatementInspection, string>();

  constructor(
    private readonly ctx: GatewayContext,
    private readonly log: Logger,
    private readonly sessionId: string,
  ) {}

  /**
   * A statement's text was masked for the audit off the loop: its record uses that text, rendered
   * as `json` (the chain's `jsonString(masked)`; undefined when that is the text between quotes).
   */
  maskedText(s: StatementInspection, masked: string, json: string | undefined): void {
    rememberMaskedSqlText(masked);
    rememberJsonRendering(masked, json ?? `"${masked}"`);
    this.#maskedTexts.set(s, masked);
  }

  event(statementId: string, s: StatementInspection, d: Decision, approvalId?: string, parameters?: string[]): AuditEventInput {
    // Keys in sorted order: the audit renders such an event without a sorted copy (chain.ts).
    return {
      approvalId,
      class: s.class,
      decision: auditedDecision(d),
      functions: s.functions,
      parameters,
      sessionId: this.sessionId,
      statementId,
      statementTypes: s.statementTypes,
      tables: s.tables,
      text: this.#maskedTexts.get(s) ?? s.text,
      type: 'statement',
    };
  }

  /** Audits a refusal; failures are logged, the refusal stands either way. */
  async statement(statementId: string, s: StatementInspection, d: Decision, approvalId?: string, parameters?: string[]): Promise<Refused | undefined> {
    try {
      await this.ctx.audit.append(this.event(statementId, s, d, approvalId, parameters));
      return undefined;
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'audit append failed');
      return new Refused(auditRefusal((err as Error).message));
    }
  }

  /**
   * Appends the events of statements about to be forwarded, except those `recordedBeforeHold`
   * (each is taken off it). Synchronous where the sink can append now: the common path makes no promise.
   */
  admit(decided: Decided[], recordedBeforeHold: Set<string>): MaybePromise<Refused | undefined> {
    const appendNow = this.ctx.audit.appendNow;
    if (!appendNow) return this.#admitAfterAppend(decided, recordedBeforeHold);
    try {
      for (const x of decided) if (!recordedBeforeHold.delete(x.id)) appendNow(this.event(x.id, x.s, x.d, undefined, x.params));
    } catch (err) {
      return new Refused(auditRefusal((err as Error).message));
    }
    return undefined;
  }

  async #admitAfterAppend(decided: Decided[], recordedBeforeHold: Set<string>): Promise<Refused | undefined> {
    try {
      const unrecorded = decided.filter((x) => !recordedBeforeHold.delete(x.id));
      await Promise.all(unrecorded.map((x) => this.ctx.audit.append(this.event(x.id, x.s, x.d, undefined, x.params))));
    } catch (err) {
      return new Refused(auditRefusal((err as Error).message));
    }
    return undefined;
  }

  /**
   * A statement that does not parse, refused: a large text is recorded by size and digest, as
   * masking megabytes would stall the loop (`described`, when the worker made that record).
   */
  async unparsable(statementId: string, sql: string, error: string, offloadAboveBytes: number, described?: string): Promise<void> {
    if (described !== undefined) rememberMaskedSqlText(described);
    const text = described ?? (sql.length > offloadAboveBytes ? describeUninspected(sql) : sql);
    const s: StatementInspection = { class: 'opaque', statementTypes: [], tables: [], functions: [], dmlWithoutWhere: false, reasons: [`does not parse: ${error}`], text };
    const policy = this.ctx.policy();
    await this.statement(statementId, s, { effect: 'deny', policyIds: [], policyVersion: policy.version, reason: 'statement does not parse (fail closed)' });
  }

  /** Outcomes are deferred where the sink can: they then share the write of the session's next event. */
  outcomes(unit: ResponseUnit, task: Task | undefined): void {
    const audit = this.ctx.audit;
    for (const o of unit.outcomes()) {
      if (task) task.usage.bytesRead += o.bytes;
      if (task) this.ctx.sessions?.chargeFleetAfter(this.sessionId, task, 'bytesRead', o.bytes);
      // Keys in sorted order: the audit renders such an event without a sorted copy (chain.ts).
      const e: AuditEventInput = {
        bytes: o.bytes,
        durationMs: o.durationMs,
        error: o.error,
        masking: o.masking,
        response: o.response,
        rows: o.rows,
        sessionId: this.sessionId,
        statementId: o.statementId,
        status: o.status,
        type: 'statement.outcome',
      };
      if (!audit.appendDeferred) {
        void this.append(e);
        continue;
      }
      try {
        audit.appendDeferred(e);
      } catch (err) {
        this.log.error({ err: (err as Error).message, type: e.type }, 'audit append failed');
      }
    }
  }

  /** Appends an event whose failure cannot change what happens: logged. */
  async append(e: AuditEventInput): Promise<void> {
    try {
      await this.ctx.audit.append(e);
    } catch (err) {
      this.log.error({ err: (err as Error).message, type: e.type }, 'audit append failed');
    }
  }
}
