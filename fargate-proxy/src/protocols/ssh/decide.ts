// One shell command's path through the gateway: inspect, decide, hold for approval when policy
// asks, and audit the decision before anything reaches the target.
import { countRefusal } from '../../../../core/task/budget.js';
import type { Decision, Principal } from '../../../../core/model.js';
import { inspectCommand, targetCommand, type CommandInspection, type InheritedVariable, type ShellState } from '../../../../core/shell/index.js';
import type { AuditEventInput } from '../../../../core/audit/events.js';
import { refusalDetail, refusalHint, type Refusal } from '../../../../core/refusal.js';
import { scopeToAsk } from '../../../../core/task/scope.js';
import type { SshGatewayContext, SshTarget } from './context.js';
import { holdForApproval } from './approval-hold.js';

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

/** What the session knows beyond the command's text (an interactive shell's state). */
export interface CommandContext {
  /** Reasons the command cannot be known from its text alone: it is judged opaque. */
  opaque?: string[];
  /** Why the gateway cannot follow the shell through this text: refused whatever policy says. */
  unfollowable?: string;
  /** What the shell kept from earlier commands (its working directory). */
  shell?: ShellState;
}

export async function decideCommand(scope: CommandScope, text: string, kind: 'exec' | 'shell-line', context: CommandContext = {}): Promise<CommandVerdict> {
  const { ctx, principal, target } = scope;
  let command = inspectCommand(text, context.shell);
  if (context.opaque?.length) command = { ...command, class: 'opaque', reasons: [...command.reasons, ...context.opaque] };
  const statementId = scope.nextStatementId();
  const policy = ctx.policy();
  if (context.unfollowable) {
    const reason = `the gateway cannot follow the shell through this input: ${context.unfollowable}`;
    const d: Decision = { effect: 'deny', policyIds: [], policyVersion: policy.version, reason };
    await append(scope, statementId, command, kind, d).catch(() => undefined);
    countRefusal(principal);
    return { command, statementId, allowed: false, message: `airlock: refused: ${reason}\n${refusalDetail({ code: 'policy_denied', message: reason })}`, decision: d };
  }
  let decision = policy.authorizeCommand(principal, target.info, command);
  let approvalId: string | undefined;
  const refuse = async (d: Decision, message: string): Promise<CommandVerdict> => {
    await append(scope, statementId, command, kind, d, approvalId).catch(() => undefined);
    return { command, statementId, allowed: false, message, decision: d, approvalId };
  };
  const why = `class ${command.class}${command.reasons.length ? `: ${command.reasons.join('; ')}` : ''}`;
  const policies = (d: Decision) => (d.policyIds.length ? d.policyIds.join(', ') : '(default deny)');

  if (decision.effect === 'deny') {
    // A task can only lift a default deny: a forbid that matched refuses inside any task too.
    const access = decision.policyIds.length > 0 ? undefined : command.class === 'read' ? 'read' : command.class === 'write' || command.class === 'destructive' ? 'write' : undefined;
    countRefusal(principal);
    const contract: Refusal = { code: 'policy_denied', message: decision.reason, next: { ...(access ? { taskScope: scopeToAsk(access, []) } : {}), ...(principal.task ? { taskId: principal.task.id } : {}) } };
    return refuse(decision, `airlock: refused: ${decision.reason} (${why}; policy ${policies(decision)}; version ${decision.policyVersion})\n${refusalDetail(contract)}${access ? `\nairlock: ${refusalHint(contract)}` : ''}`);
  }
  if (decision.effect === 'approve') {
    const held = await holdForApproval(
      scope,
      {
        statementId,
        text: ctx.masker?.maskText(text) ?? text,
        class: command.class,
        shape: `ssh:${command.binaries.join(' ')}|${command.categories.join(',')}|${text}`,
        what: `this ${command.class} command`,
      },
      decision,
    );
    approvalId = held.approvalId;
    if (!held.approved) {
      countRefusal(principal);
      return refuse(held.decision, held.message);
    }
    decision = held.decision;
  }
  // The task's and the agent's command budgets (issue 32): charged once policy allowed, before it runs.
  const spent = ctx.sessions?.charge(principal, 'commands') ?? (await ctx.sessions?.chargeFleet(scope.sessionId, principal, 'commands', 1));
  if (spent) {
    const d: Decision = { effect: 'deny', policyIds: [], policyVersion: decision.policyVersion, reason: `budget_exceeded: ${spent.message}` };
    return refuse(d, `airlock: refused: ${spent.message}\n${refusalDetail(spent)}\nairlock: ${refusalHint(spent)}`);
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
 * What the target is given for an allowed exec command: the command rebuilt from the gateway's
 * own parse, under `env -i` (see core/shell/forward.ts), so that the target's shell cannot read the
 * agent's text differently from the gateway. Only a command policy explicitly allowed although
 * it is opaque (nothing could be rebuilt) goes as the agent sent it: that is the policy's call.
 */
export function execText(command: CommandInspection, env: Record<string, string>, inherit: InheritedVariable[] = []): string {
  return command.rebuilt === undefined ? command.text : targetCommand(command.rebuilt, env, inherit);
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
