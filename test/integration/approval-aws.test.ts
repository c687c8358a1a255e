// AWS approvals through the real SDK against dynalite (DynamoDB); Step Functions, SNS and Secrets
// Manager through aws-sdk-client-mock; reviewer tokens are real ES256 JWTs checked by the Lambda's
// own OIDC verifier against a local discovery + JWKS server; Slack requests carry real signatures.
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { SFNClient, SendTaskFailureCommand, SendTaskSuccessCommand, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Logger } from '@aws-lambda-powertools/logger';
import { mockClient } from 'aws-sdk-client-mock';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import type { Principal, TargetInfo } from '../../core/model.js';
import { decideApproval, newApprovalRecord } from '../../core/approval/index.js';
import type { ApprovalEvent, ApprovalRequestInput } from '../../core/approval/index.js';
import { DynamoApprovalStore } from '../../fargate-proxy/src/adapters/aws/approval-dynamo-store.js';
import { createAwsApprovalService } from '../../fargate-proxy/src/adapters/aws/approval-service.js';
import { createDecisionHandler } from '../../lambdas/approval-decision/decision.js';
import { createNotifier } from '../../lambdas/approval-notifier/notify.js';
import { createExpirer } from '../../lambdas/approval-expire/expire.js';
import { oidcReviewerVerifier } from '../../lambdas/shared/reviewer-token.js';
import { slackConfigLoader } from '../../lambdas/shared/slack-config.js';
import { startLocalDynamo, type LocalDynamo } from '../support/local-aws.js';


const TABLE = 'airlock-approvals';
const SIGNING_SECRET = 'test-signing-secret-not-real';
const BOT_TOKEN = 'xoxb-test-bot-token';
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
const logger = new Logger({ serviceName: 'test', logLevel: 'SILENT' });

const sfnMock = mockClient(SFNClient);
const snsMock = mockClient(SNSClient);
const secretsMock = mockClient(SecretsManagerClient);

let localDynamo: LocalDynamo;
let idpServer: Server;
let dynamodb: DynamoDBClient;
let store: DynamoApprovalStore;
let issuer = '';
const keys = await generateKeyPair('ES256');

const agent: Principal = { id: 'agent-42', groups: ['agents'], issuer: 'https://idp' };
const target: TargetInfo = { name: 'orders', kind: 'postgres', environment: 'production', tags: { team: 'core' } };
let seq = 0;
const input = (over: Partial<ApprovalRequestInput> = {}): ApprovalRequestInput => ({
  requester: agent, target, sessionId: 'sess-a', statementId: `st-${++seq}`, statementText: `DELETE FROM orders WHERE id = '?' /* ${seq} */`,
  statementClass: 'write', policyIds: ['approve-prod-writes'], shape: `shape-${seq}`, ...over,
});
const sign = (sub: string, groups: string[]) =>
  new SignJWT({ groups }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setSubject(sub).setIssuer(issuer).setAudience('airlock-review').setIssuedAt().setExpirationTime('5m').sign(keys.privateKey);

before(async () => {
  localDynamo = await startLocalDynamo();
  dynamodb = localDynamo.client;
  await dynamodb.send(new CreateTableCommand({ TableName: TABLE, BillingMode: 'PAY_PER_REQUEST', AttributeDefinitions: [{ AttributeName: 'requestId', AttributeType: 'S' }], KeySchema: [{ AttributeName: 'requestId', KeyType: 'HASH' }] }));
  store = new DynamoApprovalStore(dynamodb, TABLE);
  const jwk = { ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'ES256' };
  idpServer = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/.well-known/openid-configuration') res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
    else if (req.url === '/jwks') res.end(JSON.stringify({ keys: [jwk] }));
    else res.writeHead(404).end('{}');
  });
  await new Promise<void>((r) => idpServer.listen(0, '127.0.0.1', r));
  issuer = `http://127.0.0.1:${(idpServer.address() as AddressInfo).port}`;
});
after(async () => {
  await localDynamo?.stop();
  idpServer?.closeAllConnections();
  await new Promise((r) => idpServer?.close(r));
  sfnMock.restore();
  snsMock.restore();
  secretsMock.restore();
});
beforeEach(() => {
  sfnMock.reset();
  snsMock.reset();
  secretsMock.reset();
  sfnMock.on(StartExecutionCommand).callsFake((i: { name: string }) => ({ executionArn: `arn:aws:states:us-east-1:1:execution:approvals:${i.name}`, startDate: new Date() }));
  sfnMock.on(StopExecutionCommand).resolves({ stopDate: new Date() });
  sfnMock.on(SendTaskSuccessCommand).resolves({});
  sfnMock.on(SendTaskFailureCommand).resolves({});
  snsMock.on(PublishCommand).resolves({ MessageId: 'm0' });
  secretsMock.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ botToken: BOT_TOKEN, channel: 'C123', signingSecret: SIGNING_SECRET, reviewers: { U_ALICE: 'alice', U_AGENT: agent.id } }) });
});

