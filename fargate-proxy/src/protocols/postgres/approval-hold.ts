// A statement policy sends for review: recorded in the trail before the hold (a crash while it
// waits loses nothing), the client told with a NOTICE, and run once approved or refused otherwise.
import { agentReasonFrom } from '../../../../core/approval/agent-reason.js';
import type { PendingApproval } from '../../../../core/approval/types.js';
import { countApproval } from '../../../../core/task/budget.js';
import type { Decision, Principal, StatementInspection } from '../../../../core/model.js';
import type { Masker } from '../../../../core/mask/index.js';
import type { GatewayContext, PostgresTarget } from '../../context.js';
import { errorResponse, noticeResponse } from './backend.js';
import { SQLSTATE } from './errors.js';
import { Refused } from './refusal.js';
import type { StatementAudit } from './statement-audit.js';
import type { Decided } from './statement-decisions.js';
import { statementShape } from './statement-units.js';

export interface HoldContext {
  ctx: GatewayContext;
  principal: Principal;
  target: PostgresTarget;
  sessionId: string;
  masker?: Masker;
  audit: StatementAudit;
  /** Held statements whose event was appended before the hold: not appended again once approved. */
  recordedBeforeHold: Set<string>;
  /** The SQL the client sent for what is being decided: where the agent's `airlock-reason` comment is. */
  source(): string;
  policyError(s: StatementInspection, d: Decision, why?: string): Buffer;
  /** Sends the gateway's NOTICE in protocol order. */
  notice(buf: Buffer): void;
  /** The request being waited for (a cancel withdraws it), or undefined once it is settled. */
  holding(p: PendingApproval | undefined): void;
}

/** Waits for a reviewer: the approval's id when approved, the refusal to send otherwise. */
export async function holdForApproval(h: HoldContext, { id: statementId, s, d, params }: Decided): Promise<string | Refused> {
  const approvals = h.ctx.approvals;
  if (!approvals) {
    await h.audit.statement(statementId, s, d, undefined, params);
    return new Refused(h.policyError(s, d, 'approval is required and no approval service is configured'));
  }
  // The outcome is the approval's own events (approved, denied, expired, cancelled).
  const recorded = await h.audit.statement(statementId, s, d, undefined, params);
  if (recorded) return recorded;
  h.recordedBeforeHold.add(statementId);
  let pending: PendingApproval;
  try {
    pending = await approvals.request(
      {
        requester: h.principal,
        target: h.target.info,
        sessionId: h.sessionId,
        statementId,
        // Reviewers see the statement with sensitive values (cards, e-mails, keys) masked.
        statementText: h.masker?.maskText(s.text) ?? s.text,
        statementClass: s.class,
        policyIds: d.policyIds,
        shape: statementShape(s.text),
        agentReason: agentReasonFrom(s.text) ?? agentReasonFrom(h.source()),
      },
      (e) => void h.audit.append({ type: 'approval', sessionId: h.sessionId, statementId, approvalId: e.approvalId, state: e.state as 'pending', reviewer: e.reviewer, reason: e.reason }),
    );
  } catch (err) {
    h.recordedBeforeHold.delete(statementId);
    const why = `approval is required but the approval service is unavailable (${(err as Error).message})`;
    await h.audit.statement(statementId, s, { ...d, effect: 'deny', reason: why }, undefined, params);
    return new Refused(h.policyError(s, d, why));
  }
  const grant = pending.standingGrant;
  const needs = `Airlock: this ${s.class} statement needs approval (${d.policyIds.join(', ') || 'policy'})`;
  h.notice(
    noticeResponse(
      grant
        ? { severity: 'NOTICE', code: '01000', message: `${needs}; it runs under the standing ${grant.scope} grant ${grant.reviewer} gave in approval ${grant.approvalId}`, detail: `Review at ${pending.reviewUrl}` }
        : {
            severity: 'NOTICE',
            code: '01000',
            message: `${needs}; request ${pending.id} is waiting for a reviewer`,
            detail: `Review at ${pending.reviewUrl}`,
            hint: 'The statement runs as soon as it is approved. Cancel (Ctrl-C) withdraws the request.',
          },
    ),
  );
  h.holding(pending);
  const outcome = await pending.outcome.finally(() => h.holding(undefined));
  if (outcome.state === 'approved') {
    countApproval(h.principal);
    return pending.id;
  }
  h.recordedBeforeHold.delete(statementId);
  if (outcome.state === 'cancelled') {
    return new Refused(errorResponse({ severity: 'ERROR', code: SQLSTATE.queryCanceled, message: 'canceling statement due to user request', detail: `approval request ${pending.id} was withdrawn` }));
  }
  const by = outcome.reviewer ? ` by ${outcome.reviewer}` : '';
  return new Refused(
    errorResponse({
      severity: 'ERROR',
      code: SQLSTATE.insufficientPrivilege,
      message: `Airlock refused this ${s.class} statement: approval ${outcome.state}${by}: ${outcome.reason}`,
      detail: `airlock: code=approval_denied approval=${pending.id}; approval request ${pending.id}; policy ${d.policyIds.join(', ') || '(default)'}`,
    }),
  );
}
