// What a session's names mean: protocol-level prepared statements and portals, and SQL-level
// PREPARE names. A change of named statements takes effect only when the server confirms it
// (ParseComplete, CloseComplete): a Parse it rejects must not make the gateway believe the name
// means the new text.
import type { Inspection, StatementInspection } from '../../../../core/model.js';

/** A statement as prepared on the upstream (extended protocol), with what inspection made of it. */
export interface Prepared {
  text: string;
  inspection: Extract<Inspection, { ok: true }>;
  /** For a portal: the values bound to it, masked for the audit. */
  params?: string[];
  /** Parameter types the Parse declared that are not built in (parameter-types.ts): the statement stays opaque. */
  userParameterTypes?: number[];
}

/** A change of named statements that takes effect when the server confirms it. */
export type Unconfirmed = { kind: 'parse' | 'close' | 'ready'; apply: () => void };
const READY: Unconfirmed = { kind: 'ready', apply: () => undefined };

type SqlPreparing = StatementInspection & { prepare?: { name: string; body: StatementInspection }; deallocate?: string };

export class SessionNames {
  readonly statements = new Map<string, Prepared>();
  readonly portals = new Map<string, Prepared | undefined>();
  /** SQL-level PREPARE names, for EXECUTE. */
  readonly sqlPrepared = new Map<string, StatementInspection>();
  /** Changes forwarded and not yet confirmed, in order, with a READY per ReadyForQuery due from the upstream. */
  #unconfirmed: Unconfirmed[] = [];
  #confirmedWaiters: (() => void)[] = [];

  /** Whether a forwarded change of names is still to be confirmed by the server. */
  get changePending(): boolean {
    return this.#unconfirmed.some((e) => e !== READY);
  }

  /** Whether the next ParseComplete/CloseComplete may confirm a change (the scanner peeks at it then). */
  get changeAtHead(): boolean {
    return this.#unconfirmed[0] !== READY;
  }

  /** Resolves once no change of names is left unconfirmed. */
  whenConfirmed(): Promise<void> {
    return new Promise<void>((resolve) => this.#confirmedWaiters.push(resolve));
  }

  /** Changes that went upstream with a batch. */
  forwarded(effects: Unconfirmed[]): void {
    for (const e of effects) this.#unconfirmed.push(e);
  }

  /** A Query or Sync went upstream: a ReadyForQuery is due. */
  readyDue(): void {
    this.#unconfirmed.push(READY);
  }

  /** A ParseComplete or CloseComplete from the server. */
  confirmed(kind: 'parse' | 'close'): void {
    const head = this.#unconfirmed[0];
    if (head && head.kind === kind) {
      this.#unconfirmed.shift();
      head.apply();
      this.#maybeConfirmed();
    }
  }

  /** A ReadyForQuery from the server: whatever was not confirmed before it the server skipped after an error. */
  ready(): void {
    const through = this.#unconfirmed.indexOf(READY);
    if (through === 0) this.#unconfirmed.shift();
    else if (through > 0) {
      this.#unconfirmed.splice(0, through + 1);
      this.#maybeConfirmed();
    }
  }

  #maybeConfirmed(): void {
    if (this.#confirmedWaiters.length === 0 || this.changePending) return;
    for (const w of this.#confirmedWaiters.splice(0)) w();
  }

  /** What a statement does to the session's prepared names when it succeeds; undefined for most. */
  effectOf(s: StatementInspection): (() => void) | undefined {
    const ext = s as SqlPreparing;
    if (!ext.prepare && ext.deallocate === undefined && s.statementTypes[0] !== 'DiscardStmt') return undefined;
    return () => this.#remember(ext);
  }

  // PREPARE, DEALLOCATE and DISCARD change what the session's names mean once the server has done them.
  #remember(s: SqlPreparing): void {
    // Names exactly as the parser folded them: `"WIPE"` and `wipe` are two statements to the server.
    if (s.prepare) this.sqlPrepared.set(s.prepare.name, s.prepare.body);
    if (s.deallocate === '*') this.sqlPrepared.clear();
    else if (s.deallocate) this.sqlPrepared.delete(s.deallocate);
    if (s.statementTypes[0] === 'DiscardStmt') {
      this.sqlPrepared.clear();
      this.statements.clear();
      this.portals.clear();
    }
  }
}
