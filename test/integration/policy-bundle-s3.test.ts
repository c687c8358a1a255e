// Policy bundles published to S3 by the real policy Lambda code reach a running gateway: a newly
// activated version decides the next statement of a live `pg` session, a broken or tampered bundle
// keeps the version in force, and a gateway with neither a policy file nor a bundle refuses to start.
// S3 is s3rver on a random port; the gateway's own S3Client finds it through the SDK's standard
// environment (AWS_ENDPOINT_URL_S3 and friends), as a task finds a VPC endpoint.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { AIRLOCK_SCHEMA } from '../../core/policy/index.js';
import { PolicyBundleStore } from '../../lambdas/policy/bundle-store.js';
import { PolicyService, type PolicyResponse } from '../../lambdas/policy/policy-service.js';
import { startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { TEST_POLICY, pgTarget, startTestGateway, type TestGateway } from '../support/gateway.js';
import { parseConfig } from '../../fargate-proxy/src/config/load.js';
import { startGateway } from '../../fargate-proxy/src/gateway.js';
import { LOCAL_CREDENTIALS, LOCAL_REGION, startLocalS3, type LocalS3 } from '../support/local-aws.js';

const BUCKET = 'airlock-policy-bundles';
const CURRENT = 'policy/current.json';
const POLL_SECONDS = 0.1;
const FROZEN_POLICY = `${TEST_POLICY}\n@id("reads-frozen")\n@reason("maintenance")\nforbid (principal, action == Airlock::Action::"read", resource);\n`;
const AWS_ENV = ['AWS_ENDPOINT_URL_S3', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] as const;

let workDir: string;
let localS3: LocalS3 | undefined;
let s3: S3Client;
let postgres: RunningPostgres;
const savedEnv = new Map<string, string | undefined>();
const gateways: TestGateway[] = [];

before(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'airlock-policy-s3-'));
  localS3 = await startLocalS3(workDir);
  const env = { AWS_ENDPOINT_URL_S3: localS3.endpoint, AWS_REGION: LOCAL_REGION, AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey };
  for (const name of AWS_ENV) {
    savedEnv.set(name, process.env[name]);
    process.env[name] = env[name];
  }
  s3 = localS3.client;
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  postgres = await startPostgres();
});

after(async () => {
  for (const gw of gateways) await gw.stop();
  await postgres?.stop();
  await localS3?.stop();
  for (const [name, value] of savedEnv) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  rmSync(workDir, { recursive: true, force: true });
});

const store = (currentKey = CURRENT) => new PolicyBundleStore({ client: s3, bucket: BUCKET, currentKey });
const lambda = (currentKey = CURRENT) => new PolicyService({ store: store(currentKey) });

async function call(request: object, currentKey = CURRENT): Promise<Extract<PolicyResponse, { ok: true; version: string }>> {
  const res = await lambda(currentKey).handle(request);
  assert.ok(res.ok && 'version' in res, JSON.stringify(res));
  return res as Extract<PolicyResponse, { ok: true; version: string }>;
}

async function gatewayWith(policyS3: Record<string, unknown>, policyFileText?: string): Promise<TestGateway> {
  const gw = await startTestGateway(postgres, {
    policy: policyFileText,
    config: (raw) => {
      (raw.policy as Record<string, unknown>).s3 = { bucket: BUCKET, pollSeconds: POLL_SECONDS, ...policyS3 };
    },
  });
  gateways.push(gw);
  return gw;
}

const refusedBy = (policyId: string) => (e: pg.DatabaseError) => e.code === '42501' && `${e.message} ${e.detail ?? ''}`.includes(policyId);
const readAllowed = (c: pg.Client) => c.query('SELECT 1 AS n').then((r) => r.rows[0].n === 1, () => false);
const readFrozen = (c: pg.Client) => c.query('SELECT 1 AS n').then(() => false, refusedBy('reads-frozen'));

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** Long enough for several polls: a change that would apply has had every chance to. */
const severalPolls = () => new Promise((r) => setTimeout(r, POLL_SECONDS * 1000 * 8));

