// Completes the waiting Step Functions task once a record is settled. The record is the source of
// truth (the proxy polls it), so a task that already timed out or vanished is not an error.
import { SendTaskFailureCommand, SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { ApprovalRecord } from '../../core/approval/index.js';

/** Error names the workflow sees on SendTaskFailure (its Catch can route on them). */
export const WORKFLOW_ERRORS = { denied: 'ApprovalDenied', cancelled: 'ApprovalCancelled', expired: 'ApprovalExpired' } as const;

export async function completeTask(sfn: SFNClient, taskToken: string, record: ApprovalRecord): Promise<'sent' | 'gone'> {
  try {
    if (record.state === 'approved') {
      await sfn.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify({ requestId: record.id, state: record.state, reviewer: record.reviewer, scope: record.scope }) }));
    } else if (record.state !== 'pending') {
      await sfn.send(new SendTaskFailureCommand({ taskToken, error: WORKFLOW_ERRORS[record.state], cause: (record.reason ?? record.state).slice(0, 256) }));
    }
    return 'sent';
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'TaskTimedOut' || name === 'TaskDoesNotExist' || name === 'InvalidToken') return 'gone';
    throw error;
  }
}
