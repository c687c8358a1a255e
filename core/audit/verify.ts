// Verifies hash chains and signed digests. Pure: the caller reads the logs from whichever store.
import type { KeyObject } from 'node:crypto';
import type { AuditRecord } from './events.js';
import { genesisHash, recordHash } from './chain.js';
import { digestGenesis, digestHash, digestSignatureValid, keyIdOf, type SignedDigest } from './digest.js';

/** One line of a session log as read back: a record, or text that no longer parses. */
export type LogEntry = AuditRecord | { unparsable: string; line: number };

export interface SessionLog {
  sessionId: string;
  entries: LogEntry[];
}

export type ProblemKind =
  | 'unparsable' // a line is not valid JSON any more
  | 'edited' // a record's content no longer matches its hash
  | 'broken-link' // a record does not follow the one before it (removed or reordered)
  | 'sequence' // seq is not the next number (removed, reordered or inserted)
  | 'wrong-session' // a record names another session
  | 'truncated' // a signed digest covers events that are gone
  | 'digest-mismatch' // the chain differs from what a signed digest pinned (rewritten chain)
  | 'missing-session' // a signed digest or the index names a session whose log is gone
  | 'unindexed-session' // a session log the index does not list (hidden from `airlock sessions`)
  | 'forged-digest' // a digest's signature or key is not valid
  | 'digest-chain'; // digests missing or reordered

export interface Problem {
  kind: ProblemKind;
  sessionId?: string;
  seq?: number;
  message: string;
}

export interface VerifyReport {
  ok: boolean;
  problems: Problem[];
  /** Not failures: events no signed digest covers yet (a tail cut there would go unnoticed). */
  warnings: string[];
  sessions: number;
  events: number;
  digests: number;
}

function isUnparsable(e: LogEntry): e is { unparsable: string; line: number } {
  return 'unparsable' in e;
}

/**
 * `publicKey`: the key (or every key, e.g. across a rotation or a fleet) trusted to sign digests.
 * `indexed`: the sessions the store's index lists, when known: every one must have a log, and every
 * log must be listed.
 */
