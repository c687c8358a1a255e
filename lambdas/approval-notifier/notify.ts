// The `.waitForTaskToken` task: store the task token server-side, then tell reviewers.
// E-mail (SNS) carries an opaque link only; Slack gets Block Kit buttons.
import { PublishCommand } from '@aws-sdk/client-sns';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { ApprovalRecord } from '../../core/approval/index.js';
import type { DynamoApprovalStore } from '../../fargate-proxy/src/adapters/aws/approval-dynamo-store.js';
import type { SlackConfig } from '../shared/slack-config.js';
import { approvalBlocks } from '../shared/slack-messages.js';
import { completeTask } from '../shared/workflow.js';

export interface NotifierEvent {
  requestId: string;
  taskToken: string;
}

export interface NotifierDeps {
  store: DynamoApprovalStore;
  sfn: SFNClient;
  sns: SNSClient;
  topicArn?: string;
  reviewBaseUrl: string;
  slackConfig: () => Promise<SlackConfig | undefined>;
  logger: Logger;
  fetchImpl?: typeof fetch;
  now?: () => number;
}

export type NotifierResult = { requestId: string; notified: boolean; state: string };

function emailText(record: ApprovalRecord, link: string): string {
  // No statement text and no token in e-mail: the reviewer signs in to see the request.
  return [
    `An agent's statement is waiting for approval.`,
    ``,
    `Requester: ${record.requester.id}`,
    `Target: ${record.target.name} (${record.target.environment})`,
    `Class: ${record.statementClass}`,
    `Policy: ${record.policyIds.join(', ') || '-'}`,
    `Expires: ${new Date(record.expiresAt).toISOString()}`,
    ``,
    `Review (sign-in required): ${link}`,
  ].join('\n');
}

async function postToSlack(config: SlackConfig, record: ApprovalRecord, link: string, fetchImpl: typeof fetch): Promise<void> {
  const res = await fetchImpl('https://slack.com/api/chat.postMessage', {
    method: 'POST',
    headers: { 'content-type': 'application/json; charset=utf-8', authorization: `Bearer ${config.botToken}` },
    body: JSON.stringify({ channel: config.channel, text: `Airlock approval needed for ${record.target.name}`, blocks: approvalBlocks(record, link) }),
    signal: AbortSignal.timeout(5000),
  });
  const body = (await res.json().catch(() => ({}))) as { ok?: boolean; error?: string };
  if (!res.ok || body.ok !== true) throw new Error(`Slack chat.postMessage failed: ${body.error ?? res.status}`);
}

export function createNotifier(deps: NotifierDeps): (event: NotifierEvent) => Promise<NotifierResult> {
  return async ({ requestId, taskToken }) => {
    if (typeof requestId !== 'string' || typeof taskToken !== 'string') throw new Error('payload must be { requestId, taskToken }');
    const record = await deps.store.recordTaskToken(requestId, taskToken);
    if (!record) {
      deps.logger.error('approval request not found', { requestId });
      throw new Error('approval request not found');
    }
    if (record.state !== 'pending') {
      // Cancelled (or decided) before we ran: end the wait now instead of at the timeout.
      await completeTask(deps.sfn, taskToken, record);
      return { requestId, notified: false, state: record.state };
    }
    if (!(await deps.store.claimNotification(requestId, taskToken, (deps.now ?? Date.now)()))) {
      deps.logger.info('reviewers already notified for this task', { requestId });
      return { requestId, notified: false, state: record.state };
    }
    const link = `${deps.reviewBaseUrl.replace(/\/$/, '')}/review/${encodeURIComponent(requestId)}`;
    try {
      const slack = await deps.slackConfig();
      const sends: Promise<unknown>[] = [];
      if (deps.topicArn) {
        sends.push(deps.sns.send(new PublishCommand({ TopicArn: deps.topicArn, Subject: `Airlock: approval needed on ${record.target.name}`.slice(0, 99), Message: emailText(record, link) })));
      }
      if (slack) sends.push(postToSlack(slack, record, link, deps.fetchImpl ?? fetch));
      if (sends.length === 0) throw new Error('no notification channel configured (TOPIC_ARN or SLACK_SECRET_ARN)');
      const results = await Promise.allSettled(sends);
      const failed = results.filter((r) => r.status === 'rejected');
      // One channel reaching reviewers is enough; fail (and retry) only when none did.
      if (failed.length === results.length) throw (failed[0] as PromiseRejectedResult).reason;
      for (const f of failed) deps.logger.warn('a notification channel failed', { requestId, error: ((f as PromiseRejectedResult).reason as Error).message });
    } catch (error) {
      await deps.store.releaseNotification(requestId);
      throw error;
    }
    deps.logger.info('reviewers notified', { requestId, target: record.target.name });
    return { requestId, notified: true, state: 'pending' };
  };
}
