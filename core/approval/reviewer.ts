// Who may decide a request: an authenticated reviewer, in a reviewer group, who is not the requester.
import type { Principal } from '../model.js';
import type { ApprovalRecord } from './types.js';

export type ReviewerCheck = { ok: true } | { ok: false; error: string };

/** May this principal review at all? An empty reviewerGroups list means nobody may (fail closed). */
export function checkReviewer(reviewer: Principal, reviewerGroups: readonly string[]): ReviewerCheck {
  if (!reviewer.groups.some((g) => reviewerGroups.includes(g))) {
    return { ok: false, error: `principal ${reviewer.id} is not in a reviewer group` };
  }
  return { ok: true };
}

/** May this principal decide this particular request? */
export function checkReviewerFor(reviewer: Principal, record: ApprovalRecord, reviewerGroups: readonly string[]): ReviewerCheck {
  const base = checkReviewer(reviewer, reviewerGroups);
  if (!base.ok) return base;
  // The same human (or agent) cannot approve their own statement, whichever issuer vouched for them.
  if (reviewer.id === record.requester.id) {
    return { ok: false, error: 'a requester cannot review their own request' };
  }
  return { ok: true };
}
