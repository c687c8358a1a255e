// Per-session hash chain: each record carries the hash of the one before it, so an edited, removed
// or reordered event breaks the chain; signed digests (digest.ts) pin the chain heads so a
// truncated tail or a recomputed chain is detected too.
import { createHash } from 'node:crypto';
import { AUDIT_SCHEMA_VERSION, type AuditEvent, type AuditEventInput, type AuditRecord } from './events.js';

/** JSON with object keys sorted at every level: the same event always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The link before seq 1: bound to the session id so events cannot be grafted onto another session. */
export function genesisHash(sessionId: string): string {
  return sha256Hex(`airlock-audit/v${AUDIT_SCHEMA_VERSION}/genesis/${sessionId}`);
}

/** Hash of a record: everything but `hash` itself, `prev` included. */
export function recordHash(record: Omit<AuditRecord, 'hash'> & { hash?: string }): string {
  const { hash: _ignored, ...rest } = record;
  return sha256Hex(canonicalJson(rest));
}

export interface ChainHead {
  seq: number;
  hash: string;
}

/** Assigns `seq` and chain links per session. One instance per writer; state lives in memory. */
export class SessionChains {
  private readonly heads = new Map<string, ChainHead>();

  head(sessionId: string): ChainHead | undefined {
    return this.heads.get(sessionId);
  }

  /** Seeds a session's head, e.g. from its file after a restart. */
  resume(sessionId: string, head: ChainHead): void {
    this.heads.set(sessionId, head);
  }

  forget(sessionId: string): void {
    this.heads.delete(sessionId);
  }

  /** Builds the next record without committing it: call `commit` once it was written. */
  next(input: AuditEventInput, now: Date = new Date()): AuditRecord {
    const head = this.heads.get(input.sessionId);
    const { sessionId, at, ...body } = input;
    const event = {
      v: AUDIT_SCHEMA_VERSION,
      sessionId,
      seq: (head?.seq ?? 0) + 1,
      at: at ?? now.toISOString(),
      ...body,
    } as AuditEvent;
    const unhashed = { ...event, prev: head?.hash ?? genesisHash(sessionId) };
    return { ...unhashed, hash: recordHash(unhashed) } as AuditRecord;
  }

  commit(record: AuditRecord): void {
    this.heads.set(record.sessionId, { seq: record.seq, hash: record.hash });
  }
}
