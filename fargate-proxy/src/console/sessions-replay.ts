// Builds the replay of one session for the console: its events folded into a timeline (each
// statement with its decision, approvals and outcome), captured responses decoded for display, and
// whether the session's hash chain is intact. Pure: the caller reads the log.
import type { AuditRecord, CapturedResponse, StatementBody, StatementOutcomeBody } from '../../../core/audit/events.js';
import { capturedBytes } from '../../../core/audit/response-capture.js';
import { verifyAudit, type LogEntry, type Problem } from '../../../core/audit/verify.js';
import {
  DEFAULT_DISPLAY_LIMITS,
  decodePostgresResponse,
  escapedPreview,
  textPreview,
  type DisplayLimits,
  type PgResponseView,
  type PreviewView,
} from './sessions-pg-response.js';

export interface ResponseView {
  totalBytes: number;
  totalChunks?: number;
  keptBytes: number;
  /** True when the agent received more than the audit kept. */
  truncated: boolean;
  sha256: string;
  /** Decoded result tables (PostgreSQL), or a preview of the kept bytes; absent when nothing was kept. */
  shown?: PgResponseView | PreviewView;
}

export interface OutcomeView {
  seq: number;
  at: string;
  status: StatementOutcomeBody['status'];
  rows?: number;
  bytes: number;
  durationMs: number;
  error?: { code: string; message: string };
  masking?: { counts: Record<string, number>; total: number };
  response?: ResponseView;
}

export interface ApprovalView {
  seq: number;
  at: string;
  approvalId: string;
  state: string;
  reviewer?: string;
  reason?: string;
}

export type TimelineEntry =
  | {
      kind: 'session.start';
      seq: number;
      at: string;
      principal: { id: string; groups: string[]; issuer: string; tokenId?: string; clientId?: string };
      target: string;
      targetKind: string;
      protocol: string;
      client: string;
    }
  | { kind: 'auth.refused'; seq: number; at: string; code: string; reason: string; target?: string; client: string }
  | { kind: 'session.end'; seq: number; at: string; reason: string; statements: number; bytesIn: number; bytesOut: number; durationMs: number }
  | {
      kind: 'statement';
      statementId: string;
      /** Seq and time of the statement event (of the first related event when the statement event is missing). */
      seq: number;
      at: string;
      statement?: Omit<StatementBody, 'type' | 'statementId'>;
      approvals: ApprovalView[];
      outcome?: OutcomeView;
    }
  | { kind: 'unparsable'; line: number };

export interface SessionReplay {
  sessionId: string;
  chain: { intact: boolean; events: number; problems: Array<Pick<Problem, 'kind' | 'seq' | 'message'>> };
  timeline: TimelineEntry[];
}

function responseView(r: CapturedResponse, postgres: boolean, limits: DisplayLimits): ResponseView {
  const kept = capturedBytes(r);
  const view: ResponseView = { totalBytes: r.totalBytes, totalChunks: r.totalChunks, keptBytes: kept.length, truncated: r.truncated, sha256: r.sha256 };
  if (kept.length === 0) return view;
  if (r.encoding === 'base64') {
    view.shown = (postgres ? decodePostgresResponse(kept, limits) : undefined) ?? escapedPreview(kept, limits);
  } else {
    view.shown = textPreview(kept, limits);
  }
  return view;
}

export function buildSessionReplay(sessionId: string, entries: LogEntry[], limits: DisplayLimits = DEFAULT_DISPLAY_LIMITS): SessionReplay {
  // No digests and no keys: this checks the chain links only (`airlock audit verify` checks signatures).
  const report = verifyAudit({ sessions: [{ sessionId, entries }], digests: [], publicKey: [] });
  const timeline: TimelineEntry[] = [];
  const statements = new Map<string, Extract<TimelineEntry, { kind: 'statement' }>>();
  // Unknown kind means postgres until a session.start says otherwise: decoding falls back safely anyway.
  let postgres = true;

  const statementEntry = (r: AuditRecord & { statementId: string }) => {
    let s = statements.get(r.statementId);
    if (!s) {
      s = { kind: 'statement', statementId: r.statementId, seq: r.seq, at: r.at, approvals: [] };
      statements.set(r.statementId, s);
      timeline.push(s);
    }
    return s;
  };

  for (const e of entries) {
    if ('unparsable' in e) {
      timeline.push({ kind: 'unparsable', line: e.line });
      continue;
    }
    switch (e.type) {
      case 'session.start':
        postgres = e.targetKind === 'postgres';
        timeline.push({
          kind: 'session.start',
          seq: e.seq,
          at: e.at,
          principal: e.principal,
          target: e.target,
          targetKind: e.targetKind,
          protocol: e.protocol,
          client: `${e.client.address}:${e.client.port}`,
        });
        break;
      case 'auth.refused':
        timeline.push({ kind: 'auth.refused', seq: e.seq, at: e.at, code: e.code, reason: e.reason, target: e.target, client: `${e.client.address}:${e.client.port}` });
        break;
      case 'session.end':
        timeline.push({ kind: 'session.end', seq: e.seq, at: e.at, reason: e.reason, statements: e.statements, bytesIn: e.bytesIn, bytesOut: e.bytesOut, durationMs: e.durationMs });
        break;
      case 'statement': {
        const s = statementEntry(e);
        s.statement = { text: e.text, class: e.class, statementTypes: e.statementTypes, tables: e.tables, functions: e.functions, decision: e.decision, approvalId: e.approvalId };
        s.seq = e.seq;
        s.at = e.at;
        break;
      }
      case 'approval':
        statementEntry(e).approvals.push({ seq: e.seq, at: e.at, approvalId: e.approvalId, state: e.state, reviewer: e.reviewer, reason: e.reason });
        break;
      case 'statement.outcome':
        statementEntry(e).outcome = {
          seq: e.seq,
          at: e.at,
          status: e.status,
          rows: e.rows,
          bytes: e.bytes,
          durationMs: e.durationMs,
          error: e.error,
          masking: e.masking,
          response: e.response ? responseView(e.response, postgres, limits) : undefined,
        };
        break;
    }
  }
  return {
    sessionId,
    chain: { intact: report.ok, events: report.events, problems: report.problems.map((p) => ({ kind: p.kind, seq: p.seq, message: p.message })) },
    timeline,
  };
}
