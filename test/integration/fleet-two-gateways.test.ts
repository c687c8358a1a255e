// Two gateway processes as two tasks of one fleet, sharing the local AWS stand-ins (dynalite for
// the fleet registry, s3rver for policy bundles) and one PostgreSQL. In front of them a round-robin TCP balancer plays the NLB:
// every connection goes to the next task, so psql's cancel (sent on a new connection) reaches the
// task that does not hold its session.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { stringify } from 'yaml';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { PolicyBundleStore } from '../../lambdas/policy/bundle-store.js';
import { PolicyService } from '../../lambdas/policy/policy-service.js';
import { startPostgres, waitForActiveQuery, type RunningPostgres } from '../support/pg-server.js';
import { AGENT, AUDIENCE, TEST_POLICY, pgTarget, sendCancel } from '../support/gateway.js';
import { spawnWarmGateway, type WarmGateway } from '../support/gateway-process.js';
import { startLocalDynamo, startLocalS3, type LocalDynamo, type LocalS3, createFleetTable, localAwsEnv } from '../support/local-aws.js';
import { useProcessEnv } from '../support/process-env.js';
import { requestClientCredentialsToken } from '../../fargate-proxy/src/adapters/local/oidc-issuer.js';
import { fleetTagOf } from '../../fargate-proxy/src/protocols/postgres/cancel-registry.js';

const FLEET_TABLE = 'airlock-fleet';
const BUCKET = 'airlock-policy-bundles';
const FROZEN_POLICY = `${TEST_POLICY}\n@id("reads-frozen")\n@reason("maintenance")\nforbid (principal, action == Airlock::Action::"read", resource);\n`;

let server: RunningPostgres;
let dynamo: LocalDynamo;
let s3: LocalS3;
let dir: string;
let issuerPort: number;
const tasks: WarmGateway[] = [];
const ports: number[] = [];
let restoreEnv: (() => void) | undefined;

/** A gateway configuration; the first task runs the issuer, the second trusts it, as a fleet shares one IdP. */
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
        ...(withIssuer ? { localIssuer: { port: issuerPort, clients: [AGENT] } } : {}),
      },
      targets: [pgTarget(server)],
      // Both tasks poll the same bundle pointer, as a fleet does.
      policy: { file: join(dir, 'policy.cedar'), s3: { bucket: BUCKET, pollSeconds: 0.5 } },
      fleet: { table: FLEET_TABLE, advertiseHost: '127.0.0.1', heartbeatSeconds: 1, expireSeconds: 5 },
    }),
  );
  return file;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-fleet-'));
  writeFileSync(join(dir, 'policy.cedar'), TEST_POLICY);
  [server, dynamo, s3] = await Promise.all([startPostgres(), startLocalDynamo(), startLocalS3(dir)]);
  await s3.client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  await createFleetTable(dynamo, FLEET_TABLE);
  const env = localAwsEnv({ dynamodb: dynamo.endpoint, s3: s3.endpoint });
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
  await dynamo?.stop();
  await s3?.stop();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const token = () =>
  requestClientCredentialsToken({ tokenEndpoint: `http://127.0.0.1:${issuerPort}/token`, clientId: AGENT.clientId, clientSecret: AGENT.clientSecret, audience: AUDIENCE });

