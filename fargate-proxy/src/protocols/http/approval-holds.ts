// Held HTTP requests. A request that needs approval stays open while a reviewer decides, up to the
// listener's `approvalWaitSeconds`; past that the agent is told to retry (503 + Retry-After) and the
// approval stays alive. An identical retry — same principal, target, method, canonical path, query
// and body hash — picks up the same approval, and once approved runs exactly once: the identity
// covers everything forwarded, so a retry cannot widen what was approved. The hold is recorded in the
// approval store (DynamoDB in AWS), so the retry may reach any gateway task of the fleet.
import { countApproval } from '../../../../core/task/budget.js';
import { createHash } from 'node:crypto';
import type { Decision, Principal, TargetInfo } from '../../../../core/model.js';
import { isHeldLive, MemoryApprovalStore } from '../../../../core/approval/index.js';
import type { ApprovalOutcome, ApprovalService, HeldRequest, HeldRequestStore, PendingApproval } from '../../../../core/approval/types.js';
import type { ApprovalRequestInput } from '../../../../core/approval/types.js';
import type { EnginePorts } from '../../engine.js';

export interface HeldRequestIdentity {
  principal: string;
  target: string;
  method: string;
  path: string;
  query: string;
  bodySha256: string;
}

export type WaitResult =
  | { kind: 'decided'; outcome: ApprovalOutcome; approvalId: string }
  | { kind: 'waiting'; approvalId: string; reviewUrl: string; requestId: string; retryAfterSeconds: number }
  | { kind: 'unavailable'; message: string };

/** The decision a reviewer's answer makes of the one that asked for review (HTTP and Kubernetes holds). */
export function decisionAfterReview(decision: Decision, o: ApprovalOutcome): Decision {
  return o.state === 'approved'
    ? { ...decision, effect: 'allow', reason: `approved by ${o.reviewer}` }
    : { ...decision, effect: 'deny', reason: `approval ${o.state}${o.reviewer ? ` by ${o.reviewer}` : ''}: ${o.reason}` };
}

/**
 * The request's identity as a UUID-shaped digest (version nibble 8: never a random v4 request id),
 * so it is a key of the approval store's own shape.
 */
