// Policy's decision on each statement of a session, remembered by statement facts: principal and
// target are fixed per session, so the same facts under the same policy version get the same decision.
import type { Decision, Principal, StatementInspection } from '../../../../core/model.js';
import { statementDecisionKey } from '../../../../core/policy/request.js';
import type { GatewayContext, PostgresTarget } from '../../context.js';

/** A statement with its policy decision and the id its audit events carry. */
export interface Decided {
  s: StatementInspection;
  d: Decision;
  id: string;
  /** Bound parameter values, masked (extended protocol). */
  params?: string[];
}

const MAX_REMEMBERED_DECISIONS = 256;

type Facts = Pick<StatementInspection, 'tables' | 'functions' | 'statementTypes' | 'class' | 'dmlWithoutWhere' | 'maskedColumnsInPredicates' | 'maskedColumnsTransformed'>;

export class StatementDecisions {
  /** Decisions by statement facts for the policy version in `#version`. */
  #decisions = new Map<string, Decision>();
  #version = '';
  /** The facts (by identity) and decision of the last statement decided, for the policy version in `#version`. */
  #last: (Facts & { decision: Decision }) | undefined;

  constructor(
    private readonly ctx: GatewayContext,
    private readonly principal: Principal,
    private readonly target: PostgresTarget,
  ) {}

  decide(s: StatementInspection): Decision {
    const policy = this.ctx.policy();
    // A task's remaining budget is part of what policy sees: no decision is reused.
    if (this.principal.task) return Object.freeze(policy.authorizeStatement(this.principal, this.target.info, s));
    if (policy.version !== this.#version) {
      this.#decisions.clear();
      this.#last = undefined;
      this.#version = policy.version;
    }
    // A session often repeats one statement shape: its inspections then share their frozen fact
    // arrays, and the same facts get the same decision without building the key.
    const last = this.#last;
    if (
      last &&
      last.tables === s.tables &&
      last.functions === s.functions &&
      last.statementTypes === s.statementTypes &&
      last.class === s.class &&
      last.dmlWithoutWhere === s.dmlWithoutWhere &&
      last.maskedColumnsInPredicates === s.maskedColumnsInPredicates &&
      last.maskedColumnsTransformed === s.maskedColumnsTransformed
    )
      return last.decision;
    const key = statementDecisionKey(s);
    let decision = this.#decisions.get(key);
    if (!decision) {
      decision = Object.freeze(policy.authorizeStatement(this.principal, this.target.info, s));
      if (this.#decisions.size >= MAX_REMEMBERED_DECISIONS) this.#decisions.clear();
      this.#decisions.set(key, decision);
    }
    // Only frozen arrays can stand for their contents by identity.
    const frozen = Object.isFrozen(s.tables) && Object.isFrozen(s.functions) && Object.isFrozen(s.statementTypes);
    this.#last = frozen
      ? {
          tables: s.tables, functions: s.functions, statementTypes: s.statementTypes, class: s.class, dmlWithoutWhere: s.dmlWithoutWhere,
          maskedColumnsInPredicates: s.maskedColumnsInPredicates, maskedColumnsTransformed: s.maskedColumnsTransformed, decision,
        }
      : undefined;
    return decision;
  }
}