/** Connection i goes to backends[i % n], as an NLB may route any two connections apart. */
async function roundRobin(backends: number[]): Promise<{ port: number; routed: number[]; close(): void }> {
  const routed: number[] = [];
  const balancer = net.createServer((client) => {
    const backend = backends[routed.length % backends.length]!;
    routed.push(backend);
    const upstream = net.connect(backend, '127.0.0.1');
    client.pipe(upstream).on('error', () => client.destroy());
    upstream.pipe(client).on('error', () => upstream.destroy());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((r) => balancer.listen(0, '127.0.0.1', r));
  return { port: (balancer.address() as net.AddressInfo).port, routed, close: () => balancer.close() };
}

const waitForActive = (sql: string): Promise<void> => waitForActiveQuery(server, sql);

test('the two tasks hold different fleet tags, each in the registry with its listener', async () => {
  const out = await dynamo.client.send(new ScanCommand({ TableName: FLEET_TABLE }));
  const items = (out.Items ?? []).map((i) => ({ tag: Number(i.tag!.N), port: Number(i.postgresPort!.N) }));
  assert.equal(items.length, 2);
  assert.notEqual(items[0]!.tag, items[1]!.tag);
  assert.deepEqual(items.map((i) => i.port).sort(), [...ports].sort());
});

test('psql cancel (Ctrl-C) through a balancer that sends it to the other task ends pg_sleep(30) with 57014', async () => {
  const balancer = await roundRobin(ports);
  try {
    const sql = 'SELECT pg_sleep(30)';
    const started = Date.now();
    const child = spawn('psql', [`host=127.0.0.1 port=${balancer.port} dbname=app user=agent sslmode=disable`, '-X', '-c', sql], {
      env: { ...process.env, PGPASSWORD: await token(), PGCONNECT_TIMEOUT: '10' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    await waitForActive(sql);
    child.kill('SIGINT'); // psql's cancel handler opens a new connection with a CancelRequest
    const code = await exited;
    const elapsed = Date.now() - started;
    assert.match(stderr, /canceling statement due to user request/);
    assert.notEqual(code, 0);
    assert.ok(elapsed < 25_000, `the statement was cancelled, not run to the end (${elapsed} ms)`);
    // The session went to one task and its cancel to the other.
    assert.deepEqual(balancer.routed, [ports[0], ports[1]]);
    console.log(`# pg_sleep(30) cancelled across tasks after ${elapsed} ms`);
  } finally {
    balancer.close();
  }
});

test('a cancel with the wrong secret, sent to the other task, cancels nothing', async () => {
  const c = new pg.Client({ host: '127.0.0.1', port: ports[1], database: 'app', user: 'agent', password: await token() });
  await c.connect();
  try {
    const key = c as unknown as { processID: number; secretKey: number };
    assert.notEqual(fleetTagOf(key.processID), 0, 'the process id carries the task tag');
    const slow = c.query('SELECT pg_sleep(1), 43 AS n');
    await waitForActive('SELECT pg_sleep(1), 43 AS n');
    await sendCancel(ports[0]!, { processID: key.processID, secretKey: key.secretKey ^ 1 });
    assert.equal((await slow).rows[0].n, 43);
    // And the right secret, sent to the other task, does.
    const slower = c.query('SELECT pg_sleep(30)');
    await waitForActive('SELECT pg_sleep(30)');
    await sendCancel(ports[0]!, key);
    await assert.rejects(slower, { code: '57014' });
    assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1, 'the session stays usable');
  } finally {
    await c.end();
  }
});

test('a policy version activated once reaches live sessions on both tasks within seconds', async () => {
  const clients = await Promise.all(ports.map(async (port) => {
    const c = new pg.Client({ host: '127.0.0.1', port, database: 'app', user: 'agent', password: await token() });
    await c.connect();
    return c;
  }));
  try {
    for (const c of clients) assert.equal((await c.query('SELECT 1 AS n')).rows[0].n, 1);
    const service = new PolicyService({ store: new PolicyBundleStore({ client: s3.client, bucket: BUCKET, currentKey: 'policy/current.json' }) });
    const published = await service.handle({ action: 'publish', policies: FROZEN_POLICY, publishedBy: 'test' });
    assert.ok(published.ok, JSON.stringify(published));
    const activatedAt = Date.now();
    const frozen = (c: pg.Client) => c.query('SELECT 1').then(() => false, (e: pg.DatabaseError) => e.code === '42501' && e.message.includes('reads-frozen'));
    const seen: number[] = [];
    for (const c of clients) {
      for (let i = 0; i < 200 && !(await frozen(c)); i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(await frozen(c), true, 'the frozen version decides on this task');
      seen.push(Date.now() - activatedAt);
    }
    console.log(`# policy version applied on both tasks after ${seen.join(' / ')} ms (poll 0.5 s)`);
  } finally {
    for (const c of clients) await c.end();
  }
});