export function verifyAudit(input: { sessions: SessionLog[]; digests: SignedDigest[]; publicKey: KeyObject | KeyObject[]; indexed?: string[] }): VerifyReport {
  const problems: Problem[] = [];
  const warnings: string[] = [];
  const bySession = new Map<string, Map<number, AuditRecord>>();
  let events = 0;

  for (const log of input.sessions) {
    const records = new Map<number, AuditRecord>();
    bySession.set(log.sessionId, records);
    let expectedSeq = 1;
    let prevHash = genesisHash(log.sessionId);
    for (const entry of log.entries) {
      if (isUnparsable(entry)) {
        problems.push({ kind: 'unparsable', sessionId: log.sessionId, message: `line ${entry.line} is not a valid event` });
        expectedSeq++;
        continue;
      }
      events++;
      const where = { sessionId: log.sessionId, seq: entry.seq };
      if (entry.sessionId !== log.sessionId) {
        problems.push({ kind: 'wrong-session', ...where, message: `event names session ${String(entry.sessionId)}` });
      }
      if (entry.seq !== expectedSeq) {
        problems.push({ kind: 'sequence', ...where, message: `expected seq ${expectedSeq}, found ${entry.seq}` });
      }
      if (entry.prev !== prevHash) {
        problems.push({ kind: 'broken-link', ...where, message: `seq ${entry.seq} does not follow the event before it` });
      }
      if (recordHash(entry) !== entry.hash) {
        problems.push({ kind: 'edited', ...where, message: `seq ${entry.seq} was modified after it was written` });
      }
      records.set(entry.seq, entry);
      // Resynchronise on what is there so one removal is reported once, not for every later event.
      expectedSeq = entry.seq + 1;
      prevHash = entry.hash;
    }
  }

  const trusted = new Map((Array.isArray(input.publicKey) ? input.publicKey : [input.publicKey]).map((k) => [keyIdOf(k), k]));
  const covered = new Map<string, number>();
  const byWriter = new Map<string, SignedDigest[]>();
  for (const d of input.digests) byWriter.set(d.writer, [...(byWriter.get(d.writer) ?? []), d]);

  for (const [writer, list] of byWriter) {
    let prev = digestGenesis(writer);
    let expected = 1;
    for (const d of list) {
      const key = trusted.get(d.keyId);
      if (!key || !digestSignatureValid(d, key)) {
        problems.push({ kind: 'forged-digest', message: `digest ${writer}#${d.dseq} has no valid signature from a trusted key` });
        continue;
      }
      if (d.dseq !== expected || d.prev !== prev) {
        problems.push({ kind: 'digest-chain', message: `digest ${writer}#${d.dseq} does not follow digest #${expected - 1}` });
      }
      prev = digestHash(d);
      expected = d.dseq + 1;
      for (const pin of d.sessions) {
        const records = bySession.get(pin.sessionId);
        if (!records) {
          problems.push({ kind: 'missing-session', sessionId: pin.sessionId, message: `signed digest ${writer}#${d.dseq} covers a session that is gone` });
          continue;
        }
        covered.set(pin.sessionId, Math.max(covered.get(pin.sessionId) ?? 0, pin.seq));
        const rec = records.get(pin.seq);
        if (!rec) {
          const last = Math.max(0, ...records.keys());
          problems.push({
            kind: last < pin.seq ? 'truncated' : 'digest-mismatch',
            sessionId: pin.sessionId,
            seq: pin.seq,
            message: `signed digest pins seq ${pin.seq} but the log ${last < pin.seq ? `ends at seq ${last}` : 'lacks it'}`,
          });
        } else if (rec.hash !== pin.hash) {
          problems.push({ kind: 'digest-mismatch', sessionId: pin.sessionId, seq: pin.seq, message: `seq ${pin.seq} differs from the signed digest` });
        }
      }
    }
  }

  if (input.indexed) {
    const listed = new Set(input.indexed);
    for (const sessionId of listed) {
      if (!bySession.has(sessionId)) problems.push({ kind: 'missing-session', sessionId, message: 'the index lists this session but its log is gone' });
    }
    for (const sessionId of bySession.keys()) {
      if (!listed.has(sessionId)) problems.push({ kind: 'unindexed-session', sessionId, message: 'a session log the index does not list' });
    }
  }

  for (const [sessionId, records] of bySession) {
    const last = Math.max(0, ...records.keys());
    const pinned = covered.get(sessionId) ?? 0;
    if (last > pinned) warnings.push(`session ${sessionId}: events ${pinned + 1}..${last} are not yet covered by a signed digest`);
  }

  return { ok: problems.length === 0, problems, warnings, sessions: input.sessions.length, events, digests: input.digests.length };
}

/**
 * Verifies everything a reader holds. `sessionIds` should come from the logs themselves (not an
 * index an attacker could edit); sessions named by digests are always included. With `index`, the
 * store's index is cross-checked against the logs in both directions; it is read after the logs
 * were listed, so a session starting meanwhile is in both or only in the index (and then read).
 */
export async function verifyAuditStore(
  reader: { readSession(id: string): Promise<LogEntry[] | undefined>; readDigests(): Promise<SignedDigest[]> },
  o: { publicKey: KeyObject | KeyObject[]; sessionIds: string[]; index?: () => Promise<string[]> },
): Promise<VerifyReport> {
  const digests = await reader.readDigests();
  const indexed = o.index ? await o.index() : undefined;
  const ids = new Set([...o.sessionIds, ...(indexed ?? [])]);
  for (const d of digests) for (const s of d.sessions) ids.add(s.sessionId);
  const sessions: SessionLog[] = [];
  for (const sessionId of [...ids].sort()) {
    const entries = await reader.readSession(sessionId);
    if (entries) sessions.push({ sessionId, entries });
  }
  return verifyAudit({ sessions, digests, publicKey: o.publicKey, indexed });
}
