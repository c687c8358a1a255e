// Reads the local audit store (see audit-layout.ts) for the CLI, the console and verification.
import { readFile, readdir } from 'node:fs/promises';
import type { SignedDigest } from '../../../../core/audit/digest.js';
import { isValidSessionId } from '../../../../core/audit/events.js';
import { matchesFilter, type AuditReader, type SessionFilter, type SessionSummary } from '../../../../core/audit/ports.js';
import type { LogEntry } from '../../../../core/audit/verify.js';
import { auditPaths, type IndexLine } from './audit-layout.js';

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

export function createLocalAuditReader(dir: string): AuditReader & { sessionIds(): Promise<string[]> } {
  const paths = auditPaths(dir);
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

    async readSession(sessionId: string): Promise<LogEntry[] | undefined> {
      if (!isValidSessionId(sessionId)) return undefined;
      const lines = await readLines(paths.session(sessionId));
      if (!lines) return undefined;
      const entries: LogEntry[] = [];
      lines.forEach((line, i) => {
        if (!line.trim()) return;
        try {
          entries.push(JSON.parse(line));
        } catch {
          entries.push({ unparsable: line.slice(0, 200), line: i + 1 });
        }
      });
      return entries;
    },

    async readDigests(): Promise<SignedDigest[]> {
      return parseJsonLines<SignedDigest>((await readLines(paths.digests)) ?? []);
    },

    /** Every session with a log file, indexed or not (verification must not trust the index). */
    async sessionIds(): Promise<string[]> {
      try {
        return (await readdir(paths.sessions)).filter((n) => n.endsWith('.jsonl')).map((n) => n.slice(0, -'.jsonl'.length)).sort();
      } catch {
        return [];
      }
    },
  };
}
