// Cedar answers allow/deny; Airlock needs allow/deny/approve with a reason an agent can read.
import type { AuthorizationAnswer } from '@cedar-policy/cedar-wasm/nodejs';
import type { Decision } from '../model.js';
import type { PolicyInfo } from './compile.js';

/**
 * `what` names the request for humans, e.g. `write on target "orders"`.
 * Fails closed: an evaluation failure, or a forbid that could not be evaluated, denies.
 */
export function toDecision(
  answer: AuthorizationAnswer,
  info: ReadonlyMap<string, PolicyInfo>,
  policyVersion: string,
  what: string,
): Decision {
  if (answer.type === 'failure') {
    // Cedar's message describes our own request construction, not the agent's doing; keep it out of the reason.
    return { effect: 'deny', policyIds: [], policyVersion, reason: `policy evaluation failed for ${what}; denied` };
  }
  const { decision, diagnostics } = answer.response;

  // Cedar skips a policy whose evaluation errors. Skipping a permit is safe; skipping a forbid would
  // let through what its author meant to stop.
  const brokenForbids = diagnostics.errors.map((e) => e.policyId).filter((id) => info.get(id)?.effect === 'forbid');
  if (brokenForbids.length > 0) {
    return {
      effect: 'deny',
      policyIds: unique(brokenForbids),
      policyVersion,
      reason: `${cite(brokenForbids)} could not be evaluated for ${what}; denied to be safe`,
    };
  }

  const matched = diagnostics.reason.map((id) => info.get(id)).filter((p): p is PolicyInfo => p !== undefined);
  if (decision === 'deny') {
    if (matched.length === 0) {
      return { effect: 'deny', policyIds: [], policyVersion, reason: `no policy permits ${what}` };
    }
    return { effect: 'deny', policyIds: ids(matched), policyVersion, reason: `${cite(ids(matched))} forbids ${what}${because(matched)}` };
  }

  const plain = matched.filter((p) => !p.needsApproval);
  if (plain.length > 0) {
    return { effect: 'allow', policyIds: ids(plain), policyVersion, reason: `${cite(ids(plain))} permits ${what}` };
  }
  return {
    effect: 'approve',
    policyIds: ids(matched),
    policyVersion,
    reason: `${what} needs human approval (${cite(ids(matched))})${because(matched)}`,
  };
}

/** Deny beats approve beats allow; the winners' policies and reasons are kept, the rest dropped. */
export function combineDecisions(ds: Decision[]): Decision {
  const first = ds[0];
  if (!first) return { effect: 'deny', policyIds: [], policyVersion: '', reason: 'nothing to authorize' };
  const winner: Decision['effect'] = ds.some((d) => d.effect === 'deny')
    ? 'deny'
    : ds.some((d) => d.effect === 'approve')
      ? 'approve'
      : 'allow';
  const deciding = ds.filter((d) => d.effect === winner);
  return {
    effect: winner,
    policyIds: unique(deciding.flatMap((d) => d.policyIds)),
    policyVersion: first.policyVersion,
    reason: unique(deciding.map((d) => d.reason)).join('; '),
  };
}

function ids(policies: PolicyInfo[]): string[] {
  return unique(policies.map((p) => p.id));
}

function cite(policyIds: string[]): string {
  const quoted = policyIds.map((id) => `"${id}"`);
  return quoted.length === 1 ? `policy ${quoted[0]}` : `policies ${quoted.join(', ')}`;
}

function because(policies: PolicyInfo[]): string {
  const reasons = unique(policies.flatMap((p) => (p.reason ? [p.reason] : [])));
  return reasons.length > 0 ? `: ${reasons.join('; ')}` : '';
}

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}
