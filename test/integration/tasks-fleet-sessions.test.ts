// Concurrent sessions and request rates across the fleet: two `airlock serve` processes, as two
// proxy tasks, share only the approvals table (DynamoDB — dynalite through the real SDK). A task
// with --max-sessions 1 holding a session (an HTTP keep-alive connection) on A is refused a login
// on B (403 budget_exceeded) until A's session ends; when A is killed with SIGKILL while holding
// it, the slot frees once A's heartbeat is stale. A task limited to N requests a minute gets its
// N+1-th on the other process refused with 429 and a Retry-After, though neither process alone
// reached N.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import pino from 'pino';
import { Client } from 'undici';
import { compilePolicySet } from '../../core/policy/index.js';
import type { Principal } from '../../core/model.js';
import type { TaskBudget } from '../../core/task/types.js';
import { DynamoTaskStore } from '../../fargate-proxy/src/adapters/aws/task-dynamo-store.js';
import { startLocalIssuer, type LocalIssuer } from '../../fargate-proxy/src/adapters/local/oidc-issuer.js';
import { loadOrCreateTaskKey } from '../../fargate-proxy/src/tasks/local-task-key.js';
import { startTasks } from '../../fargate-proxy/src/tasks/task-gateway.js';
import { AGENT, AUDIENCE } from '../support/gateway.js';
import { HTTP_TEST_POLICY } from '../support/http-gateway.js';
import { startHttpUpstream, UPSTREAM_TOKEN, type RunningUpstream } from '../support/http-upstream.js';
import { startSfnStandIn, type SfnStandIn } from '../support/sfn-stand-in.js';
import { startLocalDynamo, type LocalDynamo, createApprovalsTable, localAwsEnv, stepFunctionsApprovals } from '../support/local-aws.js';
import { shareTaskKey } from '../support/task-key.js';
import { startServeProcess, type ServeProcess } from '../support/serve-process.js';

const TABLE = 'airlock-approvals-sessions';
/** Each process polls (and heartbeats its slots) this often; silent for three polls, it is taken for dead. */
const POLL_SECONDS = 1;
let dir: string;
let dynamo: LocalDynamo;
let sfn: SfnStandIn;
let issuer: LocalIssuer;
let up: RunningUpstream;
let a: ServeProcess;
let b: ServeProcess;
let opener: ReturnType<typeof startTasks>;
let agent: Principal;

