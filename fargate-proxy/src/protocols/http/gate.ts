// What both HTTP-speaking engines (HTTP, Kubernetes) do between policy's decision and the forward:
// hold for a reviewer when policy asks (approval-holds.ts), refuse what was not allowed, refuse a
// session the gateway ended meanwhile, charge the request budgets, and record the request before
// anything is forwarded (no audit, no forward). Each engine answers in its own shape — a problem
// document, a Kubernetes Status — through its `Answers`.
import { countRefusal } from '../../../../core/task/budget.js';
import type { Decision, Principal } from '../../../../core/model.js';
import type { Refusal as ContractRefusal } from '../../../../core/refusal.js';
import type { EnginePorts } from '../../engine.js';
import { reviewIfAsked, type ReviewAsk, type StillWaiting } from './approval-holds.js';
import type { HttpAuditSession } from './audit-session.js';

export interface Answers {
  /** The reviewer has not decided within the wait: record the hold and throw the engine's 503. */
  stillWaiting(w: StillWaiting): Promise<never>;
  /** Policy, or the reviewer (`approvalId` set), did not allow the request (already audited). */
  refused(decision: Decision, approvalId: string | undefined): Error;
  /** A refusal of the one contract: the session ended by the gateway, a spent budget. */
  contract(r: ContractRefusal): Error;
  /** The audit trail refused the request's record (`err`): nothing is forwarded. */
  auditUnavailable(err: Error): Error;
}

export interface GateAsk extends Omit<ReviewAsk, 'stillWaiting' | 'session' | 'audit'> {
  requester: Principal;
  session: HttpAuditSession;
  ports: EnginePorts;
  /** Appends the request's `statement` with this decision. */
  auditRequest: (d: Decision, approvalId?: string) => Promise<unknown>;
  answers: Answers;
}

/** Returns when the request may be forwarded (allowed, recorded); throws the engine's answer otherwise. */
export async function passGate(g: GateAsk): Promise<{ decision: Decision; approvalId?: string }> {
  const { ports, session: s, answers } = g;
  const { decision, approvalId } = await reviewIfAsked({ ...g, audit: ports.audit, stillWaiting: answers.stillWaiting });
  if (decision.effect !== 'allow') {
    countRefusal(g.requester);
    await g.auditRequest(decision, approvalId);
    throw answers.refused(decision, approvalId);
  }
  // Ended while it waited (held for a reviewer): nothing more is forwarded for this session.
  if (s.refusal) throw answers.contract(s.refusal);
  // The task's and the agent's request rates (issue 32): charged once policy allowed, before forwarding.
  const spent = ports.sessions?.charge(g.requester, 'requests') ?? (await ports.sessions?.chargeFleetRate(s.sessionId, g.requester));
  if (spent) {
    await g.auditRequest({ effect: 'deny', policyIds: [], policyVersion: decision.policyVersion, reason: `budget_exceeded: ${spent.message}` }, approvalId).catch(() => undefined);
    throw answers.contract(spent);
  }
  try {
    await g.auditRequest(decision, approvalId);
  } catch (err) {
    throw answers.auditUnavailable(err as Error);
  }
  return { decision, approvalId };
}
