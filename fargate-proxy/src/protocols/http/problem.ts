// Refusals as RFC 9457 problem details (application/problem+json), each with a stable `code` an
// agent can act on. Nothing from the upstream and no credential ever appears in one.
import type { Decision } from '../../../../core/model.js';

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