function taskConfig(name: string): { file: string; dataDir: string } {
  const dataDir = join(dir, name);
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    stringify({
      dataDir,
      logLevel: 'error',
      listeners: { http: { host: '127.0.0.1', port: 0, allowPlaintext: true } },
      identity: { issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: AUDIENCE },
      targets: [{ kind: 'http', name: 'crm', environment: 'test', baseUrl: `${up.url}/api`, credential: { type: 'bearer', secret: 'env:AIRLOCK_TEST_CRM_TOKEN' } }],
      policy: { file: join(dir, 'policy.cedar') },
      approvals: stepFunctionsApprovals(TABLE),
      tasks: {
        fleetPollSeconds: POLL_SECONDS,
        // Budgets of the agents themselves (with or without a task), counted fleet-wide too.
        agentBudgets: [
          { principal: 'agent-one-session', concurrentSessions: 1 },
          { principal: 'agent-two-a-minute', requestsPerMinute: 2 },
        ],
      },
    }),
  );
  return { file, dataDir };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-fleet-sessions-'));
  writeFileSync(join(dir, 'policy.cedar'), HTTP_TEST_POLICY);
  [dynamo, sfn, up, issuer] = await Promise.all([
    startLocalDynamo(),
    startSfnStandIn(async () => undefined),
    startHttpUpstream(),
    startLocalIssuer({ host: '127.0.0.1', port: 0, audience: AUDIENCE, clients: [AGENT] }),
  ]);
  await createApprovalsTable(dynamo, TABLE);
  const env = { ...localAwsEnv({ dynamodb: dynamo.endpoint, sfn: sfn.endpoint }), AIRLOCK_TEST_CRM_TOKEN: UPSTREAM_TOKEN };
  const [ca, cb] = [taskConfig('task-a'), taskConfig('task-b')];
  // The fleet signs task tokens with one key (KMS in AWS): both data directories hold the same one.
  shareTaskKey(ca.dataDir, cb.dataDir);
  [a, b] = await Promise.all([startServeProcess(ca.file, ca.dataDir, env), startServeProcess(cb.file, cb.dataDir, env)]);
  // Tasks are opened in the shared table with the fleet's key, as any proxy task would.
  const shared = new DynamoTaskStore(dynamo.client, TABLE);
  opener = startTasks({
    log: pino({ level: 'silent' }),
    key: loadOrCreateTaskKey(ca.dataDir),
    policy: () => compilePolicySet(`@id("t") permit (principal, action == Airlock::Action::"task_open", resource);`),
    targets: [{ name: 'crm', kind: 'http', environment: 'test', tags: {} }],
    reviewerGroups: ['reviewers'],
    verifier: { verify: async () => agent },
    store: shared,
  });
  agent = { id: 'agent-fleet', groups: ['agents'], issuer: issuer.issuer };
});
after(async () => {
  await opener?.close();
  await Promise.all([a?.stop(), b?.stop()]);
  await up?.stop();
  await issuer?.close();
  await sfn?.stop();
  await dynamo?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function openTask(budget: TaskBudget, by: Principal = agent): Promise<string> {
  const opened = await opener.service.open(by, { title: 'fleet', targets: ['crm'], scope: ['read'], durationSeconds: 600, budget });
  assert.equal(opened.state, 'granted');
  if (opened.state !== 'granted') throw new Error('not granted');
  return opened.token;
}

/** One agent connection (keep-alive): its first request opens an HTTP session that lasts until it closes. */
function connect(p: ServeProcess, token: string) {
  const client = new Client(`http://127.0.0.1:${p.record.http!.port}`, { keepAliveTimeout: 60_000, pipelining: 1 });
  return {
    async get(): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: { code?: string; budget?: string; retryAfter?: number } }> {
      const res = await client.request({ method: 'GET', path: '/crm/customers', headers: { authorization: `Bearer ${token}` } });
      const text = await res.body.text();
      return { status: res.statusCode, headers: res.headers, body: res.statusCode === 200 ? {} : JSON.parse(text) };
    },
    close: () => client.close(),
    destroy: () => client.destroy(),
  };
}

/** A login (one request on a fresh connection) on `p`: its status and refusal code. */
async function login(p: ServeProcess, token: string) {
  const c = connect(p, token);
  try {
    return await c.get();
  } finally {
    await c.destroy();
  }
}

async function eventually(what: string, ok: () => Promise<boolean>, ms = 10_000): Promise<number> {
  const start = Date.now();
  while (!(await ok())) {
    if (Date.now() - start > ms) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - start;
}

test('a task with one concurrent session: a session open on A refuses a login on B (403 budget_exceeded) until it ends', async () => {
  const token = await openTask({ concurrentSessions: 1 });
  const onA = connect(a, token);
  assert.equal((await onA.get()).status, 200);
  assert.equal((await onA.get()).status, 200, 'the session on A goes on');
  const refused = await login(b, token);
  assert.equal(refused.status, 403, JSON.stringify(refused.body));
  assert.equal(refused.body.code, 'budget_exceeded');
  assert.equal(refused.body.budget, 'concurrentSessions');
  await onA.close();
  // A gives its slot back as soon as the connection (the session) is gone.
  await eventually('B admits once A\'s session ended', async () => (await login(b, token)).status === 200, 10_000);
  // B's login above ended with its connection: A admits again.
  await eventually('A admits once B\'s session ended', async () => (await login(a, token)).status === 200, 10_000);
});

test('a task limited to 3 requests a minute: the 4th, on the other process, is refused with 429 and Retry-After', async () => {
  const token = await openTask({ requestsPerMinute: 3 });
  const onA = connect(a, token);
  const onB = connect(b, token);
  try {
    assert.equal((await onA.get()).status, 200);
    assert.equal((await onB.get()).status, 200);
    assert.equal((await onA.get()).status, 200);
    // B has seen one request, A two: only the fleet's count is at 3.
    const refused = await onB.get();
    assert.equal(refused.status, 429, JSON.stringify(refused.body));
    assert.equal(refused.body.code, 'budget_exceeded');
    assert.equal(refused.body.budget, 'requestsPerMinute');
    const retryAfter = Number(refused.headers['retry-after']);
    // The fleet's window is the current 10 s bucket and the six before it: the three leave it 60–70 s
    // after they were counted (a little less if they straddle a bucket boundary: the later ones stay).
    assert.ok(retryAfter > 50 && retryAfter <= 70, `Retry-After: ${retryAfter}`);
    assert.equal(refused.body.retryAfter, retryAfter);
    assert.equal((await onA.get()).status, 429, 'and on A too');
  } finally {
    await Promise.all([onA.close(), onB.close()]);
  }
});

test('an agent\'s own budgets across the fleet: one concurrent session, two requests a minute', async () => {
  const one = await openTask({}, { ...agent, id: 'agent-one-session' });
  const onA = connect(a, one);
  assert.equal((await onA.get()).status, 200);
  const refused = await login(b, one);
  assert.equal(refused.status, 403);
  assert.deepEqual([refused.body.code, refused.body.budget], ['budget_exceeded', 'concurrentSessions']);
  await onA.close();
  await eventually('B admits once A\'s session ended', async () => (await login(b, one)).status === 200, 10_000);

  const two = await openTask({}, { ...agent, id: 'agent-two-a-minute' });
  const [ra, rb] = [connect(a, two), connect(b, two)];
  try {
    assert.equal((await ra.get()).status, 200);
    assert.equal((await rb.get()).status, 200);
    const limited = await ra.get();
    assert.equal(limited.status, 429);
    assert.deepEqual([limited.body.code, limited.body.budget], ['budget_exceeded', 'requestsPerMinute']);
    assert.ok(Number(limited.headers['retry-after']) > 50);
  } finally {
    await Promise.all([ra.close(), rb.close()]);
  }
});

test('A is killed (SIGKILL) while holding the task\'s only session: B is refused until A\'s heartbeat is stale, then admits', async () => {
  const token = await openTask({ concurrentSessions: 1 });
  const onA = connect(a, token);
  assert.equal((await onA.get()).status, 200);
  await a.stop('SIGKILL');
  onA.destroy().catch(() => undefined);
  const killedAt = Date.now();
  const refused = await login(b, token);
  assert.equal(refused.status, 403, 'a crashed holder still counts within the stale window');
  assert.equal(refused.body.code, 'budget_exceeded');
  const waited = await eventually('B admits once A is taken for dead', async () => (await login(b, token)).status === 200, 10_000);
  // Stale after three polls without a heartbeat (3 s); A's last heartbeat was at most a poll before the kill.
  assert.ok(Date.now() - killedAt >= 2 * POLL_SECONDS * 1000 - 100, `freed after ${Date.now() - killedAt} ms`);
  assert.ok(waited < 9000, `freed after ${waited} ms`);
});
