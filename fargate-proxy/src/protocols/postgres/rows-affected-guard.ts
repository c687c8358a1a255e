// Rows affected, enforced by the server's own count: one DML statement (a simple Query, or an
// extended-protocol run ending in Sync) runs under a gateway savepoint. Outside the agent's
// transaction the gateway opens one (BEGIN … COMMIT/ROLLBACK); inside it, SAVEPOINT … RELEASE /
// ROLLBACK TO. When the command tag's count exceeds what is left of the budget, the gateway rolls
// back to its savepoint and answers with the refusal instead of the command tag.
//
// Upstream answers, in order:   prefix (BEGIN | SAVEPOINT)            → swallowed
//                               the agent's statement                 → relayed, CommandComplete held, ReadyForQuery held
//                               suffix (COMMIT | ROLLBACK | RELEASE…) → swallowed; then the held tag (or the refusal)
//                                                                       and a ReadyForQuery with the final status go out
// While a guard runs the relay forwards nothing else: the suffix must follow the statement directly.
import { serialize } from 'pg-protocol';
import type { StatementInspection } from '../../../../core/model.js';
import { B, decodeCommandTag, type TransactionStatus } from './backend.js';

const DML = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt']);

/** A single INSERT/UPDATE/DELETE/MERGE with no other data-modifying statement inside (a CTE's would not be in the count). */
export function countableDml(s: StatementInspection): boolean {
  return DML.has(s.statementTypes[0] ?? '') && s.statementTypes.filter((t) => DML.has(t)).length === 1;
}

/** Statements whose rows affected the server's tag would not count (COPY FROM, writes through CTEs or functions). */
export function uncountableWrite(s: StatementInspection): boolean {
  return (s.class === 'write' || s.class === 'destructive') && !countableDml(s);
}

type Phase = 'pre' | 'main' | 'post' | 'done';

export interface GuardResult {
  /** What the client gets in place of the held tag and ReadyForQuery. */
  out: Buffer[];
  status: TransactionStatus;
  /** The rows the statement affected, as the server counted them (before any rollback). */
  rows: number;
  over: boolean;
}

export class RowsAffectedGuard {
  #phase: Phase = 'pre';
  #held: Buffer | undefined;
  #rows = 0;
  #mainFailed = false;
  #postError: Buffer | undefined;
  #over = false;
  readonly done: Promise<void>;
  #resolve!: () => void;

  constructor(
    /** The session's transaction status when the statement was forwarded ('I' or 'T'). */
    readonly outer: TransactionStatus,
    /** Rows that may still be affected. */
    readonly allowed: number,
    readonly savepoint: string,
    /** The refusal sent instead of the tag when over. */
    readonly refusal: (rows: number) => Buffer,
  ) {
    this.done = new Promise((r) => (this.#resolve = r));
  }

  get phase(): Phase {
    return this.#phase;
  }

  prefix(): Buffer {
    return serialize.query(this.outer === 'I' ? 'BEGIN' : `SAVEPOINT ${this.savepoint}`);
  }

  /** 'hold' for what the guard takes; undefined leaves the message to the relay. */
  action(type: number): 'hold' | undefined {
    if (this.#phase === 'pre' || this.#phase === 'post') return 'hold';
    if (this.#phase === 'main' && (type === B.CommandComplete || type === B.ReadyForQuery)) return 'hold';
    return undefined;
  }

  /** Prefix answers: swallowed. */
  pre(type: number): void {
    if (type === B.ReadyForQuery) this.#phase = 'main';
  }

  /** The statement's tag: counted and kept back. */
  complete(body: Buffer, raw: Buffer): void {
    const { tag, rows } = decodeCommandTag(body);
    if (/^(INSERT|UPDATE|DELETE|MERGE)\b/.test(tag)) this.#rows += rows ?? 0;
    // Not a view of the socket's read: that buffer is reused once the chunk is scanned.
    this.#held = this.#held ? Buffer.concat([this.#held, raw]) : Buffer.from(raw);
  }

  mainError(): void {
    this.#mainFailed = true;
  }

  /** The statement's ReadyForQuery: the suffix to send, or undefined when nothing is to be sent. */
  afterMain(status: TransactionStatus): Buffer | undefined {
    this.#over = !this.#mainFailed && this.#rows > this.allowed;
    this.#phase = 'post';
    if (this.outer === 'I') return serialize.query(this.#over || this.#mainFailed || status !== 'T' ? 'ROLLBACK' : 'COMMIT');
    if (this.#mainFailed || status === 'E') {
      // The agent's transaction failed as it would have without us; our savepoint stays (harmless).
      this.#phase = 'done';
      return undefined;
    }
    return serialize.query(this.#over ? `ROLLBACK TO SAVEPOINT ${this.savepoint}; RELEASE SAVEPOINT ${this.savepoint}` : `RELEASE SAVEPOINT ${this.savepoint}`);
  }

  /** Suffix answers: an error is kept (a failed COMMIT is the agent's to see). */
  post(type: number, raw: Buffer | undefined): void {
    if (type === B.ErrorResponse && raw) this.#postError = Buffer.from(raw);
    if (type === B.ReadyForQuery) this.#phase = 'done';
  }

  /** What goes to the client once the guard is done. */
  finish(status: TransactionStatus): GuardResult {
    const out: Buffer[] = [];
    if (this.#over) out.push(this.refusal(this.#rows));
    else if (this.#postError) out.push(this.#postError);
    else if (this.#held) out.push(this.#held);
    this.#resolve();
    return { out, status, rows: this.#rows, over: this.#over };
  }

  /** The session ended first. */
  abandon(): void {
    this.#resolve();
  }
}
