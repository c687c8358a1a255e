// Holds one SSH request (exec command, shell line, interactive shell, SFTP operation) until a
// reviewer decides, the request expires or the agent goes away. The one path every SSH approval takes.
import { countApproval } from '../../../../core/task/budget.js';
import type { Decision, Principal, StatementClass } from '../../../../core/model.js';
import type { SshGatewayContext, SshTarget } from './context.js';
import { audit } from './decide.js';
import { refusalDetail } from '../../../../core/refusal.js';

export interface HoldScope {
  ctx: SshGatewayContext;
  sessionId: string;
  principal: Principal;
  target: SshTarget;
  /** Tells the agent it is waiting; absent where the protocol has nowhere to say it (SFTP). */
  notify?(line: string): void;
  /** Withdraws the request when the agent goes away. */
  onAbort?(cancel: (reason: string) => void): void;
}

export interface HoldRequest {
  statementId: string;
  /** What the reviewer sees (already masked by the caller when it may hold data). */
  text: string;
  class: StatementClass;
  /** Standing grants match on this: same shape, same kind of request. */
  shape: string;
  /** For the agent: "this write command", "this interactive shell", "this file_write". */
  what: string;
}

export type HoldResult =
  | { approved: true; decision: Decision; approvalId: string }
  | { approved: false; decision: Decision; approvalId?: string; message: string };

const policies = (d: Decision) => (d.policyIds.length ? d.policyIds.join(', ') : '(default deny)');

export async function holdForApproval(scope: HoldScope, req: HoldRequest, decision: Decision): Promise<HoldResult> {
  const { ctx, principal, target } = scope;
  if (!ctx.approvals) return { approved: false, decision, message: `airlock: refused: ${req.what} needs approval and no approval service is configured` };
  let pending;
  try {
    pending = await ctx.approvals.request(
      {
        requester: principal,
        target: target.info,
        sessionId: scope.sessionId,
        statementId: req.statementId,
        statementText: req.text,
        statementClass: req.class,
        policyIds: decision.policyIds,
        shape: req.shape,
      },
      (e) => void audit(ctx, { type: 'approval', sessionId: scope.sessionId, statementId: req.statementId, approvalId: e.approvalId, state: e.state as 'pending', reviewer: e.reviewer, reason: e.reason }),
    );
  } catch (err) {
    return { approved: false, decision, message: `airlock: refused: approval is required but the approval service is unavailable (${(err as Error).message})` };
  }
  scope.onAbort?.((reason) => void pending.cancel(reason));
  scope.notify?.(`airlock: ${req.what} needs approval (${policies(decision)}); request ${pending.id} is waiting for a reviewer: ${pending.reviewUrl}`);
  const outcome = await pending.outcome;
  if (outcome.state !== 'approved') {
    const by = outcome.reviewer ? ` by ${outcome.reviewer}` : '';
    return {
      approved: false,
      approvalId: pending.id,
      decision: { ...decision, effect: 'deny', reason: `approval ${outcome.state}: ${outcome.reason}` },
      message: `airlock: refused: approval ${outcome.state}${by}: ${outcome.reason} (request ${pending.id})\n${refusalDetail({ code: 'approval_denied', message: outcome.reason, next: { approvalId: pending.id } })}`,
    };
  }
  countApproval(principal);
  return { approved: true, approvalId: pending.id, decision: { ...decision, effect: 'allow', reason: `approved by ${outcome.reviewer}` } };
}
