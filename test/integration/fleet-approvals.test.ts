// Approval decisions across a fleet: two gateway processes share the approvals table (dynalite) and
// start workflows on a Step Functions stand-in, whose wait-for-task-token state runs the notifier's
// real code. The reviewer decides through the decision Lambda's real handler (its review endpoint,
// with a reviewer token from the fleet's issuer), as a click on the e-mail link would. The task that
// holds the statement runs it; the other task sees the standing grant the decision left.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { SFNClient } from '@aws-sdk/client-sfn';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { Logger } from '@aws-lambda-powertools/logger';
import { mockClient } from 'aws-sdk-client-mock';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { DynamoApprovalStore } from '../../fargate-proxy/src/adapters/aws/approval-dynamo-store.js';
import { requestClientCredentialsToken } from '../../fargate-proxy/src/adapters/local/oidc-issuer.js';
import { createDecisionHandler } from '../../lambdas/approval-decision/decision.js';
import { createNotifier } from '../../lambdas/approval-notifier/notify.js';
import { oidcReviewerVerifier } from '../../lambdas/shared/reviewer-token.js';
import { startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { AGENT, AUDIENCE, REVIEWER, TEST_POLICY, heldPsql, pgTarget } from '../support/gateway.js';
import { spawnWarmGateway, type WarmGateway } from '../support/gateway-process.js';
import { LOCAL_CREDENTIALS, LOCAL_REGION, startLocalDynamo, type LocalDynamo, createApprovalsTable, localAwsEnv } from '../support/local-aws.js';
import { useProcessEnv } from '../support/process-env.js';
import { startSfnStandIn, type SfnStandIn } from '../support/sfn-stand-in.js';

const TABLE = 'airlock-approvals';
const STATE_MACHINE = 'arn:aws:states:us-east-1:123456789012:stateMachine:airlock-approvals';
const logger = new Logger({ serviceName: 'test', logLevel: 'SILENT' });
const snsMock = mockClient(SNSClient);

let server: RunningPostgres;
let dynamo: LocalDynamo;
let sfn: SfnStandIn;
let store: DynamoApprovalStore;
let dir: string;
let issuerPort: number;
const tasks: WarmGateway[] = [];
const ports: number[] = [];
let restoreEnv: (() => void) | undefined;

function writeConfig(name: string, withIssuer: boolean): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    stringify({
      dataDir: join(dir, name),
      logLevel: 'error',
      listeners: { postgres: { host: '127.0.0.1', port: 0, allowPlaintext: true } },
      identity: {
        issuer: `http://127.0.0.1:${issuerPort}`,
        audience: AUDIENCE,
        ...(withIssuer ? { localIssuer: { port: issuerPort, clients: [AGENT, REVIEWER] } } : {}),
      },
      targets: [pgTarget(server)],
      policy: { file: join(dir, 'policy.cedar') },
      approvals: {
        reviewerGroups: ['reviewers'],
        timeoutSeconds: 120,
        backend: 'stepfunctions',
        stepFunctions: { tableName: TABLE, stateMachineArn: STATE_MACHINE, reviewBaseUrl: 'https://review.example/' },
      },
    }),
  );
  return file;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-fleet-approvals-'));
  writeFileSync(join(dir, 'policy.cedar'), TEST_POLICY);
  [server, dynamo] = await Promise.all([startPostgres(), startLocalDynamo()]);
  await createApprovalsTable(dynamo, TABLE);
  store = new DynamoApprovalStore(dynamo.client, TABLE);
  snsMock.on(PublishCommand).resolves({ MessageId: 'm-1' });
  // The workflow's wait-for-task-token state: the notifier's real code stores the token and tells reviewers.
  let notify: ReturnType<typeof createNotifier> | undefined;
  sfn = await startSfnStandIn(async ({ input, taskToken }) => {
    await notify!({ requestId: String(input.requestId), taskToken });
  });
  notify = createNotifier({ store, sfn: new SFNClient({ region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, endpoint: sfn.endpoint }), sns: new SNSClient({ region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS }),
    topicArn: 'arn:aws:sns:us-east-1:123456789012:reviewers', reviewBaseUrl: 'https://review.example/', slackConfig: async () => undefined, logger });
  const env = localAwsEnv({ dynamodb: dynamo.endpoint, sfn: sfn.endpoint });
  restoreEnv = useProcessEnv(env);
  issuerPort = 20000 + Math.floor(Math.random() * 20000);
  const first = spawnWarmGateway(writeConfig('task-a', true));
  const second = spawnWarmGateway(writeConfig('task-b', false));
  tasks.push(first, second);
  ports.push(await first.start(), await second.start());
});

