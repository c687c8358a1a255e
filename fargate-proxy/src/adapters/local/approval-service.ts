// Local approvals: requests live in this process (MemoryApprovalStore) and reviewers decide through
// the local console or the `airlock approvals` CLI, which talks to the console's JSON API.
// Deciding here settles the record and wakes the held statement at once (no polling).
import { randomUUID } from 'node:crypto';
import type { Principal } from '../../../../core/model.js';
import {
  DEFAULT_APPROVAL_TIMEOUT_MS,
  MemoryApprovalStore,
  cancelApproval,
  decideApproval,
  expireApproval,
  findStandingGrant,
  newApprovalRecord,
  outcomeOf,
} from '../../../../core/approval/index.js';
import type {
  ApprovalEvent,
  ApprovalOutcome,
  ApprovalRecord,
  ApprovalRequestInput,
  ApprovalService,
  ApprovalStore,
  DecideResult,
  PendingApproval,
  ReviewerDecision,
} from '../../../../core/approval/index.js';

/** Audit events for every step, including refused reviewer attempts (the gateway's audit log takes them). */
export interface ApprovalAuditEvent extends ApprovalEvent {
  at: string;
  requester?: string;
  target?: string;
  sessionId?: string;
  statementId?: string;
}

export interface LocalApprovalOptions {
  reviewerGroups: readonly string[];
  /** How long a request waits for a reviewer (default 15 minutes). */
  timeoutMs?: number;
  /** Base of review links, e.g. the console URL; a function because the console starts later. */
  reviewBaseUrl?: string | (() => string | undefined);
  store?: ApprovalStore;
  audit?: (event: ApprovalAuditEvent) => void;
  now?: () => number;
  newId?: () => string;
}

/** What the console (and through it the CLI) needs besides the gateway-facing ApprovalService. */
export interface LocalApprovalDesk extends ApprovalService {
  readonly reviewerGroups: readonly string[];
  listPending(): Promise<ApprovalRecord[]>;
  get(id: string): Promise<ApprovalRecord | undefined>;
  decide(id: string, reviewer: Principal, decision: ReviewerDecision): Promise<DecideResult>;
  /** Audits an attempt refused before it became a decision (e.g. a caller outside the reviewer groups). */
  refuseAttempt(id: string, who: Principal, reason: string): Promise<void>;
  /** Cancels every pending request and timer (gateway shutdown). */
  close(): Promise<void>;
}

