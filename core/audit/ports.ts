// The ports between the gateway and audit stores. Adapters (local files, DynamoDB + S3) implement them.
import type { AuditEventInput, AuditRecord } from './events.js';
import type { SignedDigest } from './digest.js';
import type { LogEntry } from './verify.js';

/** Thrown (as a rejection) when the audit path cannot accept an event: the statement must be refused. */
export class AuditUnavailableError extends Error {
  override readonly name = 'AuditUnavailableError';
  constructor(readonly reason: string) {
    super(`audit unavailable: ${reason}`);
  }
}

export type AuditHealth = { ok: true } | { ok: false; reason: string };

export interface AuditSink {
  /** Resolves once acknowledged at the configured level; rejects with AuditUnavailableError when it cannot. */
  append(e: AuditEventInput): Promise<AuditRecord>;
  /**
   * For an event nothing waits on (a statement's outcome): chained at once, written with the
   * session's next event or shortly after. Throws AuditUnavailableError when it cannot be taken.
   */
  appendDeferred?(e: AuditEventInput): void;
  /**
   * Present where the write itself is the acknowledgement (ack `local`): appends at once and
   * returns the record, or throws AuditUnavailableError. Spares the statement path a promise.
   */
  appendNow?(e: AuditEventInput): AuditRecord;
  /** Cheap and synchronous: refuse new statements while not ok. */
  health(): AuditHealth;
  /** Flushes, ships what it can, writes a final digest. */
  close(): Promise<void>;
}

/** One unit shipped from the spool to a store. */
export type ShippedItem = { kind: 'event'; record: AuditRecord } | { kind: 'digest'; digest: SignedDigest };

/** A remote store the spool ships to. Writes must be idempotent: after a crash a batch may be shipped twice. */
export interface AuditStoreWriter {
  write(items: ShippedItem[]): Promise<void>;
}

export interface SessionFilter {
  principal?: string;
  target?: string;
  /** ISO timestamps, inclusive, on the session's start time. */
  from?: string;
  to?: string;
  /** Only sessions refused at login or with a denied statement. */
  refusedOnly?: boolean;
  limit?: number;
}

export interface SessionSummary {
  sessionId: string;
  startedAt: string;
  endedAt?: string;
  principal?: string;
  groups?: string[];
  target?: string;
  targetKind?: string;
  client?: string;
  /** Refused at login (auth.refused). */
  authRefused: boolean;
  /** Statements denied by policy or by a reviewer. */
  denied: number;
  statements?: number;
  endReason?: string;
}

/** Read side, for the CLI and the console. */
export interface AuditReader {
  /** Newest first. */
  listSessions(filter?: SessionFilter): Promise<SessionSummary[]>;
  /** Every line of the session's log in stored order (unparsable lines included, for verification). */
  readSession(sessionId: string): Promise<LogEntry[] | undefined>;
  readDigests(): Promise<SignedDigest[]>;
  close?(): Promise<void>;
}

export function matchesFilter(s: SessionSummary, f: SessionFilter | undefined): boolean {
  if (!f) return true;
  if (f.principal !== undefined && s.principal !== f.principal) return false;
  if (f.target !== undefined && s.target !== f.target) return false;
  if (f.from !== undefined && s.startedAt < f.from) return false;
  if (f.to !== undefined && s.startedAt > f.to) return false;
  if (f.refusedOnly && !s.authRefused && s.denied === 0) return false;
  return true;
}
