// One shell command's path through the gateway: inspect, decide, hold for approval when policy
// asks, and audit the decision before anything reaches the target.
import type { Decision, Principal } from '../../../../core/model.js';
import { inspectCommand, type CommandInspection } from '../../../../core/shell/index.js';
import type { AuditEventInput } from '../../../../core/audit/events.js';
import type { SshGatewayContext, SshTarget } from './context.js';

export interface CommandVerdict {
  command: CommandInspection;
  statementId: string;
  /** Present when the command may run. */
  allowed: boolean;
  /** For the agent's stderr when refused (one line, no secrets). */
  message?: string;
  decision: Decision;
  approvalId?: string;
}

export interface CommandScope {
  ctx: SshGatewayContext;
  sessionId: string;
  principal: Principal;
  target: SshTarget;
  nextStatementId(): string;
  /** Tells the agent something while it waits (approval notices). */
  notify(line: string): void;
  /** Withdraws a held command when the agent goes away. */
  onAbort(cancel: (reason: string) => void): void;
}

export async function decideCommand(scope: CommandScope, text: string, kind: 'exec' | 'shell-line'): Promise<CommandVerdict> {
  const { ctx, principal, target } = scope;
  const command = inspectCommand(text);
  const statementId = scope.nextStatementId();
  const policy = ctx.policy();
  let decision = policy.authorizeCommand(principal, target.info, command);
  let approvalId: string | undefined;
  const refuse = async (d: Decision, message: string): Promise<CommandVerdict> => {
    await append(scope, statementId, command, kind, d, approvalId).catch(() => undefined);
    return { command, statementId, allowed: false, message, decision: d, approvalId };
  };
  const why = `class ${command.class}${command.reasons.length ? `: ${command.reasons.join('; ')}` : ''}`;
  const policies = (d: Decision) => (d.policyIds.length ? d.policyIds.join(', ') : '(default deny)');

  if (decision.effect === 'deny') {
    return refuse(decision, `airlock: refused: ${decision.reason} (${why}; policy ${policies(decision)}; version ${decision.policyVersion})`);
  }
  if (decision.effect === 'approve') {
    if (!ctx.approvals) return refuse(decision, `airlock: refused: this ${command.class} command needs approval and no approval service is configured`);
    let pending;
    try {
      pending = await ctx.approvals.request(
        {
          requester: principal,
          target: target.info,
          sessionId: scope.sessionId,
          statementId,
          statementText: ctx.masker?.maskText(text) ?? text,
          statementClass: command.class,
          policyIds: decision.policyIds,
          shape: `ssh:${command.binaries.join(' ')}|${command.categories.join(',')}|${text}`,
        },
        (e) => void audit(ctx, { type: 'approval', sessionId: scope.sessionId, statementId, approvalId: e.approvalId, state: e.state as 'pending', reviewer: e.reviewer, reason: e.reason }),
      );
    } catch (err) {
      return refuse(decision, `airlock: refused: approval is required but the approval service is unavailable (${(err as Error).message})`);
    }
    approvalId = pending.id;
    scope.onAbort((reason) => void pending.cancel(reason));
    scope.notify(`airlock: this ${command.class} command needs approval (${policies(decision)}); request ${pending.id} is waiting for a reviewer: ${pending.reviewUrl}`);
    const outcome = await pending.outcome;
    if (outcome.state !== 'approved') {
      const by = outcome.reviewer ? ` by ${outcome.reviewer}` : '';
      return refuse({ ...decision, effect: 'deny', reason: `approval ${outcome.state}: ${outcome.reason}` }, `airlock: refused: approval ${outcome.state}${by}: ${outcome.reason} (request ${pending.id})`);
    }
    decision = { ...decision, effect: 'allow', reason: `approved by ${outcome.reviewer}` };
  }
  const health = ctx.audit.health();
  if (!health.ok) return { command, statementId, allowed: false, decision, message: `airlock: refused: the audit trail cannot accept events (${health.reason})` };
  try {
    await append(scope, statementId, command, kind, decision, approvalId);
  } catch (err) {
    return { command, statementId, allowed: false, decision, message: `airlock: refused: the audit trail cannot accept events (${(err as Error).message})` };
  }
  return { command, statementId, allowed: true, decision, approvalId };
}

/**
 * Commands reuse the statement event: `statementTypes` holds the request kind and the command's
 * categories, `functions` the programs run and `tables` the files written.
 */
function append(scope: CommandScope, statementId: string, c: CommandInspection, kind: string, d: Decision, approvalId?: string) {
  return scope.ctx.audit.append({
    type: 'statement',
    sessionId: scope.sessionId,
    statementId,
    text: scope.ctx.masker?.maskText(c.text) ?? c.text,
    class: c.class,
    statementTypes: [`ssh.${kind}`, ...c.categories],
    tables: c.paths,
    functions: c.binaries,
    decision: { effect: d.effect, policyIds: d.policyIds, policyVersion: d.policyVersion, reason: d.reason },
    approvalId,
  });
}

export async function audit(ctx: SshGatewayContext, e: AuditEventInput): Promise<void> {
  try {
    await ctx.audit.append(e);
  } catch (err) {
    ctx.log.error({ err: (err as Error).message, type: e.type }, 'audit append failed');
  }
}
