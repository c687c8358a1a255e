// The AWS review page (decision Lambda, GET/POST /review/{id}) in headless Chromium, served through a
// tiny Function-URL-style adapter: sign in with a real token, see the request, deny it with a reason.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient, SendTaskFailureCommand } from '@aws-sdk/client-sfn';
import { Logger } from '@aws-lambda-powertools/logger';
import { mockClient } from 'aws-sdk-client-mock';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { SignJWT, generateKeyPair, jwtVerify } from 'jose';
import { launchHeadlessChromium, type HeadlessBrowser } from '../support/browser.js';
import type { BrowserContext } from 'playwright-core';
import type { Principal } from '../../core/model.js';
import { newApprovalRecord } from '../../core/approval/index.js';
import { DynamoApprovalStore } from '../../fargate-proxy/src/adapters/aws/approval-dynamo-store.js';
import { createDecisionHandler } from '../../lambdas/approval-decision/decision.js';
import { startLocalDynamo, type LocalDynamo } from '../support/local-aws.js';

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
const keys = await generateKeyPair('ES256');
const sign = (sub: string, groups: string[]) =>
  new SignJWT({ groups }).setProtectedHeader({ alg: 'ES256' }).setSubject(sub).setIssuer('https://idp').setAudience('review').setIssuedAt().setExpirationTime('5m').sign(keys.privateKey);
async function verifyReviewer(token: string): Promise<Principal> {
  const { payload } = await jwtVerify(token, keys.publicKey, { issuer: 'https://idp', audience: 'review', algorithms: ['ES256'] });
  return { id: String(payload.sub), groups: (payload.groups as string[]) ?? [], issuer: 'https://idp' };
}

const sfnMock = mockClient(SFNClient);
let localDynamo: LocalDynamo;
let web: Server;
let dynamodb: DynamoDBClient;
let store: DynamoApprovalStore;
let base = '';
let browser: BrowserContext;
let headless: HeadlessBrowser | undefined;

before(async () => {
  sfnMock.on(SendTaskFailureCommand).resolves({});
  localDynamo = await startLocalDynamo();
  dynamodb = localDynamo.client;
  await dynamodb.send(new CreateTableCommand({ TableName: 'review-approvals', BillingMode: 'PAY_PER_REQUEST', AttributeDefinitions: [{ AttributeName: 'requestId', AttributeType: 'S' }], KeySchema: [{ AttributeName: 'requestId', KeyType: 'HASH' }] }));
  store = new DynamoApprovalStore(dynamodb, 'review-approvals');
  const handler = createDecisionHandler({ store, sfn: new SFNClient({ region: 'us-east-1', credentials }), reviewerGroups: ['dba'], verifyReviewer,
    slackConfig: async () => undefined, logger: new Logger({ serviceName: 'test', logLevel: 'SILENT' }) });
  web = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
    const url = new URL(req.url ?? '/', 'http://x');
    const event = { version: '2.0', rawPath: url.pathname, rawQueryString: '', headers: req.headers as Record<string, string>, body: Buffer.concat(chunks).toString('utf8'),
      isBase64Encoded: false, requestContext: { http: { method: req.method, path: url.pathname } } } as unknown as APIGatewayProxyEventV2;
    const out = await handler(event);
    res.writeHead(out.statusCode ?? 200, out.headers as Record<string, string>);
    res.end(out.body ?? '');
  });
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;
  headless = await launchHeadlessChromium();
  browser = headless.context;
});
after(async () => {
  await headless?.close();
  web?.closeAllConnections();
  await new Promise((r) => web?.close(r));
  await localDynamo?.stop();
  sfnMock.restore();
});

test('the e-mail link page signs the reviewer in, shows the request as text, and denies it', async () => {
  const hostile = `DELETE FROM t -- <img src=x onerror="window.__pwned=1">`;
  const record = newApprovalRecord('req-e2e-1', { requester: { id: 'agent-1', groups: [], issuer: 'https://idp' }, target: { name: 'orders', kind: 'postgres', environment: 'prod', tags: {} },
    sessionId: 's', statementId: 'st', statementText: hostile, statementClass: 'destructive', policyIds: ['p1'], shape: 'x' }, Date.now(), 60_000);
  await store.create(record);
  await store.recordTaskToken(record.id, 'TT');
  const page = await browser.newPage();
  await page.goto(`${base}/review/${record.id}`);
  assert.equal(await page.isVisible('#request'), false);
  await page.fill('#token', await sign('alice', ['dba']));
  await page.click('#go');
  await page.waitForSelector('#request:not([hidden])');
  assert.equal(await page.textContent('#statement'), hostile);
  assert.equal(await page.evaluate('window.__pwned'), undefined);
  await page.fill('#reason', 'too broad');
  await page.click('#deny');
  await page.waitForSelector('#message:text("Recorded: denied.")');
  assert.deepEqual([(await store.get(record.id))?.state, (await store.get(record.id))?.reviewer], ['denied', 'alice']);
  assert.equal(sfnMock.commandCalls(SendTaskFailureCommand)[0]?.args[0].input.taskToken, 'TT');
  await page.close();
});
