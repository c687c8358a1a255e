// Lambda entry for the workflow's `.waitForTaskToken` task. Env: APPROVALS_TABLE, TOPIC_ARN,
// REVIEW_BASE_URL, SLACK_SECRET_ARN (optional). Payload: { requestId, taskToken }.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { DynamoApprovalStore } from '../../fargate-proxy/src/adapters/aws/approval-dynamo-store.js';
import { requireEnv } from '../shared/env.js';
import { lambdaLogger } from '../shared/logger.js';
import { slackConfigLoader } from '../shared/slack-config.js';
import { createNotifier } from './notify.js';
import type { NotifierEvent, NotifierResult } from './notify.js';

let wired: ((event: NotifierEvent) => Promise<NotifierResult>) | undefined;

export async function handler(event: NotifierEvent): Promise<NotifierResult> {
  wired ??= createNotifier({
    store: new DynamoApprovalStore(new DynamoDBClient({}), requireEnv('APPROVALS_TABLE')),
    sfn: new SFNClient({}),
    sns: new SNSClient({}),
    ...(process.env.TOPIC_ARN ? { topicArn: process.env.TOPIC_ARN } : {}),
    reviewBaseUrl: requireEnv('REVIEW_BASE_URL'),
    slackConfig: slackConfigLoader(new SecretsManagerClient({}), process.env.SLACK_SECRET_ARN),
    logger: lambdaLogger('airlock-approval-notifier'),
  });
  return wired(event);
}
