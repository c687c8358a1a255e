// Building a request record and reading its outcome.
import type { ApprovalOutcome, ApprovalRecord, ApprovalRequestInput } from './types.js';

export const DEFAULT_APPROVAL_TIMEOUT_MS = 15 * 60_000;

export function newApprovalRecord(id: string, input: ApprovalRequestInput, now: number, timeoutMs: number): ApprovalRecord {
  const record: ApprovalRecord = {
    id,
    state: 'pending',
    // Only what a reviewer and the auditor need: never the token itself.
    requester: { id: input.requester.id, groups: [...input.requester.groups], issuer: input.requester.issuer },
    target: { ...input.target, tags: { ...input.target.tags } },
    sessionId: input.sessionId,
    statementId: input.statementId,
    statementText: input.statementText,
    statementClass: input.statementClass,
    policyIds: [...input.policyIds],
    shape: input.shape,
    createdAt: now,
    expiresAt: now + timeoutMs,
  };
  if (input.requester.clientId !== undefined) record.requester.clientId = input.requester.clientId;
  if (input.agentReason !== undefined && input.agentReason !== '') record.agentReason = input.agentReason;
  return record;
}

/** The outcome of a settled record; undefined while it is pending. */
export function outcomeOf(record: ApprovalRecord): ApprovalOutcome | undefined {
  switch (record.state) {
    case 'pending':
      return undefined;
    case 'approved': {
      const outcome: ApprovalOutcome = { state: 'approved', reviewer: record.reviewer ?? 'unknown', scope: record.scope ?? 'once' };
      if (record.reason !== undefined) outcome.reason = record.reason;
      return outcome;
    }
    default: {
      const outcome: ApprovalOutcome = { state: record.state, reason: record.reason ?? record.state };
      if (record.reviewer !== undefined) outcome.reviewer = record.reviewer;
      return outcome;
    }
  }
}

/** A pending record past its deadline is expired even before anything marks it so. */
export function isOverdue(record: ApprovalRecord, now: number): boolean {
  return record.state === 'pending' && now >= record.expiresAt;
}
