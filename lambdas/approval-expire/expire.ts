// The workflow's Catch on States.Timeout / States.HeartbeatTimeout: pending → expired, conditionally
// (a decision that landed first stands). Safe to retry.
import type { Logger } from '@aws-lambda-powertools/logger';
import { expireApproval } from '../../core/approval/index.js';
import type { ApprovalStore } from '../../core/approval/index.js';

export function createExpirer(deps: { store: ApprovalStore; logger: Logger; now?: () => number }) {
  return async ({ requestId }: { requestId: string }): Promise<{ requestId: string; state: string }> => {
    if (typeof requestId !== 'string' || !requestId) throw new Error('payload must be { requestId }');
    const record = await expireApproval(deps.store, requestId, (deps.now ?? Date.now)());
    const state = record?.state ?? 'missing';
    deps.logger.info('approval timeout handled', { requestId, state });
    return { requestId, state };
  };
}
