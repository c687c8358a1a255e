// Held requests across the fleet: two `airlock serve` processes, as two tasks of one fleet, each with
// its own HTTP engine, held-request waits and approval poller, share only the approval store —
// DynamoDB, here dynalite through the real SDK (Step Functions, which has no local server, through a
// stand-in answering StartExecution). An identical retry reaching the other task finds the same
// approval, and once approved the request runs exactly once fleet-wide.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { decideApproval } from '../../core/approval/index.js';
import { DynamoApprovalStore } from '../../fargate-proxy/src/adapters/aws/approval-dynamo-store.js';
import { requestClientCredentialsToken, startLocalIssuer, type LocalIssuer } from '../../fargate-proxy/src/adapters/local/oidc-issuer.js';
import { AGENT, AUDIENCE } from '../support/gateway.js';
import { HTTP_TEST_POLICY } from '../support/http-gateway.js';
import { startHttpUpstream, UPSTREAM_TOKEN, type RunningUpstream } from '../support/http-upstream.js';
import { startSfnStandIn, type SfnStandIn } from '../support/sfn-stand-in.js';
import { startLocalDynamo, type LocalDynamo, createApprovalsTable, localAwsEnv, stepFunctionsApprovals } from '../support/local-aws.js';
import { startServeProcess, type ServeProcess } from '../support/serve-process.js';

const TABLE = 'airlock-approvals-fleet';
let dir: string;
let dynamo: LocalDynamo;
let sfn: SfnStandIn;
let issuer: LocalIssuer;
let store: DynamoApprovalStore;
let up: RunningUpstream;
let a: ServeProcess;
let b: ServeProcess;
let token: string;

/** One task's configuration: its own data directory and listener, the fleet's issuer, table and policy. */
function taskConfig(name: string): { file: string; dataDir: string } {
  const dataDir = join(dir, name);
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    stringify({
      dataDir,
      logLevel: 'error',
      listeners: { http: { host: '127.0.0.1', port: 0, allowPlaintext: true, approvalWaitSeconds: 1 } },
      identity: { issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: AUDIENCE },
      targets: [{ kind: 'http', name: 'crm', environment: 'test', baseUrl: `${up.url}/api`, credential: { type: 'bearer', secret: 'env:AIRLOCK_TEST_CRM_TOKEN' } }],
      policy: { file: join(dir, 'policy.cedar') },
      approvals: stepFunctionsApprovals(TABLE),
    }),
  );
  return { file, dataDir };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-http-fleet-'));
  writeFileSync(join(dir, 'policy.cedar'), HTTP_TEST_POLICY);
  [dynamo, sfn, up, issuer] = await Promise.all([
    startLocalDynamo(),
    startSfnStandIn(async () => undefined),
    startHttpUpstream(),
    // The fleet's identity provider, outside both tasks.
    startLocalIssuer({ host: '127.0.0.1', port: 0, audience: AUDIENCE, clients: [AGENT] }),
  ]);
  await createApprovalsTable(dynamo, TABLE);
  store = new DynamoApprovalStore(dynamo.client, TABLE);
  // Each task builds its AWS clients from the environment, as in ECS.
  const env = { ...localAwsEnv({ dynamodb: dynamo.endpoint, sfn: sfn.endpoint }), AIRLOCK_TEST_CRM_TOKEN: UPSTREAM_TOKEN };
  const [ca, cb] = [taskConfig('task-a'), taskConfig('task-b')];
  [a, b] = await Promise.all([startServeProcess(ca.file, ca.dataDir, env), startServeProcess(cb.file, cb.dataDir, env)]);
  assert.notEqual(a.child.pid, b.child.pid);
  token = await requestClientCredentialsToken({ tokenEndpoint: issuer.tokenEndpoint, clientId: AGENT.clientId, clientSecret: AGENT.clientSecret, audience: AUDIENCE });
});
after(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await up?.stop();
  await issuer?.close();
  await sfn?.stop();
  await dynamo?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const post = (task: ServeProcess, body: string) =>
  fetch(`http://127.0.0.1:${task.record.http!.port}/crm/orders`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body });
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
  assert.equal(sfn.calls.filter((c) => c.action === 'StartExecution' && (JSON.parse(String(c.input.input)) as { requestId?: string }).requestId === first.approvalId).length, 1, 'one approval workflow, started by A only');

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
