// Refusals as RFC 9457 problem details (application/problem+json), each with a stable `code` an
// agent can act on. Nothing from the upstream and no credential ever appears in one.
import type { Decision } from '../../../../core/model.js';
import { refusalHint, type Refusal } from '../../../../core/refusal.js';

export interface Problem {
  status: number;
  /** Stable machine code, e.g. `policy_denied`, `approval_required`, `path_above_base`. */
  code: string;
  title: string;
  detail?: string;
  requestId?: string;
  policyIds?: string[];
  policyVersion?: string;
  approvalId?: string;
  reviewUrl?: string;
  /** Seconds, for 429/503 answers. */
  retryAfter?: number;
  // --- tasks (issue 32): the refusal contract's next steps ---
  taskId?: string;
  /** The budget that ran out. */
  budget?: string;
  /** Task scope entries that would cover the refused request. */
  taskScope?: string[];
  /** What to do next, in words. */
  hint?: string;
}

export const PROBLEM_TYPE_BASE = 'https://airlock.dev/problems/';

export function problemBody(p: Problem): string {
  return JSON.stringify({
    type: `${PROBLEM_TYPE_BASE}${p.code}`,
    title: p.title,
    status: p.status,
    code: p.code,
    ...(p.detail !== undefined && { detail: p.detail }),
    ...(p.requestId !== undefined && { requestId: p.requestId }),
    ...(p.policyIds !== undefined && { policyIds: p.policyIds }),
    ...(p.policyVersion !== undefined && { policyVersion: p.policyVersion }),
    ...(p.approvalId !== undefined && { approvalId: p.approvalId }),
    ...(p.reviewUrl !== undefined && { reviewUrl: p.reviewUrl }),
    ...(p.retryAfter !== undefined && { retryAfter: p.retryAfter }),
    ...(p.taskId !== undefined && { taskId: p.taskId }),
    ...(p.budget !== undefined && { budget: p.budget }),
    ...(p.taskScope !== undefined && { taskScope: p.taskScope }),
    ...(p.hint !== undefined && { hint: p.hint }),
  });
}

export function problemHeaders(p: Problem, body: string): Record<string, string> {
  return {
    'content-type': 'application/problem+json',
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
    ...(p.requestId !== undefined && { 'x-airlock-request-id': p.requestId }),
    ...(p.retryAfter !== undefined && { 'retry-after': String(p.retryAfter) }),
  };
}

/** A policy refusal: names the deciding policies and, when approval could help, how to ask. */
export function policyProblem(d: Decision, requestId: string): Problem {
  return {
    status: 403,
    code: 'policy_denied',
    title: 'Refused by policy',
    detail: d.reason,
    requestId,
    policyIds: d.policyIds,
    policyVersion: d.policyVersion,
  };
}

const REFUSAL_STATUS: Record<Refusal['code'], number> = {
  policy_denied: 403,
  approval_required: 503,
  approval_denied: 403,
  budget_exceeded: 429,
  task_expired: 401,
  session_killed: 403,
};

/** A refusal of the one contract (core/refusal.ts) as problem details: a spent rate is a 429 with Retry-After. */
export function refusalProblem(r: Refusal, requestId: string): Problem {
  const n = r.next ?? {};
  const status = r.code === 'budget_exceeded' && n.retryAfterSeconds === undefined ? 403 : REFUSAL_STATUS[r.code];
  return {
    status,
    code: r.code,
    title: r.message,
    requestId,
    hint: refusalHint(r),
    ...(n.taskId !== undefined && { taskId: n.taskId }),
    ...(n.budget !== undefined && { budget: n.budget }),
    ...(n.taskScope !== undefined && { taskScope: n.taskScope }),
    ...(n.approvalId !== undefined && { approvalId: n.approvalId }),
    ...(n.retryAfterSeconds !== undefined && { retryAfter: n.retryAfterSeconds }),
  };
}