function service(over: Partial<Parameters<typeof createAwsApprovalService>[0]> = {}) {
  return createAwsApprovalService({ tableName: TABLE, stateMachineArn: 'arn:aws:states:us-east-1:1:stateMachine:approvals', clients: { dynamodb, sfn: new SFNClient({ region: 'us-east-1', credentials }) },
    reviewBaseUrl: 'https://review.example', pollMinMs: 20, pollMaxMs: 80, ...over });
}
function decisionHandler(fetchImpl: typeof fetch = async () => new Response('ok')) {
  return createDecisionHandler({
    store, sfn: new SFNClient({ region: 'us-east-1', credentials }), reviewerGroups: ['dba'],
    verifyReviewer: oidcReviewerVerifier({ issuer, audience: 'airlock-review' }),
    slackConfig: slackConfigLoader(new SecretsManagerClient({ region: 'us-east-1', credentials }), 'arn:secret:slack'), logger, fetchImpl,
  });
}
function notifier(fetchImpl: typeof fetch) {
  return createNotifier({ store, sfn: new SFNClient({ region: 'us-east-1', credentials }), sns: new SNSClient({ region: 'us-east-1', credentials }), topicArn: 'arn:aws:sns:us-east-1:1:reviewers',
    reviewBaseUrl: 'https://review.example/', slackConfig: slackConfigLoader(new SecretsManagerClient({ region: 'us-east-1', credentials }), 'arn:secret:slack'), logger, fetchImpl });
}
function event(method: string, path: string, body = '', headers: Record<string, string> = {}): APIGatewayProxyEventV2 {
  return { version: '2.0', routeKey: '$default', rawPath: path, rawQueryString: '', headers, body, isBase64Encoded: false,
    requestContext: { http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' } } } as unknown as APIGatewayProxyEventV2;
}
function slackEvent(userId: string, value: Record<string, unknown>, opts: { ts?: number; secret?: string } = {}): APIGatewayProxyEventV2 {
  const payload = JSON.stringify({ type: 'block_actions', user: { id: userId }, actions: [{ action_id: 'x', value: JSON.stringify(value) }], response_url: 'https://hooks.slack.com/actions/T/1/abc' });
  const body = new URLSearchParams({ payload }).toString();
  const ts = String(opts.ts ?? Math.floor(Date.now() / 1000));
  const sig = 'v0=' + createHmac('sha256', opts.secret ?? SIGNING_SECRET).update(`v0:${ts}:${body}`).digest('hex');
  // Function URLs hand binary-ish form bodies over base64-encoded: exercise that path.
  return { ...event('POST', '/slack/actions', Buffer.from(body).toString('base64'), { 'x-slack-request-timestamp': ts, 'x-slack-signature': sig, 'content-type': 'application/x-www-form-urlencoded' }), isBase64Encoded: true };
}
async function rawItem(id: string) {
  return (await dynamodb.send(new GetItemCommand({ TableName: TABLE, Key: { requestId: { S: id } }, ConsistentRead: true }))).Item;
}

test('the proxy writes the record, starts the workflow with { requestId } and learns a decision by polling', async () => {
  const svc = service();
  const events: ApprovalEvent[] = [];
  const pending = await svc.request(input(), (e) => events.push(e));
  assert.equal(pending.reviewUrl, `https://review.example/review/${pending.id}`);
  const start = sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input;
  assert.deepEqual(JSON.parse(start?.input ?? '{}'), { requestId: pending.id });
  assert.equal(start?.name, pending.id);
  assert.equal((await store.get(pending.id))?.state, 'pending');
  assert.ok(Number((await rawItem(pending.id))?.ttl?.N) > Date.now() / 1000, 'ttl set');
  const alice: Principal = { id: 'alice', groups: ['dba'], issuer: 'x' };
  await decideApproval(store, { id: pending.id, reviewer: alice, decision: { verdict: 'approve', scope: 'once' }, reviewerGroups: ['dba'] });
  assert.deepEqual(await pending.outcome, { state: 'approved', reviewer: 'alice', scope: 'once' });
  assert.deepEqual(events.map((e) => e.state), ['pending', 'approved']);
});

test('the notifier stores the task token server-side, e-mails an opaque link, posts Slack buttons, and does not repeat on retry', async () => {
  const svc = service();
  const pending = await svc.request(input({ statementText: "UPDATE orders SET note = '<!channel> `x`'" }));
  const slackCalls: { url: string; body: Record<string, unknown>; auth: string }[] = [];
  const fakeSlack: typeof fetch = async (url, init) => {
    slackCalls.push({ url: String(url), body: JSON.parse(String(init?.body)) as Record<string, unknown>, auth: String((init?.headers as Record<string, string>).authorization) });
    return new Response(JSON.stringify({ ok: true }));
  };
  const notify = notifier(fakeSlack);
  const TASK = 'AAAA-task-token-secret-value';
  assert.deepEqual(await notify({ requestId: pending.id, taskToken: TASK }), { requestId: pending.id, notified: true, state: 'pending' });
  assert.equal((await rawItem(pending.id))?.taskToken?.S, TASK);
  assert.equal(await store.taskToken(pending.id), TASK);
  assert.equal('taskToken' in ((await store.get(pending.id)) ?? {}), false, 'the record the proxy reads carries no token');
  const mail = snsMock.commandCalls(PublishCommand)[0]?.args[0].input;
  assert.ok(mail?.Message?.includes(`https://review.example/review/${pending.id}`), 'opaque link');
  assert.ok(!mail?.Message?.includes(TASK) && !mail?.Message?.includes('UPDATE orders'), 'no token, no statement in e-mail');
  assert.equal(slackCalls[0]?.url, 'https://slack.com/api/chat.postMessage');
  assert.equal(slackCalls[0]?.auth, `Bearer ${BOT_TOKEN}`);
  const blocks = JSON.stringify(slackCalls[0]?.body.blocks);
  assert.ok(!blocks.includes(TASK), 'no task token in Slack');
  assert.ok(blocks.includes('&lt;!channel&gt;') && !blocks.includes('<!channel>'), 'mrkdwn escaped');
  assert.ok(blocks.includes('Approve once') && blocks.includes('Deny'), 'buttons');
  // Step Functions retried the task: nobody is paged twice.
  assert.equal((await notify({ requestId: pending.id, taskToken: TASK })).notified, false);
  assert.equal(snsMock.commandCalls(PublishCommand).length, 1);
  assert.equal(slackCalls.length, 1);
  await pending.cancel('test done');
  assert.equal((await pending.outcome).state, 'cancelled');
  assert.equal(sfnMock.commandCalls(StopExecutionCommand).length, 1);
});

test('a notifier that cannot reach any reviewer fails (so the workflow retries) and a retry notifies', async () => {
  snsMock.on(PublishCommand).rejects(new Error('SNS down'));
  const pending = await service().request(input());
  const down: typeof fetch = async () => new Response(JSON.stringify({ ok: false, error: 'channel_not_found' }));
  await assert.rejects(notifier(down)({ requestId: pending.id, taskToken: 'T1' }));
  snsMock.on(PublishCommand).resolves({ MessageId: 'm1' });
  assert.equal((await notifier(down)({ requestId: pending.id, taskToken: 'T1' })).notified, true);
  await pending.cancel('test done');
});

test('a request cancelled before the notifier runs ends the wait at once', async () => {
  const pending = await service().request(input());
  await pending.cancel('agent disconnected');
  const r = await notifier(async () => new Response('{"ok":true}'))({ requestId: pending.id, taskToken: 'T2' });
  assert.equal(r.state, 'cancelled');
  assert.equal(sfnMock.commandCalls(SendTaskFailureCommand)[0]?.args[0].input.error, 'ApprovalCancelled');
});

test('Slack: a signed shape approval completes the task, leaves a grant, and the next press sees the stored outcome', async () => {
  const svc = service();
  const shape = 'DELETE FROM orders WHERE id = $1';
  const pending = await svc.request(input({ shape }));
  await store.recordTaskToken(pending.id, 'TOKEN-S');
  const posted: string[] = [];
  const handler = decisionHandler(async (_url, init) => {
    posted.push(String(init?.body));
    return new Response('ok');
  });
  const started = Date.now();
  const res = await handler(slackEvent('U_ALICE', { id: pending.id, verdict: 'approve', scope: 'shape', minutes: 15 }));
  assert.equal(res.statusCode, 200);
  assert.ok(Date.now() - started < 3000, 'acknowledged within 3 s');
  const success = sfnMock.commandCalls(SendTaskSuccessCommand)[0]?.args[0].input;
  assert.equal(success?.taskToken, 'TOKEN-S');
  assert.deepEqual(JSON.parse(success?.output ?? '{}'), { requestId: pending.id, state: 'approved', reviewer: 'alice', scope: 'shape' });
  assert.deepEqual(await pending.outcome, { state: 'approved', reviewer: 'alice', scope: 'shape' });
  assert.match(posted[0] ?? '', /Approved by <@U_ALICE> for this shape \(15 min\)/);
  await handler(slackEvent('U_ALICE', { id: pending.id, verdict: 'deny' }));
  assert.match(posted[1] ?? '', /Already approved by alice/);
  assert.equal(sfnMock.commandCalls(SendTaskFailureCommand).length, 0);
  // The grant is in the shared table: any task of the fleet honours it without a new workflow.
  const before = sfnMock.commandCalls(StartExecutionCommand).length;
  const next = await service().request(input({ shape, sessionId: 'sess-b' }));
  assert.equal((await next.outcome).state, 'approved');
  assert.equal(sfnMock.commandCalls(StartExecutionCommand).length, before);
});

test('Slack: bad signatures, stale timestamps, unmapped users and the requester decide nothing', async () => {
  const pending = await service().request(input());
  const handler = decisionHandler();
  assert.equal((await handler(slackEvent('U_ALICE', { id: pending.id, verdict: 'approve', scope: 'once' }, { secret: 'wrong' }))).statusCode, 401);
  assert.equal((await handler(slackEvent('U_ALICE', { id: pending.id, verdict: 'approve', scope: 'once' }, { ts: Math.floor(Date.now() / 1000) - 600 }))).statusCode, 401);
  assert.equal((await handler(slackEvent('U_MALLORY', { id: pending.id, verdict: 'approve', scope: 'once' }))).statusCode, 200);
  assert.equal((await handler(slackEvent('U_AGENT', { id: pending.id, verdict: 'approve', scope: 'once' }))).statusCode, 200);
  assert.equal((await store.get(pending.id))?.state, 'pending');
  await pending.cancel('test done');
});

test('review page: GET reveals and decides nothing; POST needs a real reviewer token; the requester is refused; deny fails the task', async () => {
  const pending = await service().request(input({ statementText: 'DROP TABLE orders -- secret-ish' }));
  await store.recordTaskToken(pending.id, 'TOKEN-R');
  const handler = decisionHandler();
  const page = await handler(event('GET', `/review/${pending.id}`));
  assert.equal(page.statusCode, 200);
  assert.ok(!String(page.body).includes('DROP TABLE'), 'no statement in the GET page');
  assert.match(String(page.headers?.['content-security-policy']), /script-src 'nonce-/);
  assert.equal((await store.get(pending.id))?.state, 'pending');
  const json = { 'content-type': 'application/json' };
  assert.equal((await handler(event('POST', `/review/${pending.id}`, '{"action":"approve"}', json))).statusCode, 401);
  const alice = await sign('alice', ['dba']);
  const view = await handler(event('POST', `/review/${pending.id}`, '{"action":"view"}', { ...json, authorization: `Bearer ${alice}` }));
  assert.equal(view.statusCode, 200);
  assert.equal((JSON.parse(String(view.body)) as { approval: { statement: string } }).approval.statement, 'DROP TABLE orders -- secret-ish');
  const self = await sign(agent.id, ['dba']);
  assert.equal((await handler(event('POST', `/review/${pending.id}`, '{"action":"approve"}', { ...json, authorization: `Bearer ${self}` }))).statusCode, 403);
  const dev = await sign('dave', ['devs']);
  assert.equal((await handler(event('POST', `/review/${pending.id}`, '{"action":"view"}', { ...json, authorization: `Bearer ${dev}` }))).statusCode, 403);
  const noReason = await handler(event('POST', `/review/${pending.id}`, '{"action":"deny"}', { ...json, authorization: `Bearer ${alice}` }));
  assert.equal(noReason.statusCode, 400);
  const deny = await handler(event('POST', `/review/${pending.id}`, '{"action":"deny","reason":"drop is never fine"}', { ...json, authorization: `Bearer ${alice}` }));
  assert.equal(deny.statusCode, 200);
  const failure = sfnMock.commandCalls(SendTaskFailureCommand)[0]?.args[0].input;
  assert.deepEqual([failure?.taskToken, failure?.error, failure?.cause], ['TOKEN-R', 'ApprovalDenied', 'drop is never fine']);
  assert.deepEqual(await pending.outcome, { state: 'denied', reviewer: 'alice', reason: 'drop is never fine' });
  assert.equal((await handler(event('GET', '/review/..%2F..'))).statusCode, 404);
});

test('the expiry Lambda settles a pending request as expired and leaves a decided one alone', async () => {
  const expire = createExpirer({ store, logger });
  const pending = await service().request(input());
  assert.deepEqual(await expire({ requestId: pending.id }), { requestId: pending.id, state: 'expired' });
  assert.equal((await pending.outcome).state, 'expired');
  const decided = newApprovalRecord('decided-1', input(), Date.now(), 60_000);
  await store.create(decided);
  await store.settle('decided-1', { state: 'approved', reviewer: 'alice', scope: 'once', decidedAt: Date.now() });
  assert.equal((await expire({ requestId: 'decided-1' })).state, 'approved');
});

test('reviewers that could not be notified: the waiting agent learns it from the record at once, with the reason', async () => {
  const expire = createExpirer({ store, logger });
  const pending = await service().request(input());
  await expire({ requestId: pending.id, why: 'notNotified' });
  const outcome = await pending.outcome;
  assert.equal(outcome.state, 'expired');
  assert.match((await store.get(pending.id))!.reason ?? '', /no reviewer could be notified/);
});

test('the proxy gives up at its deadline and marks the request expired', async () => {
  const pending = await service({ deadlineMs: 150 }).request(input());
  assert.equal((await pending.outcome).state, 'expired');
  assert.equal((await store.get(pending.id))?.state, 'expired');
});

test('fail closed: a workflow that cannot start, or an unreachable table, rejects the request', async () => {
  sfnMock.on(StartExecutionCommand).rejects(new Error('throttled'));
  await assert.rejects(service().request(input({ statementId: 'no-sfn' })), /throttled/);
  const unreachable = new DynamoDBClient({ endpoint: 'http://127.0.0.1:9', region: 'us-east-1', credentials, maxAttempts: 1 });
  const svc = createAwsApprovalService({ tableName: TABLE, stateMachineArn: 'arn', clients: { dynamodb: unreachable, sfn: new SFNClient({ region: 'us-east-1', credentials }) } });
  await assert.rejects(svc.request(input()));
  unreachable.destroy();
});
