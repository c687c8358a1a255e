// The workflow's Catch on States.Timeout / States.HeartbeatTimeout, and on a notifier that failed
// after its retries: pending → expired with the reason, conditionally
// (a decision that landed first stands). Safe to retry.
import type { Logger } from '@aws-lambda-powertools/logger';
import { expireApproval } from '../../core/approval/index.js';
import type { ApprovalStore } from '../../core/approval/index.js';

/** Why a request ends unapproved, by the workflow path that ends it; the agent reads it in its refusal. */
export const EXPIRY_REASONS = {
  timeout: 'no reviewer decided in time',
  notNotified: 'no reviewer could be notified (e-mail and Slack failed after retries): nobody can approve this request',
} as const;

export function createExpirer(deps: { store: ApprovalStore; logger: Logger; now?: () => number }) {
  return async ({ requestId, why }: { requestId: string; why?: keyof typeof EXPIRY_REASONS }): Promise<{ requestId: string; state: string }> => {
    if (typeof requestId !== 'string' || !requestId) throw new Error('payload must be { requestId }');
    const reason = EXPIRY_REASONS[why ?? 'timeout'] ?? EXPIRY_REASONS.timeout;
    const record = await expireApproval(deps.store, requestId, (deps.now ?? Date.now)(), reason);
    const state = record?.state ?? 'missing';
    deps.logger.info('approval timeout handled', { requestId, state });
    return { requestId, state };
  };
}
