// The one refusal contract (core/refusal.ts) in PostgreSQL's words: the SQLSTATE keeps its
// PostgreSQL meaning, DETAIL carries `airlock: code=… task=… budget=…`, HINT what to do next.
import { refusalDetail, refusalHint, type Refusal, type RefusalCode } from '../../../../core/refusal.js';
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
