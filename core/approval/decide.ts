// The reviewer's side of an approval: validate, authorize, settle (first decision wins), leave a grant.
// Used by the local console and by the AWS decision Lambda alike.
import type { Principal } from '../model.js';
import { DEFAULT_GRANT_MINUTES, MAX_GRANT_MINUTES, grantFromApproval } from './grants.js';
import { isOverdue } from './record.js';
import { checkReviewerFor } from './reviewer.js';
import type { ApprovalRecord, ApprovalStore, ReviewerDecision, Settlement } from './types.js';

export const MAX_REASON_LENGTH = 500;

export type DecideResult =
  /** `first` is false when the request was already settled: `record` then carries the stored outcome. */
  | { ok: true; first: boolean; record: ApprovalRecord }
  | { ok: false; status: 'not-found' | 'forbidden' | 'invalid'; error: string };

/** Validates an untrusted decision (from a web form, the CLI or Slack). */
export function parseDecision(raw: unknown): { ok: true; decision: ReviewerDecision } | { ok: false; error: string } {
  if (typeof raw !== 'object' || raw === null) return { ok: false, error: 'decision must be an object' };
  const r = raw as Record<string, unknown>;
  const reason = r.reason === undefined ? undefined : typeof r.reason === 'string' ? r.reason.trim() : null;
  if (reason === null) return { ok: false, error: 'reason must be a string' };
  if (reason !== undefined && reason.length > MAX_REASON_LENGTH) return { ok: false, error: `reason is longer than ${MAX_REASON_LENGTH} characters` };
  if (r.verdict === 'deny') {
    if (!reason) return { ok: false, error: 'a denial needs a reason' };
    return { ok: true, decision: { verdict: 'deny', reason } };
  }
  if (r.verdict !== 'approve') return { ok: false, error: 'verdict must be approve or deny' };
  const scope = r.scope ?? 'once';
  if (scope !== 'once' && scope !== 'shape' && scope !== 'session') return { ok: false, error: 'scope must be once, shape or session' };
  const decision: ReviewerDecision = { verdict: 'approve', scope };
  if (scope !== 'once') {
    const minutes = r.minutes ?? DEFAULT_GRANT_MINUTES;
    if (typeof minutes !== 'number' || !Number.isInteger(minutes) || minutes < 1 || minutes > MAX_GRANT_MINUTES) {
      return { ok: false, error: `minutes must be an integer from 1 to ${MAX_GRANT_MINUTES}` };
    }
    decision.minutes = minutes;
  }
  if (reason) decision.reason = reason;
  return { ok: true, decision };
}

function settlementFor(decision: ReviewerDecision, reviewer: string, now: number): Settlement {
  if (decision.verdict === 'deny') return { state: 'denied', reviewer, reason: decision.reason, decidedAt: now };
  const s: Settlement = { state: 'approved', reviewer, scope: decision.scope, decidedAt: now };
  if (decision.scope !== 'once') s.scopeMinutes = decision.minutes ?? DEFAULT_GRANT_MINUTES;
  if (decision.reason !== undefined) s.reason = decision.reason;
  return s;
}

export async function decideApproval(
  store: ApprovalStore,
  args: { id: string; reviewer: Principal; decision: ReviewerDecision; reviewerGroups: readonly string[]; now?: number },
): Promise<DecideResult> {
  const now = args.now ?? Date.now();
  const record = await store.get(args.id);
  if (!record) return { ok: false, status: 'not-found', error: 'no such approval request' };
  const allowed = checkReviewerFor(args.reviewer, record, args.reviewerGroups);
  if (!allowed.ok) return { ok: false, status: 'forbidden', error: allowed.error };
  if (record.state !== 'pending') return { ok: true, first: false, record };
  if (isOverdue(record, now)) {
    const expired = await expireApproval(store, args.id, now);
    return { ok: true, first: false, record: expired ?? record };
  }
  const { won, record: stored } = await store.settle(args.id, settlementFor(args.decision, args.reviewer.id, now));
  if (!stored) return { ok: false, status: 'not-found', error: 'no such approval request' };
  if (won) {
    const grant = grantFromApproval(stored);
    if (grant) await store.putGrant(grant);
  }
  return { ok: true, first: won, record: stored };
}

/** pending → expired (no-op if already settled). Returns the stored record. */
export async function expireApproval(store: ApprovalStore, id: string, now = Date.now(), reason = 'no reviewer decided in time'): Promise<ApprovalRecord | undefined> {
  const { record } = await store.settle(id, { state: 'expired', reason, decidedAt: now });
  return record;
}

/** pending → cancelled, e.g. the agent disconnected or the session was killed. */
export async function cancelApproval(store: ApprovalStore, id: string, reason: string, now = Date.now()): Promise<ApprovalRecord | undefined> {
  const { record } = await store.settle(id, { state: 'cancelled', reason, decidedAt: now });
  return record;
}