export function holdKey(id: HeldRequestIdentity): string {
  const h = createHash('sha256').update(JSON.stringify([id.principal, id.target, id.method, id.path, id.query, id.bodySha256])).digest('hex');
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export type StillWaiting = Extract<WaitResult, { kind: 'waiting' }>;

/** One request policy sent to a reviewer, as both engines (HTTP, Kubernetes) hold it. */
export interface ReviewAsk {
  holds: ApprovalHolds;
  /** Policy's decision: only `approve` is held; any other is returned as it is. */
  decision: Decision;
  requester: Principal;
  target: TargetInfo;
  /** What identifies the request besides its principal and target (holdKey). */
  request: Omit<HeldRequestIdentity, 'principal' | 'target'>;
  requestId: string;
  /** What the reviewer is shown (already masked). */
  review: Pick<ApprovalRequestInput, 'statementText' | 'statementClass' | 'shape'>;
  /** The audit session the approval's state changes are recorded in (until it ends). */
  session: { sessionId: string; ended: boolean };
  statementId: string;
  audit: EnginePorts['audit'];
  /** The agent's response: when it closes, the wait ends early. */
  res: { once(event: 'close', listener: () => void): unknown };
  /**
   * The engine's answer when the reviewer has not decided within the listener's wait (its own
   * refusal shape: a problem document, a Kubernetes Status): records the hold and throws it.
   */
  stillWaiting: (w: StillWaiting) => Promise<never>;
}

/** Holds a request policy sent for review and returns the decision the reviewer's answer makes of it. */
export async function reviewIfAsked(a: ReviewAsk): Promise<{ decision: Decision; approvalId?: string }> {
  if (a.decision.effect !== 'approve') return { decision: a.decision };
  const abort = new AbortController();
  a.res.once('close', () => abort.abort());
  const { sessionId } = a.session;
  const waited = await a.holds.wait(
    holdKey({ principal: a.requester.id, target: a.target.name, ...a.request }),
    a.requestId,
    () => ({ requester: a.requester, target: a.target, sessionId, statementId: a.statementId, policyIds: a.decision.policyIds, ...a.review }),
    (e) => {
      if (!a.session.ended) void a.audit.append({ type: 'approval', sessionId, statementId: a.statementId, approvalId: e.approvalId, state: e.state as 'pending', reviewer: e.reviewer, reason: e.reason }).catch(() => undefined);
    },
    abort.signal,
  );
  if (waited.kind === 'unavailable') return { decision: { ...a.decision, effect: 'deny', reason: waited.message } };
  if (waited.kind === 'waiting') return a.stillWaiting(waited);
  if (waited.outcome.state === 'approved') countApproval(a.requester);
  return { decision: decisionAfterReview(a.decision, waited.outcome), approvalId: waited.approvalId };
}

export class ApprovalHolds {
  /** Approvals this task waits on, by id: a retry here reuses the wait instead of starting another. */
  private readonly waits = new Map<string, { pending: PendingApproval; timer: NodeJS.Timeout }>();
  /** Held requests live in the approval store (shared by the fleet); this stands in when a service keeps none. */
  private readonly held: HeldRequestStore;

  constructor(
    private readonly approvals: ApprovalService | undefined,
    /** How long an approval (and so a retry's chance to use it) lives. */
    private readonly lifetimeMs: number,
    private readonly waitMs: number,
  ) {
    this.held = approvals?.heldRequests ?? (new MemoryApprovalStore() as HeldRequestStore);
  }

  /**
   * Waits for the decision on this request: the approval an identical request already waits on
   * (recorded in the approval store, so the retry may come to any gateway task), or a new one.
   * `onEvent` receives approval state changes for the audit trail.
   */
  async wait(
    key: string,
    requestId: string,
    input: () => ApprovalRequestInput,
    onEvent: (e: { state: string; approvalId: string; reviewer?: string; reason?: string }) => void,
    abort: AbortSignal,
  ): Promise<WaitResult> {
    const approvals = this.approvals;
    if (!approvals) return { kind: 'unavailable', message: 'approval is required and no approval service is configured' };
    let pending: PendingApproval | undefined;
    let first: HeldRequest | undefined;
    try {
      const existing = await this.held.getHeld(key);
      if (isHeldLive(existing, Date.now())) {
        pending = await this.attach(existing.approvalId, onEvent);
        if (pending) first = existing;
      }
      if (!pending) {
        pending = await approvals.request(input(), onEvent);
        const mine: HeldRequest = { key, approvalId: pending.id, requestId, reviewUrl: pending.reviewUrl, expiresAt: Date.now() + this.lifetimeMs };
        const put = await this.held.holdRequest(mine, Date.now());
        first = mine;
        if (!put.won && put.current) {
          // Another task held the identical request a moment earlier: wait on its approval instead.
          const theirs = await this.attach(put.current.approvalId, onEvent);
          if (theirs) {
            await pending.cancel('an identical request is already held').catch(() => undefined);
            pending = theirs;
            first = put.current;
          }
        }
      }
    } catch (err) {
      return { kind: 'unavailable', message: `approval is required but the approval service is unavailable (${(err as Error).message})` };
    }
    const p = pending;
    const h = first!;
    this.remember(p);
    let waitTimer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      p.outcome.then((outcome): WaitResult => ({ kind: 'decided', outcome, approvalId: p.id })),
      new Promise<WaitResult>((resolve) => {
        const waiting = (): WaitResult => ({ kind: 'waiting', approvalId: p.id, reviewUrl: h.reviewUrl || p.reviewUrl, requestId: h.requestId, retryAfterSeconds: 5 });
        waitTimer = setTimeout(() => resolve(waiting()), this.waitMs);
        abort.addEventListener('abort', () => resolve(waiting()), { once: true });
      }),
    ]);
    clearTimeout(waitTimer);
    if (result.kind !== 'decided') return result;
    this.forget(p.id);
    // Claimed in the store (a conditional write): of identical retries racing on any tasks, one runs.
    // A refusal is marked too, so the same request later asks again.
    const claimed = await this.held.useHeld(key, p.id, Date.now()).catch(() => false);
    if (result.outcome.state === 'approved' && !claimed) {
      return { kind: 'decided', outcome: { state: 'cancelled', reason: 'this approval was already used by an identical request' }, approvalId: p.id };
    }
    return result;
  }

  close(): void {
    for (const id of [...this.waits.keys()]) this.forget(id);
  }

  /** The wait on an existing approval: this task's own, or resumed from the store. */
  private async attach(approvalId: string, onEvent: (e: { state: string; approvalId: string }) => void): Promise<PendingApproval | undefined> {
    return this.waits.get(approvalId)?.pending ?? (await this.approvals?.resume?.(approvalId, onEvent));
  }

  private remember(p: PendingApproval): void {
    if (this.waits.has(p.id)) return;
    const timer = setTimeout(() => this.forget(p.id), this.lifetimeMs);
    timer.unref();
    this.waits.set(p.id, { pending: p, timer });
  }

  private forget(id: string): void {
    const w = this.waits.get(id);
    if (!w) return;
    clearTimeout(w.timer);
    this.waits.delete(id);
  }
}