after(async () => {
  for (const t of tasks) await t.stop('SIGTERM');
  restoreEnv?.();
  snsMock.restore();
  await sfn?.stop();
  await dynamo?.stop();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const token = (client: { clientId: string; clientSecret: string }) =>
  requestClientCredentialsToken({ tokenEndpoint: `http://127.0.0.1:${issuerPort}/token`, clientId: client.clientId, clientSecret: client.clientSecret, audience: AUDIENCE });

/** psql on one task of the fleet. */
const psqlOn = (port: number, sql: string, password: string) => heldPsql(`host=127.0.0.1 port=${port} dbname=app user=agent sslmode=disable connect_timeout=10`, sql, password);

/** The decision Lambda's handler, as its Function URL would call it for a click on the review page. */
async function decide(requestId: string, body: Record<string, unknown>): Promise<{ statusCode: number; body: any }> {
  const handler = createDecisionHandler({
    store,
    sfn: new SFNClient({ region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, endpoint: sfn.endpoint }),
    reviewerGroups: ['reviewers'],
    verifyReviewer: oidcReviewerVerifier({ issuer: `http://127.0.0.1:${issuerPort}`, audience: AUDIENCE, jwksUri: `http://127.0.0.1:${issuerPort}/jwks` }),
    slackConfig: async () => undefined,
    logger,
  });
  const event = {
    version: '2.0', rawPath: `/review/${requestId}`, rawQueryString: '', isBase64Encoded: false, body: JSON.stringify(body),
    headers: { authorization: `Bearer ${await token(REVIEWER)}`, 'content-type': 'application/json' },
    requestContext: { domainName: 'review.example', http: { method: 'POST', path: `/review/${requestId}` } },
  } as unknown as APIGatewayProxyEventV2;
  const out = await handler(event);
  return { statusCode: out.statusCode ?? 0, body: JSON.parse(out.body ?? '{}') };
}

async function taskTokenOf(id: string): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const t = await store.taskToken(id);
    if (t) return t;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the notifier never stored a task token for ${id}`);
}

async function tableExists(name: string): Promise<boolean> {
  return (await server.psqlDirect(`SELECT to_regclass('public.${name}') IS NOT NULL`, server.database)).trim() === 't';
}

test('a statement held on task A, approved through the decision handler, runs on A; task B then runs the same shape on the standing grant', async () => {
  const sql = 'CREATE TABLE IF NOT EXISTS fleet_reviewed (id int)';
  const held = psqlOn(ports[0]!, sql, await token(AGENT));
  const id = await held.requestId;
  const taskToken = await taskTokenOf(id);
  assert.equal(await tableExists('fleet_reviewed'), false, 'nothing runs before the decision');

  const decided = await decide(id, { action: 'approve', scope: 'shape', minutes: 10 });
  assert.equal(decided.statusCode, 200, JSON.stringify(decided.body));
  assert.deepEqual([decided.body.first, decided.body.approval.state, decided.body.approval.reviewer], [true, 'approved', 'reviewer']);

  const result = await held.done;
  assert.equal(result.code, 0, result.stderr);
  assert.equal(await tableExists('fleet_reviewed'), true, 'task A ran the statement it held');
  const success = sfn.calls.filter((c) => c.action === 'SendTaskSuccess');
  assert.deepEqual(success.map((c) => c.input.taskToken), [taskToken], 'the workflow was told once, with the notifier\'s token');

  // Task B: the grant the decision wrote is in the shared table, so the same shape is not held again.
  const started = sfn.calls.filter((c) => c.action === 'StartExecution').length;
  const onB = psqlOn(ports[1]!, sql, await token(AGENT));
  const b = await onB.done;
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stderr, new RegExp(`review/${id}`), 'B answered from the grant task A\'s approval left');
  assert.match(b.stderr, new RegExp(`runs under the standing shape grant reviewer gave in approval ${id}`));
  assert.doesNotMatch(b.stderr, /waiting for a reviewer/, 'nobody is asked: the agent is not told to wait');
  assert.equal(sfn.calls.filter((c) => c.action === 'StartExecution').length, started, 'no second workflow');

  // A second click (another reviewer's, or a retry) changes nothing: first decision wins.
  const again = await decide(id, { action: 'deny', reason: 'too late' });
  assert.deepEqual([again.statusCode, again.body.first, again.body.approval.state], [200, false, 'approved']);
});

test('a statement held on task B and denied through the decision handler fails on B with the reviewer\'s reason; A is unaffected', async () => {
  const held = psqlOn(ports[1]!, 'CREATE TABLE fleet_denied (id int)', await token(AGENT));
  const id = await held.requestId;
  await taskTokenOf(id);
  const decided = await decide(id, { action: 'deny', reason: 'use a migration' });
  assert.equal(decided.statusCode, 200, JSON.stringify(decided.body));
  const result = await held.done;
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /approval denied by reviewer: use a migration/);
  assert.equal(await tableExists('fleet_denied'), false);
  assert.ok(sfn.calls.some((c) => c.action === 'SendTaskFailure' && c.input.error === 'ApprovalDenied'));
  const onA = psqlOn(ports[0]!, 'SELECT 1 AS still_fine', await token(AGENT));
  assert.equal((await onA.done).code, 0);
});
