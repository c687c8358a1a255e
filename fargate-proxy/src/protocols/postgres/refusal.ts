// The one refusal contract (core/refusal.ts) in PostgreSQL's words: the SQLSTATE keeps its
// PostgreSQL meaning, DETAIL carries `airlock: code=… task=… budget=…`, HINT what to do next.
import { refusalDetail, refusalHint, type Refusal, type RefusalCode } from '../../../../core/refusal.js';
import type { Decision, StatementInspection } from '../../../../core/model.js';
import { scopeToAsk } from '../../../../core/task/scope.js';
import { errorResponse } from './backend.js';
import { SQLSTATE } from './errors.js';

/** SQLSTATE of a refused statement (the session carries on). */
const STATEMENT_SQLSTATE: Record<RefusalCode, string> = {
  policy_denied: SQLSTATE.insufficientPrivilege,
  approval_required: SQLSTATE.insufficientPrivilege,
  approval_denied: SQLSTATE.insufficientPrivilege,
  budget_exceeded: SQLSTATE.programLimitExceeded,
  task_expired: SQLSTATE.invalidAuthorization,
  session_killed: '57P01', // admin_shutdown
};

export function statementRefusal(r: Refusal, extraDetail?: string): Buffer {
  return errorResponse({
    severity: 'ERROR',
    code: STATEMENT_SQLSTATE[r.code],
    message: `Airlock refused this statement: ${r.message}`,
    detail: extraDetail ? `${refusalDetail(r)}; ${extraDetail}` : refusalDetail(r),
    hint: refusalHint(r),
  });
}

/** The FATAL that ends a session: admin_shutdown, as when an administrator terminates a backend. */
export function sessionEndRefusal(r: Refusal): Buffer {
  return errorResponse({ severity: 'FATAL', code: '57P01', message: `Airlock ended this session: ${r.message}`, detail: refusalDetail(r), hint: refusalHint(r) });
}

/** SQLSTATE for a refused login. */
export function loginSqlstate(r: Refusal): string {
  if (r.code === 'budget_exceeded') return '53300'; // too_many_connections
  if (r.code === 'policy_denied') return SQLSTATE.invalidAuthorization;
  return SQLSTATE.invalidAuthorization;
}

/** The gateway's answer to a refused message: the ErrorResponse to send (what to audit is audited where it is made). */
export class Refused {
  constructor(readonly error: Buffer) {}
}

/** A statement refused by policy (or by a hold that ended without approval), with the task scope that would cover it. */
export function policyRefusal(s: StatementInspection, d: Decision, taskId: string | undefined, why?: string): Buffer {
  const policies = d.policyIds.length ? d.policyIds.join(', ') : '(default deny)';
  const code = d.effect === 'approve' ? 'approval_required' : 'policy_denied';
  // A task can only lift a default deny: a forbid that matched (policyIds) refuses inside any task too.
  const liftableByTask = d.effect === 'deny' && d.policyIds.length === 0;
  const access = !liftableByTask ? undefined : s.class === 'read' ? 'read' : s.class === 'write' || s.class === 'destructive' ? 'write' : undefined;
  const contract: Refusal = { code, message: why ?? d.reason, next: { ...(access ? { taskScope: scopeToAsk(access, s.tables) } : {}), ...(taskId ? { taskId } : {}) } };
  return errorResponse({
    severity: 'ERROR',
    code: SQLSTATE.insufficientPrivilege,
    message: `Airlock refused this ${s.class} statement: ${why ?? d.reason}`,
    detail: `${refusalDetail(contract)}; policy: ${policies}; class: ${s.class}; policy version: ${d.policyVersion}${s.reasons.length ? `; found: ${s.reasons.join('; ')}` : ''}`,
    hint: d.effect === 'approve' ? 'This statement needs a reviewer’s approval.' : refusalHint(contract),
  });
}

export function parseRefusal(error: string): Buffer {
  return errorResponse({ severity: 'ERROR', code: SQLSTATE.syntaxError, message: `Airlock refused a statement it cannot parse: ${error}` });
}

/** Nothing runs that the audit trail did not take first. */
export function auditRefusal(reason: string): Buffer {
  return errorResponse({ severity: 'ERROR', code: SQLSTATE.systemError, message: `Airlock refused the statement: the audit trail cannot accept events (${reason})` });
}
