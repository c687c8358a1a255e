// Lambda entry. Env: APPROVALS_TABLE. Payload: { requestId }.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoApprovalStore } from '../../fargate-proxy/src/adapters/aws/approval-dynamo-store.js';
import { requireEnv } from '../shared/env.js';
import { lambdaLogger } from '../shared/logger.js';
import { createExpirer } from './expire.js';

let wired: ReturnType<typeof createExpirer> | undefined;

export async function handler(event: { requestId: string }): Promise<{ requestId: string; state: string }> {
  wired ??= createExpirer({ store: new DynamoApprovalStore(new DynamoDBClient({}), requireEnv('APPROVALS_TABLE')), logger: lambdaLogger('airlock-approval-expire') });
  return wired(event);
}
