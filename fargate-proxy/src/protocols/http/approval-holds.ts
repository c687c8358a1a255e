// Held HTTP requests. A request that needs approval stays open while a reviewer decides, up to the
// listener's `approvalWaitSeconds`; past that the agent is told to retry (503 + Retry-After) and the
// approval stays alive. An identical retry — same principal, target, method, canonical path, query
// and body hash — picks up the same approval, and once approved runs exactly once: the identity
// covers everything forwarded, so a retry cannot widen what was approved.
import { createHash } from 'node:crypto';
import type { ApprovalOutcome, ApprovalService, PendingApproval } from '../../../../core/approval/types.js';
import type { ApprovalRequestInput } from '../../../../core/approval/types.js';

export interface HeldRequestIdentity {
  principal: string;
  target: string;
  method: string;
  path: string;
  query: string;
  bodySha256: string;
}

interface Hold {
  pending: PendingApproval;
  outcome: Promise<ApprovalOutcome>;
  /** The request id the agent was given first: a retry is told the same one. */
  requestId: string;
  used: boolean;
  timer: NodeJS.Timeout;
}

export type WaitResult =
  | { kind: 'decided'; outcome: ApprovalOutcome; approvalId: string }
  | { kind: 'waiting'; approvalId: string; reviewUrl: string; requestId: string; retryAfterSeconds: number }
  | { kind: 'unavailable'; message: string };

export function holdKey(id: HeldRequestIdentity): string {
  return createHash('sha256').update(JSON.stringify([id.principal, id.target, id.method, id.path, id.query, id.bodySha256])).digest('hex');
}

export class ApprovalHolds {
  private readonly holds = new Map<string, Hold>();

  constructor(
    private readonly approvals: ApprovalService | undefined,
    /** How long an approval (and so a retry's chance to use it) lives. */
    private readonly lifetimeMs: number,
    private readonly waitMs: number,
  ) {}

  /**
   * Waits for the decision on this request: an existing hold for the same identity, or a new
   * approval request. `onEvent` receives approval state changes for the audit trail.
   */
  async wait(
    key: string,
    requestId: string,
    input: () => ApprovalRequestInput,
    onEvent: (e: { state: string; approvalId: string; reviewer?: string; reason?: string }) => void,
    abort: AbortSignal,
  ): Promise<WaitResult> {
    let hold = this.holds.get(key);
    if (hold?.used) {
      // Ran once already: an identical request later is a new request.
      this.drop(key);
      hold = undefined;
    }
    if (!hold) {
      if (!this.approvals) return { kind: 'unavailable', message: 'approval is required and no approval service is configured' };
      let pending: PendingApproval;
      try {
        pending = await this.approvals.request(input(), onEvent);
      } catch (err) {
        return { kind: 'unavailable', message: `approval is required but the approval service is unavailable (${(err as Error).message})` };
      }
      const timer = setTimeout(() => this.drop(key), this.lifetimeMs);
      timer.unref();
      hold = { pending, outcome: pending.outcome, requestId, used: false, timer };
      this.holds.set(key, hold);
    }
    const h = hold;
    let waitTimer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      h.outcome.then((outcome): WaitResult => ({ kind: 'decided', outcome, approvalId: h.pending.id })),
      new Promise<WaitResult>((resolve) => {
        const waiting = (): WaitResult => ({ kind: 'waiting', approvalId: h.pending.id, reviewUrl: h.pending.reviewUrl, requestId: h.requestId, retryAfterSeconds: 5 });
        waitTimer = setTimeout(() => resolve(waiting()), this.waitMs);
        abort.addEventListener('abort', () => resolve(waiting()), { once: true });
      }),
    ]);
    clearTimeout(waitTimer);
    if (result.kind === 'decided') {
      if (result.outcome.state === 'approved') {
        // Claimed synchronously with the check: two identical retries racing run it once.
        if (h.used) return { kind: 'decided', outcome: { state: 'cancelled', reason: 'this approval was already used by an identical request' }, approvalId: h.pending.id };
        h.used = true;
      } else {
        this.drop(key);
      }
    }
    return result;
  }

  close(): void {
    for (const key of [...this.holds.keys()]) this.drop(key);
  }

  private drop(key: string): void {
    const h = this.holds.get(key);
    if (!h) return;
    clearTimeout(h.timer);
    this.holds.delete(key);
  }
}
