// Where the local audit store keeps its files. Plain JSON lines throughout, so `cat`, `jq` and
// `grep` read them without Airlock:
//   <dir>/journal/<start>-<rand>.jsonl one per gateway process: every session's hash-chained events,
//                                      interleaved, append-only (audit-journal.ts); with a remote
//                                      store also the spool it ships from
//   <dir>/journal/state.json           per journal: bytes the remote store acknowledged, closed out
//   <dir>/index.jsonl                  one line per session start / end / refusal / denial
//   <dir>/digests.jsonl                signed digests of the chain heads
//   <dir>/sessions/<sessionId>.jsonl   (written by versions before the journal) one log per session, still read
//   <dir>/spool.jsonl, spool.cursor    (written by versions before the journal) moved into the journal at start
//   <dir>/keys/audit-signing.{key,pub} the Ed25519 digest key (private half 0600)
import { join } from 'node:path';
import type { AuditRecord } from '../../../../core/audit/events.js';

export interface IndexLine {
  sessionId: string;
  kind: 'start' | 'end' | 'refused' | 'denied';
  at: string;
  principal?: string;
  groups?: string[];
  target?: string;
  targetKind?: string;
  client?: string;
  statements?: number;
  reason?: string;
  /** On `denied` lines: the statement, so a statement denied by a reviewer and then refused counts once. */
  statementId?: string;
}

export function auditPaths(dir: string) {
  return {
    sessions: join(dir, 'sessions'),
    session: (sessionId: string) => join(dir, 'sessions', `${sessionId}.jsonl`),
    index: join(dir, 'index.jsonl'),
    digests: join(dir, 'digests.jsonl'),
    spool: join(dir, 'spool.jsonl'),
    spoolCursor: join(dir, 'spool.cursor'),
    spoolCursorTmp: join(dir, 'spool.cursor.tmp'),
    journals: join(dir, 'journal'),
    journal: (name: string) => join(dir, 'journal', `${name}.jsonl`),
    journalState: join(dir, 'journal', 'state.json'),
    probe: join(dir, '.probe'),
  };
}

/** The index line an event adds, if any: starts, ends, login refusals and denials. */
export function indexLineFor(r: AuditRecord): IndexLine | undefined {
  switch (r.type) {
    case 'session.start':
      return {
        sessionId: r.sessionId,
        kind: 'start',
        at: r.at,
        principal: r.principal.id,
        groups: r.principal.groups,
        target: r.target,
        targetKind: r.targetKind,
        client: `${r.client.address}:${r.client.port}`,
      };
    case 'auth.refused':
      // After a session started, a refusal (a protocol violation, an oversized message) is not a login refusal.
      if (r.seq > 1) return { sessionId: r.sessionId, kind: 'denied', at: r.at };
      return { sessionId: r.sessionId, kind: 'refused', at: r.at, target: r.target, client: `${r.client.address}:${r.client.port}`, reason: r.reason };
    case 'session.end':
      return { sessionId: r.sessionId, kind: 'end', at: r.at, statements: r.statements, reason: r.reason };
    // A statement refused after a reviewer's denial has both events: the reader counts it once by its id.
    case 'statement':
      return r.decision.effect === 'deny' ? { sessionId: r.sessionId, kind: 'denied', at: r.at, statementId: r.statementId } : undefined;
    case 'approval':
      return r.state === 'denied' || r.state === 'expired' ? { sessionId: r.sessionId, kind: 'denied', at: r.at, statementId: r.statementId } : undefined;
    default:
      return undefined;
  }
}
