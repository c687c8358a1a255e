// Held requests across the fleet: two gateways (each with its own HTTP engine, held-request waits and
// approval poller) share only the approval store — DynamoDB, here dynalite through the real SDK; Step
// Functions, which has no local server, through aws-sdk-client-mock. An identical retry reaching the
// other gateway finds the same approval, and once approved the request runs exactly once fleet-wide.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { SFNClient, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { decideApproval } from '../../core/approval/index.js';
import { DynamoApprovalStore } from '../../fargate-proxy/src/adapters/aws/approval-dynamo-store.js';
import { startHttpTestGateway, type HttpTestGateway } from '../support/http-gateway.js';
import { startHttpUpstream, UPSTREAM_TOKEN, type RunningUpstream } from '../support/http-upstream.js';
import { LOCAL_CREDENTIALS, LOCAL_REGION, startLocalDynamo, type LocalDynamo } from '../support/local-aws.js';

const TABLE = 'airlock-approvals-fleet';
const sfnMock = mockClient(SFNClient);
let dynamo: LocalDynamo;
let store: DynamoApprovalStore;
let up: RunningUpstream;
let a: HttpTestGateway;
let b: HttpTestGateway;
let token: string;
const saved = { ...process.env };

before(async () => {
  dynamo = await startLocalDynamo();
  await dynamo.client.send(new CreateTableCommand({ TableName: TABLE, BillingMode: 'PAY_PER_REQUEST', AttributeDefinitions: [{ AttributeName: 'requestId', AttributeType: 'S' }], KeySchema: [{ AttributeName: 'requestId', KeyType: 'HASH' }] }));
  store = new DynamoApprovalStore(dynamo.client, TABLE);
  sfnMock.on(StartExecutionCommand).callsFake((i: { name: string }) => ({ executionArn: `arn:aws:states:us-east-1:1:execution:approvals:${i.name}`, startDate: new Date() }));
  sfnMock.on(StopExecutionCommand).resolves({ stopDate: new Date() });
  // The gateways build their DynamoDB clients from the environment, as in a task.
  Object.assign(process.env, { AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint, AWS_REGION: LOCAL_REGION, AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey });
  up = await startHttpUpstream();
  const approvals = { reviewerGroups: ['reviewers'], timeoutSeconds: 120, backend: 'stepfunctions', stepFunctions: { tableName: TABLE, stateMachineArn: 'arn:aws:states:us-east-1:1:stateMachine:approvals' } };
  const common = {
    targets: [{ kind: 'http', name: 'crm', environment: 'test', baseUrl: `${up.url}/api`, credential: { type: 'bearer', secret: 'memory:t' } }],
    memorySecrets: { t: UPSTREAM_TOKEN },
    listener: { approvalWaitSeconds: 1 },
  };
  a = await startHttpTestGateway({ ...common, config: (raw) => void (raw.approvals = approvals) });
  // B trusts A's issuer, as every task of a fleet trusts one identity provider.
  b = await startHttpTestGateway({
    ...common,
    config: (raw) => {
      raw.approvals = approvals;
      raw.identity = { ...(raw.identity as object), issuer: a.gw.issuer, localIssuer: undefined };
    },
  });
  token = await a.token();
});
after(async () => {
  await a?.stop();
  await b?.stop();
  await up?.stop();
  await dynamo?.stop();
  sfnMock.restore();
  for (const k of ['AWS_ENDPOINT_URL_DYNAMODB', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) if (saved[k] === undefined) delete process.env[k];
  Object.assign(process.env, saved);
});

const post = (gw: HttpTestGateway, body: string) =>
  fetch(`${gw.base}/crm/orders`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body });
const orders = () => up.requests.filter((r) => r.routedPath === '/api/orders' && r.method === 'POST').length;
const approve = async (id: string) => {
  const r = await decideApproval(store, { id, reviewer: { id: 'rita', groups: ['reviewers'], issuer: 'idp' }, decision: { verdict: 'approve', scope: 'once' }, reviewerGroups: ['reviewers'], now: Date.now() });
  assert.ok(r.ok, JSON.stringify(r));
};
const pendingOf = async (res: Response) => {
  assert.equal(res.status, 503, await res.clone().text());
  return (await res.json()) as { code: string; approvalId: string; requestId: string };
};

test('a retry on the other gateway waits on the same approval and, approved, runs once', async () => {
  const before = orders();
  const first = await pendingOf(await post(a, '{"fleet":1}'));
  const onB = await pendingOf(await post(b, '{"fleet":1}'));
  assert.equal(onB.approvalId, first.approvalId, 'B found the hold A recorded');
  assert.equal(onB.requestId, first.requestId, 'and tells the agent the same request id');
  assert.equal((await store.listPending()).filter((r) => r.id === first.approvalId).length, 1, 'one approval on the desk');

  await approve(first.approvalId);
  const ran = await post(b, '{"fleet":1}');
  assert.equal(ran.status, 201, await ran.clone().text());
  assert.equal(orders(), before + 1);

  // Used: the same request again, on either gateway, asks anew.
  const again = await pendingOf(await post(a, '{"fleet":1}'));
  assert.notEqual(again.approvalId, first.approvalId);
  assert.equal(orders(), before + 1);
});

test('identical retries racing on both gateways after approval: exactly one runs', async () => {
  const before = orders();
  const held = await pendingOf(await post(b, '{"fleet":2}'));
  await approve(held.approvalId);
  const [ra, rb] = await Promise.all([post(a, '{"fleet":2}'), post(b, '{"fleet":2}')]);
  const statuses = [ra.status, rb.status].sort();
  assert.deepEqual(statuses, [201, 403], `${await ra.clone().text()} / ${await rb.clone().text()}`);
  const refused = ra.status === 403 ? ra : rb;
  assert.equal(((await refused.json()) as { code: string }).code, 'approval_denied');
  assert.equal(orders(), before + 1, 'the upstream saw it once');
});

test('a different body on the other gateway is a different approval', async () => {
  const one = await pendingOf(await post(a, '{"fleet":3}'));
  const other = await pendingOf(await post(b, '{"fleet":4}'));
  assert.notEqual(one.approvalId, other.approvalId);
});
