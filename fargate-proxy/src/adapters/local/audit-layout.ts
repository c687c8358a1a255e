// Where the local audit store keeps its files. Plain JSON lines throughout, so `cat`, `jq` and
// `grep` read them without Airlock:
//   <dir>/sessions/<sessionId>.jsonl   one hash-chained event per line, append-only
//   <dir>/index.jsonl                  one line per session start / end / refusal / denial
//   <dir>/digests.jsonl                signed digests of the chain heads
//   <dir>/spool.jsonl, spool.cursor    events not yet shipped to a remote store (AWS mode)
//   <dir>/keys/audit-signing.{key,pub} the Ed25519 digest key (private half 0600)
import { join } from 'node:path';

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
    probe: join(dir, '.probe'),
  };
}