export function createLocalApprovalService(options: LocalApprovalOptions): LocalApprovalDesk {
  const store = options.store ?? new MemoryApprovalStore();
  const timeoutMs = options.timeoutMs ?? DEFAULT_APPROVAL_TIMEOUT_MS;
  const now = options.now ?? Date.now;
  const newId = options.newId ?? randomUUID;
  const waiters = new Map<string, { resolve: (o: ApprovalOutcome) => void; timer: NodeJS.Timeout; onEvent?: (e: ApprovalEvent) => void; followers?: ((o: ApprovalOutcome) => void)[] }>();
  // Each request's event listener (the held session's audit), kept until the request's deadline: a
  // refused attempt is recorded in the session's trail even after the request was settled early. Not
  // longer, since the listener holds the session's objects.
  const listeners = new Map<string, (e: ApprovalEvent) => void>();

  async function refuseAttempt(id: string, who: Principal, reason: string): Promise<void> {
    const record = await store.get(id);
    const event: ApprovalEvent = { state: 'decision-refused', approvalId: id, reviewer: who.id, reason };
    listeners.get(id)?.(event);
    audit(event, record);
  }

  function audit(e: ApprovalEvent, record?: ApprovalRecord): void {
    if (!options.audit) return;
    const event: ApprovalAuditEvent = { ...e, at: new Date(now()).toISOString() };
    if (record) {
      event.requester = record.requester.id;
      event.target = record.target.name;
      event.sessionId = record.sessionId;
      event.statementId = record.statementId;
    }
    options.audit(event);
  }

  function reviewUrl(id: string): string {
    const base = typeof options.reviewBaseUrl === 'function' ? options.reviewBaseUrl() : options.reviewBaseUrl;
    return base ? `${base.replace(/\/$/, '')}/#approval=${encodeURIComponent(id)}` : `airlock approvals approve ${id}`;
  }

  /** Wakes the held statement once its record is settled, whoever settled it. */
  function release(record: ApprovalRecord | undefined): void {
    if (!record) return;
    const outcome = outcomeOf(record);
    const waiter = waiters.get(record.id);
    if (!outcome || !waiter) return;
    waiters.delete(record.id);
    clearTimeout(waiter.timer);
    const event: ApprovalEvent = { state: outcome.state, approvalId: record.id };
    if (outcome.reviewer !== undefined) event.reviewer = outcome.reviewer;
    if (outcome.reason !== undefined) event.reason = outcome.reason;
    waiter.onEvent?.(event);
    audit(event, record);
    waiter.resolve(outcome);
    for (const f of waiter.followers ?? []) f(outcome);
  }

  return {
    reviewerGroups: options.reviewerGroups,

    heldRequests: {
      holdRequest: (h, t) => store.holdRequest?.(h, t) ?? Promise.reject(new Error('this approval store keeps no held requests')),
      getHeld: (k) => store.getHeld?.(k) ?? Promise.resolve(undefined),
      useHeld: (k, id, t) => store.useHeld?.(k, id, t) ?? Promise.resolve(false),
    },

    async resume(id: string): Promise<PendingApproval | undefined> {
      const record = await store.get(id);
      if (!record) return undefined;
      const settled = outcomeOf(record);
      const waiter = waiters.get(id);
      // Pending here means a waiter in this process (the local store is this process's).
      if (!settled && !waiter) return undefined;
      const outcome = settled ? Promise.resolve(settled) : new Promise<ApprovalOutcome>((resolve) => (waiter!.followers ??= []).push(resolve));
      return { id, reviewUrl: reviewUrl(id), outcome, cancel: async (reason: string) => release(await cancelApproval(store, id, reason, now())) };
    },

    async request(input: ApprovalRequestInput, onEvent?: (e: ApprovalEvent) => void): Promise<PendingApproval> {
      const grant = await findStandingGrant((k) => store.getGrant(k), input, now());
      if (grant) {
        const id = newId();
        const reason = `standing ${grant.scope} grant from approval ${grant.approvalId}`;
        const event: ApprovalEvent = { state: 'approved', approvalId: id, reviewer: grant.reviewer, reason };
        onEvent?.(event);
        audit(event, newApprovalRecord(id, input, now(), 0));
        return {
          id,
          reviewUrl: reviewUrl(grant.approvalId),
          outcome: Promise.resolve({ state: 'approved', reviewer: grant.reviewer, scope: grant.scope, reason }),
          cancel: async () => {},
          standingGrant: { approvalId: grant.approvalId, scope: grant.scope, reviewer: grant.reviewer },
        };
      }
      const record = newApprovalRecord(newId(), input, now(), timeoutMs);
      await store.create(record);
      const outcome = new Promise<ApprovalOutcome>((resolve) => {
        const timer = setTimeout(() => {
          void expireApproval(store, record.id, now()).then(release, () => {});
        }, timeoutMs);
        timer.unref();
        waiters.set(record.id, onEvent ? { resolve, timer, onEvent } : { resolve, timer });
      });
      if (onEvent) {
        listeners.set(record.id, onEvent);
        setTimeout(() => listeners.delete(record.id), timeoutMs).unref();
      }
      const event: ApprovalEvent = { state: 'pending', approvalId: record.id };
      if (record.agentReason !== undefined) event.reason = record.agentReason;
      onEvent?.(event);
      audit(event, record);
      return {
        id: record.id,
        reviewUrl: reviewUrl(record.id),
        outcome,
        cancel: async (reason: string) => release(await cancelApproval(store, record.id, reason, now())),
      };
    },

    listPending: async () => {
      const t = now();
      return (await store.listPending()).filter((r) => r.expiresAt > t).sort((a, b) => a.createdAt - b.createdAt);
    },

    get: (id) => store.get(id),

    async decide(id, reviewer, decision) {
      const result = await decideApproval(store, { id, reviewer, decision, reviewerGroups: options.reviewerGroups, now: now() });
      if (!result.ok) {
        // Refused attempts (self-approval, non-reviewers) are audit-worthy too.
        await refuseAttempt(id, reviewer, result.error);
      } else {
        // Also covers a request found overdue and expired just now.
        release(result.record);
      }
      return result;
    },

    refuseAttempt,

    async close() {
      listeners.clear();
      for (const id of [...waiters.keys()]) release(await cancelApproval(store, id, 'gateway shutting down', now()));
    },
  };
}
