// Tracks which statements the upstream is answering, so each one's outcome (rows, bytes, error,
// duration) can be audited when its ReadyForQuery arrives.
import type { MaskingSummary, StatementOutcomeBody } from '../../../../core/audit/events.js';
import type { ResponseCapture } from '../../../../core/audit/response-capture.js';

export interface TrackedStatement {
  statementId: string;
  startedAt: number;
  status: 'ok' | 'error' | 'cancelled';
  rows?: number;
  bytes: number;
  error?: { code: string; message: string };
  done: boolean;
  /** What the agent received for this statement, bounded by the configured cap. */
  capture?: ResponseCapture;
  masking?: MaskingSummary;
  onSuccess?: () => void;
}

/** The statements answered before one ReadyForQuery (a simple Query, or extended messages up to Sync). */
export class ResponseUnit {
  readonly statements: TrackedStatement[] = [];
  #cursor = 0;

  /** `onSuccess` runs when the server completes the statement without error. */
  add(statementId: string, onSuccess?: () => void): void {
    this.statements.push({ statementId, startedAt: performance.now(), status: 'ok', bytes: 0, done: false, onSuccess });
  }

  get current(): TrackedStatement | undefined {
    return this.statements[this.#cursor];
  }

  /** CommandComplete, EmptyQueryResponse or PortalSuspended: the current statement is answered. */
  complete(rows?: number): void {
    const s = this.current;
    if (!s) return;
    if (rows !== undefined) s.rows = rows;
    s.done = true;
    s.onSuccess?.();
    this.#cursor++;
  }

  /** An ErrorResponse ends the current statement and, as the server skips the rest, every later one. */
  fail(code: string, message: string): void {
    const s = this.current;
    if (!s) return;
    s.status = code === '57014' ? 'cancelled' : 'error';
    s.error = { code, message };
    s.done = true;
    this.#cursor++;
    for (let i = this.#cursor; i < this.statements.length; i++) {
      const rest = this.statements[i]!;
      rest.status = 'error';
      rest.error = { code: '25P02', message: 'not executed: an earlier statement failed' };
      rest.done = true;
    }
    this.#cursor = this.statements.length;
  }

  /** The session ended first: statements the server had not finished answering are recorded as cut off. */
  abandon(): void {
    for (const s of this.statements) {
      if (s.done) continue;
      s.status = 'error';
      s.error = { code: '08006', message: 'the session ended before the server finished answering' };
      s.done = true;
    }
    this.#cursor = this.statements.length;
  }

  outcomes(now = performance.now()): Omit<StatementOutcomeBody, 'type'>[] {
    return this.statements.map((s) => ({
      statementId: s.statementId,
      status: s.status,
      rows: s.rows,
      bytes: s.bytes,
      durationMs: Math.round((now - s.startedAt) * 1000) / 1000,
      error: s.error,
      masking: s.masking,
      response: s.capture?.finish(),
    }));
  }
}

/** Literals removed and whitespace folded: "the same statement" for approvals granted per shape. */
export function statementShape(text: string): string {
  return text
    .replace(/'(?:[^']|'')*'/g, '?')
    .replace(/\$\w*\$[\s\S]*?\$\w*\$/g, '?')
    .replace(/\b\d+(?:\.\d+)?\b/g, '?')
    .replace(/\s+/g, ' ')
    .trim()
    .toLowerCase();
}