test('an activated bundle decides the next statement of a live session; broken and tampered bundles keep it', async () => {
  // No pointer yet: the gateway runs the policy file it was started with (reads allowed).
  const gw = await gatewayWith({});
  const c = new pg.Client(gw.pgOptions(await gw.token()));
  await c.connect();
  try {
    assert.equal(await readAllowed(c), true);

    const frozen = await call({ action: 'publish', policies: FROZEN_POLICY, publishedBy: 'test' });
    await waitFor(() => readFrozen(c), 'the published version to apply');

    // A bundle that does not compile, activated behind the Lambda's back: the frozen set stays.
    const broken = store();
    const brokenVersion = `sha256:${'0'.repeat(64)}`;
    await broken.putBundle({ version: brokenVersion, policies: 'permit (principal, action, resource', schema: AIRLOCK_SCHEMA, publishedAt: new Date().toISOString() });
    await broken.activate(brokenVersion, new Date());
    await severalPolls();
    assert.equal(await readFrozen(c), true, 'a broken bundle keeps the previous policy set');

    // A valid policy set stored under a version it does not hash to (altered after publishing): refused too.
    const tamperedVersion = `sha256:${'1'.repeat(64)}`;
    await broken.putBundle({ version: tamperedVersion, policies: TEST_POLICY, schema: AIRLOCK_SCHEMA, publishedAt: new Date().toISOString() });
    await broken.activate(tamperedVersion, new Date());
    await severalPolls();
    assert.equal(await readFrozen(c), true, 'a bundle whose content does not match its version is refused');

    // Rolling back to the first version through the Lambda lifts the freeze: polling carried on.
    const original = await call({ action: 'publish', policies: TEST_POLICY });
    await waitFor(() => readAllowed(c), 'the rolled-back version to apply');
    await call({ action: 'activate', version: frozen.version });
    await waitFor(() => readFrozen(c), 'the re-activated frozen version');
    await call({ action: 'activate', version: original.version });
    await waitFor(() => readAllowed(c), 'the original version again');
  } finally {
    await c.end();
  }
});

test('a new task starts with the activated bundle, even when its policy file does not load', async () => {
  const key = 'start/current.json';
  await call({ action: 'publish', policies: FROZEN_POLICY }, key);
  const gw = await gatewayWith({ currentKey: key }, 'permit (principal, action, resource'); // not Cedar
  const c = new pg.Client(gw.pgOptions(await gw.token()));
  await c.connect();
  try {
    assert.equal(await readFrozen(c), true, 'the first statement is decided by the S3 version, not the file');
  } finally {
    await c.end();
  }
});

test('with neither a loadable policy file nor a bundle, the gateway refuses to start', async () => {
  const dir = mkdtempSync(join(workDir, 'no-policy-'));
  const policyFile = join(dir, 'policy.cedar');
  writeFileSync(policyFile, 'permit (principal, action, resource'); // not Cedar
  const cfg = parseConfig({
    dataDir: join(dir, 'data'),
    logLevel: 'silent',
    listeners: { postgres: { host: '127.0.0.1', port: 0, allowPlaintext: true } },
    identity: { issuer: 'https://idp.example.com/', audience: 'urn:airlock' },
    targets: [pgTarget(postgres)],
    policy: { file: policyFile, s3: { bucket: BUCKET, currentKey: 'nothing/current.json', pollSeconds: POLL_SECONDS } },
  });
  await assert.rejects(startGateway(cfg, { log: pino({ level: 'silent' }) }), /no policy set/);
});

test('S3 unreachable: the policy in force stays, and the gateway keeps serving', async () => {
  const key = 'outage/current.json';
  await call({ action: 'publish', policies: FROZEN_POLICY }, key);
  const gw = await gatewayWith({ currentKey: key });
  const c = new pg.Client(gw.pgOptions(await gw.token()));
  await c.connect();
  try {
    assert.equal(await readFrozen(c), true);
    // close() waits for the gateway's keep-alive connection, which stays open while the gateway runs:
    // stop accepting, and do not wait for it (the server is unreachable for new connections either way).
    const stopping = localS3!.stop(2000);
    localS3 = undefined;
    await stopping;
    await severalPolls();
    assert.equal(await readFrozen(c), true, 'the last good version stays in force');
    const other = new pg.Client(gw.pgOptions(await gw.token()));
    await other.connect();
    try {
      assert.equal(await readFrozen(other), true, 'new sessions are served with it');
    } finally {
      await other.end();
    }
  } finally {
    await c.end();
  }
});
