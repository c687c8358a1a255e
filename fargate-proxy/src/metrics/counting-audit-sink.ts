// Counts what sessions do by watching the audit events they append: every protocol already reports
// session starts, statements and refusals there, so metrics need no hooks in protocol code.
import type { AuditEventInput, AuditRecord } from '../../../core/audit/events.js';
import type { AuditHealth, AuditSink } from '../../../core/audit/ports.js';
import type { TargetKind } from '../../../core/model.js';

export interface SessionActivity {
  sessionsOpened: number;
  statements: number;
  /** Statements denied by policy, and logins refused. */
  refusals: number;
}

/**
 * An AuditSink that forwards to `inner` and counts the events handed to it. Counts are taken when
 * the event is offered, whether or not the sink accepts it: a statement refused because the audit
 * path is down was still a statement the agent sent.
 */
export class CountingAuditSink implements AuditSink {
  #activity: SessionActivity = { sessionsOpened: 0, statements: 0, refusals: 0 };
  readonly #open = new Map<string, TargetKind>();

  readonly appendDeferred?: (e: AuditEventInput) => void;
  readonly appendNow?: (e: AuditEventInput) => AuditRecord;

  constructor(private readonly inner: AuditSink) {
    const deferred = inner.appendDeferred?.bind(inner);
    if (deferred)
      this.appendDeferred = (e) => {
        this.count(e);
        deferred(e);
      };
    const now = inner.appendNow?.bind(inner);
    if (now)
      this.appendNow = (e) => {
        this.count(e);
        return now(e);
      };
  }

  append(e: AuditEventInput): Promise<AuditRecord> {
    this.count(e);
    return this.inner.append(e);
  }

  health(): AuditHealth {
    return this.inner.health();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** Counts since the previous call; resets them. */
  takeActivity(): SessionActivity {
    const taken = this.#activity;
    this.#activity = { sessionsOpened: 0, statements: 0, refusals: 0 };
    return taken;
  }

  /** Sessions started and not yet ended, optionally of one target kind. */
  openSessions(kind?: TargetKind): number {
    if (kind === undefined) return this.#open.size;
    let n = 0;
    for (const k of this.#open.values()) if (k === kind) n++;
    return n;
  }

  private count(e: AuditEventInput): void {
    switch (e.type) {
      case 'session.start':
        this.#activity.sessionsOpened++;
        this.#open.set(e.sessionId, e.targetKind);
        break;
      case 'session.end':
        this.#open.delete(e.sessionId);
        break;
      case 'statement':
        this.#activity.statements++;
        if (e.decision.effect === 'deny') this.#activity.refusals++;
        break;
      case 'auth.refused':
        this.#activity.refusals++;
        this.#open.delete(e.sessionId);
        break;
      default:
        break;
    }
  }
}
