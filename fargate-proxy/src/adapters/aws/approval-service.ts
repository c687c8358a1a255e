// AWS approvals: the proxy writes the pending record, starts the Standard workflow with
// `{ requestId }` (the notifier Lambda takes it from there) and learns the outcome by polling the
// record with backoff until a deadline. The record, not the workflow, is the source of truth.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import type { SFNClient } from '@aws-sdk/client-sfn';
import {
  DEFAULT_APPROVAL_TIMEOUT_MS,
  cancelApproval,
  expireApproval,
  findStandingGrant,
  newApprovalRecord,
  outcomeOf,
} from '../../../../core/approval/index.js';
import type { ApprovalEvent, ApprovalOutcome, ApprovalRecord, ApprovalRequestInput, ApprovalService, PendingApproval } from '../../../../core/approval/index.js';
import { DynamoApprovalStore } from './approval-dynamo-store.js';

export interface AwsApprovalOptions {
  tableName: string;
  stateMachineArn: string;
  clients: { dynamodb: DynamoDBClient; sfn: SFNClient };
  /** Base URL of the decision endpoint; review links are `${reviewBaseUrl}/review/${id}`. */
  reviewBaseUrl?: string;
  /** How long reviewers have (recorded as the request's expiresAt; keep it ≤ the workflow's task timeout). */
  timeoutMs?: number;
  pollMinMs?: number;
  pollMaxMs?: number;
  /** How long the proxy holds a statement before giving up itself (default timeout + 1 min). */
  deadlineMs?: number;
  now?: () => number;
  newId?: () => string;
}

export interface AwsApprovalService extends ApprovalService {
  /** Stops polling (pending statements resolve as cancelled). */
  close(): Promise<void>;
}

export function createAwsApprovalService(options: AwsApprovalOptions): AwsApprovalService {
  const store = new DynamoApprovalStore(options.clients.dynamodb, options.tableName);
  const now = options.now ?? Date.now;
  const newId = options.newId ?? randomUUID;
  const timeoutMs = options.timeoutMs ?? DEFAULT_APPROVAL_TIMEOUT_MS;
  const pollMinMs = options.pollMinMs ?? 500;
  const pollMaxMs = options.pollMaxMs ?? 5_000;
  const deadlineMs = options.deadlineMs ?? timeoutMs + 60_000;
  const closing = new AbortController();

  function eventOf(id: string, outcome: ApprovalOutcome): ApprovalEvent {
    const e: ApprovalEvent = { state: outcome.state, approvalId: id };
    if (outcome.reviewer !== undefined) e.reviewer = outcome.reviewer;
    if (outcome.reason !== undefined) e.reason = outcome.reason;
    return e;
  }

  async function poll(record: ApprovalRecord, cancelled: AbortSignal): Promise<ApprovalOutcome> {
    const deadline = record.createdAt + deadlineMs;
    let delay = pollMinMs;
    const signal = AbortSignal.any([cancelled, closing.signal]);
    while (now() < deadline && !signal.aborted) {
      await sleep(Math.min(delay, Math.max(0, deadline - now())), undefined, { signal }).catch(() => {});
      if (signal.aborted) break;
      try {
        const current = await store.get(record.id);
        const outcome = current && outcomeOf(current);
        if (outcome) return outcome;
      } catch {
        // A transient read failure: keep polling until the deadline; the statement stays held.
      }
      delay = Math.min(delay * 2, pollMaxMs);
    }
    if (closing.signal.aborted && !cancelled.aborted) {
      const c = await cancelApproval(store, record.id, 'gateway shutting down', now()).catch(() => undefined);
      return (c && outcomeOf(c)) ?? { state: 'cancelled', reason: 'gateway shutting down' };
    }
    if (cancelled.aborted) {
      const stored = await store.get(record.id).catch(() => undefined);
      return (stored && outcomeOf(stored)) ?? { state: 'cancelled', reason: String(cancelled.reason ?? 'cancelled') };
    }
    // Deadline passed: settle it ourselves so a late click cannot approve a statement nobody waits for.
    const expired = await expireApproval(store, record.id, now()).catch(() => undefined);
    return (expired && outcomeOf(expired)) ?? { state: 'expired', reason: 'no decision before the deadline' };
  }

  const reviewUrl = (id: string) => (options.reviewBaseUrl ? `${options.reviewBaseUrl.replace(/\/$/, '')}/review/${encodeURIComponent(id)}` : id);

  return {
    heldRequests: store,

    async resume(id: string, onEvent?: (e: ApprovalEvent) => void): Promise<PendingApproval | undefined> {
      const record = await store.get(id);
      if (!record) return undefined;
      const settled = outcomeOf(record);
      const cancelled = new AbortController();
      const outcome = settled
        ? Promise.resolve(settled)
        : poll(record, cancelled.signal).then((o) => {
            onEvent?.(eventOf(id, o));
            return o;
          });
      return {
        id,
        reviewUrl: reviewUrl(id),
        outcome,
        async cancel(reason: string) {
          await cancelApproval(store, id, reason, now());
          cancelled.abort(reason);
        },
      };
    },

    async request(input: ApprovalRequestInput, onEvent?: (e: ApprovalEvent) => void): Promise<PendingApproval> {
      // Any failure here rejects: the caller refuses the statement (fail closed).
      const grant = await findStandingGrant((k) => store.getGrant(k), input, now());
      if (grant) {
        const id = newId();
        const outcome: ApprovalOutcome = { state: 'approved', reviewer: grant.reviewer, scope: grant.scope, reason: `standing ${grant.scope} grant from approval ${grant.approvalId}` };
        onEvent?.(eventOf(id, outcome));
        return {
          id,
          reviewUrl: reviewUrl(grant.approvalId),
          outcome: Promise.resolve(outcome),
          cancel: async () => {},
          standingGrant: { approvalId: grant.approvalId, scope: grant.scope, reviewer: grant.reviewer },
        };
      }
      const record = newApprovalRecord(newId(), input, now(), timeoutMs);
      await store.create(record);
      let executionArn: string | undefined;
      try {
        const started = await options.clients.sfn.send(
          new StartExecutionCommand({ stateMachineArn: options.stateMachineArn, name: record.id, input: JSON.stringify({ requestId: record.id }) }),
        );
        executionArn = started.executionArn;
        if (executionArn) await store.recordExecution(record.id, executionArn).catch(() => {});
      } catch (error) {
        await cancelApproval(store, record.id, 'approval workflow could not start', now()).catch(() => {});
        throw error;
      }
      const pendingEvent: ApprovalEvent = { state: 'pending', approvalId: record.id };
      if (record.agentReason !== undefined) pendingEvent.reason = record.agentReason;
      onEvent?.(pendingEvent);
      const cancelled = new AbortController();
      const outcome = poll(record, cancelled.signal).then((o) => {
        onEvent?.(eventOf(record.id, o));
        return o;
      });
      return {
        id: record.id,
        reviewUrl: reviewUrl(record.id),
        outcome,
        async cancel(reason: string) {
          await cancelApproval(store, record.id, reason, now());
          cancelled.abort(reason);
          if (executionArn) {
            try {
              await options.clients.sfn.send(new StopExecutionCommand({ executionArn, error: 'ApprovalCancelled', cause: reason }));
            } catch {
              // The record already says cancelled; the workflow's own timeout ends it otherwise.
            }
          }
        },
      };
    },
    async close() {
      closing.abort();
    },
  };
}
