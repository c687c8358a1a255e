// The AWS review page (decision Lambda, GET/POST /review/{id}) in headless Chromium, served through a
// tiny Function-URL-style adapter: sign in with a pasted token, see the request, deny it with a reason;
// and sign in at a real issuer (oidc-provider: authorization code + PKCE) and approve.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient, SendTaskFailureCommand, SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
import { Logger } from '@aws-lambda-powertools/logger';
import { mockClient } from 'aws-sdk-client-mock';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { launchHeadlessChromium, type HeadlessBrowser } from '../support/browser.js';
import { reviewerIssuer } from '../support/reviewer-tokens.js';
import type { BrowserContext } from 'playwright-core';
import { newApprovalRecord } from '../../core/approval/index.js';
import { DynamoApprovalStore } from '../../fargate-proxy/src/adapters/aws/approval-dynamo-store.js';
import { createDecisionHandler } from '../../lambdas/approval-decision/decision.js';
import { startLocalDynamo, type LocalDynamo } from '../support/local-aws.js';
import { startLocalIssuer, type LocalIssuer } from '../../fargate-proxy/src/adapters/local/oidc-issuer.js';
import { createSignIn } from '../../fargate-proxy/src/console/oauth-sign-in.js';
import { oidcReviewerVerifier } from '../../lambdas/shared/reviewer-token.js';

type Handler = ReturnType<typeof createDecisionHandler>;
/** Serves a decision handler the way a Function URL calls it (payload 2.0). */
async function serveLambda(handler: Handler): Promise<{ server: Server; base: string }> {
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
    const url = new URL(req.url ?? '/', 'http://x');
    const event = { version: '2.0', rawPath: url.pathname, rawQueryString: url.search.slice(1), headers: req.headers as Record<string, string>, body: Buffer.concat(chunks).toString('utf8'),
      isBase64Encoded: false, requestContext: { domainName: req.headers.host, http: { method: req.method, path: url.pathname } } } as unknown as APIGatewayProxyEventV2;
    const out = await handler(event);
    res.writeHead(out.statusCode ?? 200, out.headers as Record<string, string>);
    res.end(out.body ?? '');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
const { sign, verify: verifyReviewer } = await reviewerIssuer('https://idp', 'review');

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
  sfnMock.on(SendTaskSuccessCommand).resolves({});
  localDynamo = await startLocalDynamo();
  dynamodb = localDynamo.client;
  await dynamodb.send(new CreateTableCommand({ TableName: 'review-approvals', BillingMode: 'PAY_PER_REQUEST', AttributeDefinitions: [{ AttributeName: 'requestId', AttributeType: 'S' }], KeySchema: [{ AttributeName: 'requestId', KeyType: 'HASH' }] }));
  store = new DynamoApprovalStore(dynamodb, 'review-approvals');
  const handler = createDecisionHandler({ store, sfn: new SFNClient({ region: 'us-east-1', credentials }), reviewerGroups: ['dba'], verifyReviewer,
    slackConfig: async () => undefined, logger: new Logger({ serviceName: 'test', logLevel: 'SILENT' }) });
  ({ server: web, base } = await serveLambda(handler));
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

test('the review page signs the reviewer in at the issuer (authorization code + PKCE) and the approval names them', async () => {
  const alice = { clientId: 'alice', clientSecret: 'alice-secret-0123456789', groups: ['dba'] };
  const issuer: LocalIssuer = await startLocalIssuer({ host: '127.0.0.1', port: 0, audience: 'urn:airlock', clients: [alice],
    signIn: { clientId: 'airlock-reviewers', redirectUris: ['http://127.0.0.1/signin'] } });
  let served: { server: Server; base: string } | undefined;
  try {
    const verify = oidcReviewerVerifier({ issuer: issuer.issuer, audience: 'urn:airlock', jwksUri: issuer.jwksUri });
    let base = '';
    const handler = createDecisionHandler({ store, sfn: new SFNClient({ region: 'us-east-1', credentials }), reviewerGroups: ['dba'], verifyReviewer: verify,
      slackConfig: async () => undefined, logger: new Logger({ serviceName: 'test', logLevel: 'SILENT' }),
      signIn: createSignIn({ issuer: issuer.issuer, clientId: 'airlock-reviewers', scope: 'openid', alwaysLogin: true }),
      // The Function URL is https://<domain>/; this stand-in is plain HTTP on loopback.
      get reviewBaseUrl() { return `${base}/`; } });
    served = await serveLambda(handler);
    base = served.base;
    const record = newApprovalRecord('req-e2e-pkce', { requester: { id: 'agent-1', groups: [], issuer: 'https://idp' }, target: { name: 'orders', kind: 'postgres', environment: 'prod', tags: {} },
      sessionId: 's', statementId: 'st', statementText: 'DELETE FROM orders WHERE id = 7', statementClass: 'destructive', policyIds: ['p1'], shape: 'y' }, Date.now(), 60_000);
    await store.create(record);
    await store.recordTaskToken(record.id, 'TT-PKCE');

    const page = await browser.newPage();
    const urls: string[] = [];
    page.on('request', (r) => urls.push(r.url()));
    await page.goto(`${base}/review/${record.id}`);
    await page.click('#sign-in-oauth');
    await page.waitForSelector('input[name="login"]');
    await page.fill('input[name="login"]', alice.clientId);
    await page.fill('input[name="password"]', alice.clientSecret);
    await page.click('button[type="submit"]');
    // Back on the request's page, signed in: the request is shown.
    await page.waitForSelector('#request:not([hidden])');
    assert.equal(new URL(page.url()).pathname, `/review/${record.id}`);
    assert.equal(await page.textContent('#statement'), 'DELETE FROM orders WHERE id = 7');
    const token = String(await page.evaluate("sessionStorage.getItem('airlock.review.token')"));
    assert.match(token, /^ey/);
    for (const u of urls) assert.ok(!u.includes(token), 'no URL carries the access token');
    const authorize = urls.map((u) => new URL(u)).find((u) => u.pathname === '/auth' && u.searchParams.has('code_challenge'))!;
    assert.deepEqual([authorize.searchParams.get('code_challenge_method'), authorize.searchParams.get('redirect_uri')], ['S256', `${base}/signin`]);

    await page.click('#approve');
    await page.waitForSelector('#message:text("Recorded: approved.")');
    const decided = await store.get(record.id);
    assert.deepEqual([decided?.state, decided?.reviewer], ['approved', 'alice'], 'the reviewer is the identity the issuer signed in');
    const success = sfnMock.commandCalls(SendTaskSuccessCommand).find((c) => c.args[0].input.taskToken === 'TT-PKCE');
    assert.ok(success, 'the workflow is told');
    await page.close();
  } finally {
    served?.server.closeAllConnections();
    await new Promise((r) => served?.server.close(r));
    await issuer.close();
  }
});
