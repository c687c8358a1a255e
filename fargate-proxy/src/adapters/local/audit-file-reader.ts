// Reads the local audit store (see audit-layout.ts) for the CLI, the console and verification.
// Sessions are found in the journals through a map of where each session's lines are, built by one
// pass over the journals and extended, not rebuilt, as they grow (a long-lived reader: the console).
import { closeSync, openSync, readSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import type { SignedDigest } from '../../../../core/audit/digest.js';
import { isValidSessionId } from '../../../../core/audit/events.js';
import { matchesFilter, type AuditReader, type SessionFilter, type SessionSummary } from '../../../../core/audit/ports.js';
import type { LogEntry } from '../../../../core/audit/verify.js';
import { auditPaths, type IndexLine } from './audit-layout.js';
import { forEachJournalLine, listJournals, parseJournalLine } from './audit-journal.js';

async function readLines(path: string): Promise<string[] | undefined> {
  try {
    return (await readFile(path, 'utf8')).split('\n');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

function parseJsonLines<T>(lines: string[]): T[] {
  const out: T[] = [];
  for (const line of lines) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      /* a torn or damaged line: verification reports it from the session logs */
    }
  }
  return out;
}

/**
 * Session lines across the journals, read up to `scanned` in each. Per session a flat array of
 * (journal number, start, end, line number) quadruples: 32 bytes a line, for a reader that lives
 * as long as the gateway (the console).
 */
class JournalMap {
  private readonly journals: string[] = [];
  private readonly scanned = new Map<string, { end: number; lines: number }>();
  private readonly sessions = new Map<string, number[]>();
  constructor(private readonly paths: ReturnType<typeof auditPaths>) {}

  refresh(): void {
    for (const journal of listJournals(this.paths.journals)) {
      let from = this.scanned.get(journal);
      if (!from) {
        from = { end: 0, lines: 0 };
        this.journals.push(journal);
      }
      const j = this.journals.indexOf(journal);
      const done = forEachJournalLine(
        this.paths.journal(journal),
        from.end,
        (line, start, end, lineNo) => {
          const parsed = parseJournalLine(line);
          if ('item' in parsed) return; // shipped to a remote store, not part of a session's chain
          // A damaged line that no longer names its session is damage all the same: it is
          // reported under the journal's own name, so verification cannot miss it.
          const sessionId = 'record' in parsed ? parsed.record.sessionId : (parsed.sessionId ?? `journal.${journal}`);
          const at = this.sessions.get(sessionId);
          if (at) at.push(j, start, end, lineNo);
          else this.sessions.set(sessionId, [j, start, end, lineNo]);
        },
        from.lines + 1,
      );
      this.scanned.set(journal, done);
    }
  }

  sessionIds(): string[] {
    return [...this.sessions.keys()];
  }

  /** The session's journal lines, in journal order; undefined when it has none. */
  read(sessionId: string): LogEntry[] | undefined {
    const at = this.sessions.get(sessionId);
    if (!at) return undefined;
    const out: LogEntry[] = [];
    let fd: number | undefined;
    let open = -1;
    try {
      for (let i = 0; i < at.length; i += 4) {
        const [j, start, end, lineNo] = [at[i]!, at[i + 1]!, at[i + 2]!, at[i + 3]!];
        if (j !== open) {
          if (fd !== undefined) closeSync(fd);
          fd = openSync(this.paths.journal(this.journals[j]!), 'r');
          open = j;
        }
        const buf = Buffer.allocUnsafe(end - start - 1);
        readSync(fd!, buf, 0, buf.length, start);
        const parsed = parseJournalLine(buf);
        if ('record' in parsed) out.push(parsed.record);
        else out.push({ unparsable: buf.toString('utf8').slice(0, 200), line: lineNo });
      }
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    return out;
  }
}

export function createLocalAuditReader(dir: string): AuditReader & { sessionIds(): Promise<string[]> } {
  const paths = auditPaths(dir);
  const journals = new JournalMap(paths);
  return {
    async listSessions(filter?: SessionFilter): Promise<SessionSummary[]> {
      const summaries = new Map<string, SessionSummary>();
      const deniedStatements = new Map<string, Set<string>>();
      for (const line of parseJsonLines<IndexLine>((await readLines(paths.index)) ?? [])) {
        const s = summaries.get(line.sessionId) ?? { sessionId: line.sessionId, startedAt: line.at, authRefused: false, denied: 0 };
        summaries.set(line.sessionId, s);
        if (line.kind === 'start' || line.kind === 'refused') {
          s.startedAt = line.at;
          s.principal = line.principal ?? s.principal;
          s.groups = line.groups ?? s.groups;
          s.target = line.target ?? s.target;
          s.targetKind = line.targetKind ?? s.targetKind;
          s.client = line.client ?? s.client;
        }
        if (line.kind === 'refused') {
          s.authRefused = true;
          s.endReason = line.reason;
        }
        if (line.kind === 'denied') {
          // A reviewer's denial and the refusal that follows it name the same statement: one denial.
          const seen = deniedStatements.get(line.sessionId) ?? new Set<string>();
          deniedStatements.set(line.sessionId, seen);
          if (line.statementId === undefined || !seen.has(line.statementId)) s.denied++;
          if (line.statementId !== undefined) seen.add(line.statementId);
        }
        if (line.kind === 'end') {
          s.endedAt = line.at;
          s.statements = line.statements;
          s.endReason = line.reason;
        }
      }
      const list = [...summaries.values()].filter((s) => matchesFilter(s, filter));
      list.sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : 0));
      return filter?.limit ? list.slice(0, filter.limit) : list;
    },

    /** A log written before the journal, then the session's journal lines (a late event or a close-out continues it there). */
    async readSession(sessionId: string): Promise<LogEntry[] | undefined> {
      if (!isValidSessionId(sessionId)) return undefined;
      const lines = await readLines(paths.session(sessionId));
      journals.refresh();
      const inJournals = journals.read(sessionId);
      if (!lines) return inJournals;
      const entries: LogEntry[] = [];
      lines.forEach((line, i) => {
        if (!line.trim()) return;
        try {
          entries.push(JSON.parse(line));
        } catch {
          entries.push({ unparsable: line.slice(0, 200), line: i + 1 });
        }
      });
      return inJournals ? [...entries, ...inJournals] : entries;
    },

    async readDigests(): Promise<SignedDigest[]> {
      return parseJsonLines<SignedDigest>((await readLines(paths.digests)) ?? []);
    },

    /** Every session with a line in a journal or an older log file, indexed or not (verification must not trust the index). */
    async sessionIds(): Promise<string[]> {
      let legacy: string[] = [];
      try {
        legacy = (await readdir(paths.sessions)).filter((n) => n.endsWith('.jsonl')).map((n) => n.slice(0, -'.jsonl'.length));
      } catch {
        /* no logs from before the journal */
      }
      journals.refresh();
      return [...new Set([...legacy, ...journals.sessionIds()])].sort();
    },
  };
}
