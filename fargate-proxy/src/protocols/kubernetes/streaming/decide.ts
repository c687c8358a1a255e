// One decision of a streaming request (an exec's command, a shell opened, a typed line, a port):
// the engine's `decide` (policy, then a reviewer when policy asks), then the statement event,
// appended before anything reaches the API server. No audit, no forward.
import type { StatementClass } from '../../../../../core/model.js';
import type { CommandInspection } from '../../../../../core/shell/index.js';
import type { DecisionWaiting, K8sExecContext, StreamingContext, StreamingDecisionRequest, StreamingVerdict } from './contract.js';
import type { ExecParams } from './request.js';

export interface Decided {
  allowed: boolean;
  statementId: string;
  verdict: StreamingVerdict;
  /** For the agent when refused: one line, no secrets. */
  message?: string;
}

const EMPTY: Pick<CommandInspection, 'class' | 'binaries' | 'argv' | 'categories' | 'sudo' | 'paths' | 'reasons'> = {
  class: 'read', binaries: [], argv: [], categories: [], sudo: false, paths: [], reasons: [],
};

export function execContext(ctx: StreamingContext, subresource: 'exec' | 'attach', p: ExecParams, input: K8sExecContext['input'], c: Pick<CommandInspection, 'class' | 'binaries' | 'argv' | 'categories' | 'sudo' | 'paths'> = EMPTY): K8sExecContext {
  return {
    subresource,
    namespace: ctx.attributes.namespace,
    pod: ctx.attributes.name,
    container: p.container,
    stdin: p.stdin,
    tty: p.tty,
    input,
    class: c.class,
    binaries: [...new Set(c.binaries)],
    argv: [...new Set(c.argv)],
    categories: [...new Set(c.categories)],
    sudo: c.sudo,
    paths: [...new Set(c.paths)],
  };
}

export interface Ask {
  /** Shown to reviewers and kept in the audit event (masked here). */
  text: string;
  class: StatementClass;
  reasons: string[];
  request: Omit<StreamingDecisionRequest, 'statementId' | 'text' | 'class' | keyof DecisionWaiting>;
  /** Audit `statementTypes` besides the action: the request kind and the command's categories. */
  types: string[];
  /** Audit `functions` (programs run) and `tables` (files written, or pod:port). */
  functions: string[];
  tables: string[];
  /** Refused whatever policy says (the gateway cannot follow the input). */
  unfollowable?: string;
  /** Refused whatever policy says (what was judged cannot be sent as judged): the reason as given. */
  unforwardable?: string;
  waiting?: DecisionWaiting;
}

export async function decideStreaming(ctx: StreamingContext, ask: Ask): Promise<Decided> {
  const statementId = ctx.audit.nextStatementId();
  const text = ctx.masker?.maskText(ask.text) ?? ask.text;
  let verdict: StreamingVerdict;
  if (ask.unfollowable) {
    verdict = { effect: 'deny', policyIds: [], policyVersion: '', reason: `the gateway cannot follow the shell through this input: ${ask.unfollowable}` };
  } else if (ask.unforwardable) {
    verdict = { effect: 'deny', policyIds: [], policyVersion: '', reason: ask.unforwardable };
  } else {
    try {
      verdict = await ctx.decide({ ...ask.request, statementId, text, class: ask.class, ...ask.waiting } as StreamingDecisionRequest);
    } catch (err) {
      verdict = { effect: 'deny', policyIds: [], policyVersion: '', reason: `the decision could not be made (${(err as Error).message}); denied` };
    }
  }
  ctx.audit.onStatement?.();
  const health = ctx.audit.sink.health();
  const event = {
    type: 'statement' as const,
    sessionId: ctx.audit.sessionId,
    statementId,
    text,
    class: ask.class,
    statementTypes: [ask.request.action, ...ask.types],
    tables: ask.tables,
    functions: ask.functions,
    decision: { effect: verdict.effect, policyIds: verdict.policyIds, policyVersion: verdict.policyVersion, reason: verdict.reason },
    ...(verdict.approvalId && { approvalId: verdict.approvalId }),
  };
  const why = `class ${ask.class}${ask.reasons.length ? `: ${ask.reasons.join('; ')}` : ''}`;
  if (verdict.effect !== 'allow') {
    await ctx.audit.sink.append(event).catch((err: Error) => ctx.log?.error({ err: err.message }, 'audit of a refused streaming request failed'));
    const by = verdict.policyIds.length ? verdict.policyIds.join(', ') : '(default deny)';
    return { allowed: false, statementId, verdict, message: `airlock: refused: ${verdict.reason} (${why}; policy ${by}${verdict.policyVersion ? `; version ${verdict.policyVersion}` : ''})` };
  }
  if (!health.ok) return { allowed: false, statementId, verdict, message: `airlock: refused: the audit trail cannot accept events (${health.reason})` };
  try {
    await ctx.audit.sink.append(event);
  } catch (err) {
    return { allowed: false, statementId, verdict, message: `airlock: refused: the audit trail cannot accept events (${(err as Error).message})` };
  }
  return { allowed: true, statementId, verdict };
}

/** A command's decision: the facts of its inspection as context and audit fields. */
export function commandAsk(ctx: StreamingContext, subresource: 'exec' | 'attach', p: ExecParams, input: K8sExecContext['input'], c: CommandInspection, waiting?: DecisionWaiting, unfollowable?: string): Ask {
  return {
    text: c.text,
    class: c.class,
    reasons: c.reasons,
    request: { action: 'k8s_exec', context: execContext(ctx, subresource, p, input, c), shape: `k8s-${input}:${c.binaries.join(' ')}|${c.categories.join(',')}|${c.text}` },
    types: [`k8s.${subresource}.${input}`, ...c.categories],
    functions: c.binaries,
    tables: c.paths,
    unfollowable,
    waiting,
  };
}

/** Audits a refusal made before any policy question (a protocol the gateway does not speak, bad parameters or framing). */
export async function auditRefused(ctx: StreamingContext, text: string, message: string): Promise<void> {
  ctx.audit.onStatement?.();
  await ctx.audit.sink
    .append({
      type: 'statement',
      sessionId: ctx.audit.sessionId,
      statementId: ctx.audit.nextStatementId(),
      text,
      class: 'opaque',
      statementTypes: [`k8s.${ctx.attributes.subresource}`, 'refused_request'],
      tables: [],
      functions: [],
      decision: { effect: 'deny', policyIds: [], policyVersion: '', reason: message },
    })
    .catch((err: Error) => ctx.log?.error({ err: err.message }, 'audit of a refused streaming request failed'));
}
