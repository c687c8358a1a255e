// The real `airlock` command reading the fleet's AWS audit store (dynalite + s3rver through the AWS
// SDK, endpoints from the standard AWS_ENDPOINT_URL_* variables): sessions, replay, verify, export,
// and the usage errors an operator gets for a half-named store.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { generateKeyPairSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { stringify } from 'yaml';
import { auditTableDefinition, createAwsAuditStore } from '../../fargate-proxy/src/adapters/aws/audit-dynamodb-store.js';
import { createLocalAuditSink } from '../../fargate-proxy/src/adapters/local/audit-file-sink.js';
import type { AuditEventInput } from '../../core/audit/events.js';
import { LOCAL_CREDENTIALS, LOCAL_REGION, startLocalDynamo, startLocalS3, type LocalDynamo, type LocalS3 } from '../support/local-aws.js';
import { sessionStart } from '../support/audit-events.js';

const TABLE = 'fleet-audit';
const BUCKET = 'fleet-audit-objects';
const run = promisify(execFile);
const { privateKey: fleetKey, publicKey: fleetPublicKey } = generateKeyPairSync('ed25519');
let workDir: string;
let localDynamo: LocalDynamo;
let localS3: LocalS3;
let publicKeyFile: string;
let cliEnv: NodeJS.ProcessEnv;

/** The CLI as an operator runs it; async, because dynalite and s3rver live in this process. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'fargate-proxy/src/cli/main.ts', ...args], { env: cliEnv, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    if (typeof err.code !== 'number') throw e;
    return { code: err.code, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

const stmt = (sessionId: string, statementId: string, text: string, effect: 'allow' | 'deny'): AuditEventInput => ({
  type: 'statement',
  sessionId,
  statementId,
  text,
  class: effect === 'allow' ? 'read' : 'ddl',
  statementTypes: [effect === 'allow' ? 'SelectStmt' : 'DropStmt'],
  tables: ['orders'],
  functions: [],
  decision: { effect, policyIds: ['p'], policyVersion: 'v1', reason: effect === 'allow' ? 'read is permitted' : 'DDL is forbidden' },
});

before(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'airlock-cli-store-'));
  localDynamo = await startLocalDynamo();
  localS3 = await startLocalS3(join(workDir, 's3'));
  await localDynamo.client.send(new CreateTableCommand(auditTableDefinition(TABLE)));
  await localS3.client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  publicKeyFile = join(workDir, 'fleet.pub');
  await writeFile(publicKeyFile, fleetPublicKey.export({ type: 'spki', format: 'pem' }));
  cliEnv = {
    ...process.env,
    AWS_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_DYNAMODB: localDynamo.endpoint,
    AWS_ENDPOINT_URL_S3: localS3.endpoint,
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  delete cliEnv.AWS_PROFILE;

  // Two tasks of the fleet, each with its own local directory, shipping to the one store.
  const store = createAwsAuditStore({ dynamodb: localDynamo.client, s3: localS3.client, table: TABLE, bucket: BUCKET });
  const taskA = await createLocalAuditSink({ dir: join(workDir, 'task-a'), ack: 'store', responseCapBytes: 0, signingKey: fleetKey, store, storeTimeoutMs: 10_000 });
  const taskB = await createLocalAuditSink({ dir: join(workDir, 'task-b'), ack: 'store', responseCapBytes: 0, signingKey: fleetKey, store, storeTimeoutMs: 10_000 });
  await taskA.append(sessionStart('fleet-alice', 'alice', 'orders'));
  await taskA.append(stmt('fleet-alice', 'q1', 'select * from orders', 'allow'));
  await taskA.append({ type: 'statement.outcome', sessionId: 'fleet-alice', statementId: 'q1', status: 'ok', rows: 3, bytes: 120, durationMs: 1 });
  await taskA.append({ type: 'session.end', sessionId: 'fleet-alice', reason: 'client closed', statements: 1, bytesIn: 40, bytesOut: 120, durationMs: 30 });
  await taskB.append(sessionStart('fleet-bob', 'bob', 'billing'));
  await taskB.append(stmt('fleet-bob', 'q1', 'drop table orders', 'deny'));
  await taskA.close();
  await taskB.close();
});

after(async () => {
  await localS3?.stop();
  await localDynamo?.stop();
  await rm(workDir, { recursive: true, force: true });
});

const storeFlags = ['--table', TABLE, '--bucket', BUCKET];

test('airlock sessions lists the sessions of every task from the store', async () => {
  const json = await cli(['sessions', ...storeFlags, '--format', 'json']);
  assert.equal(json.code, 0, json.stderr);
  const list = JSON.parse(json.stdout) as { sessionId: string; principal?: string; target?: string; denied: number; endedAt?: string }[];
  assert.deepEqual(list.map((s) => s.sessionId).sort(), ['fleet-alice', 'fleet-bob']);
  const bob = list.find((s) => s.sessionId === 'fleet-bob')!;
  assert.equal(bob.principal, 'bob');
  assert.equal(bob.denied, 1);
  assert.ok(list.find((s) => s.sessionId === 'fleet-alice')!.endedAt, 'alice ended');

  const refused = await cli(['sessions', ...storeFlags, '--refused-only']);
  assert.equal(refused.code, 0, refused.stderr);
  assert.match(refused.stdout, /fleet-bob\s.*bob\s+billing\s+open, 1 denied/);
  assert.doesNotMatch(refused.stdout, /fleet-alice/);
});

test('airlock replay shows a stored session with its chain intact', async () => {
  const r = await cli(['replay', 'fleet-alice', ...storeFlags, '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const replay = JSON.parse(r.stdout) as { chainIntact: boolean; events: { type: string }[] };
  assert.equal(replay.chainIntact, true);
  assert.deepEqual(replay.events.map((e) => e.type), ['session.start', 'statement', 'statement.outcome', 'session.end']);

  const missing = await cli(['replay', 'no-such-session', ...storeFlags]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no audit log for session no-such-session/);
});

test('airlock audit verify checks the store against the fleet key, and needs one', async () => {
  const ok = await cli(['audit', 'verify', ...storeFlags, '--public-key', publicKeyFile]);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /checked 2 sessions, 6 events/);
  assert.match(ok.stdout, /audit trail verified/);

  const otherKey = join(workDir, 'other.pub');
  await writeFile(otherKey, generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }));
  const wrong = await cli(['audit', 'verify', ...storeFlags, '--public-key', otherKey]);
  assert.equal(wrong.code, 1, 'digests signed by another key fail');
  assert.match(wrong.stdout, /FAILED verification/);

  const keyless = await cli(['audit', 'verify', ...storeFlags]);
  assert.equal(keyless.code, 2);
  assert.match(keyless.stderr, /no public key: give --public-key FILE/);
});

test('airlock audit export writes the stored events of the selected sessions as JSON lines', async () => {
  const r = await cli(['audit', 'export', ...storeFlags, '--principal', 'alice']);
  assert.equal(r.code, 0, r.stderr);
  const events = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { sessionId: string; seq: number; hash: string });
  assert.deepEqual(events.map((e) => `${e.sessionId}#${e.seq}`), ['fleet-alice#1', 'fleet-alice#2', 'fleet-alice#3', 'fleet-alice#4']);
  assert.ok(events.every((e) => /^[0-9a-f]{64}$/.test(e.hash)));
});

test('--store reads the store the configuration names', async () => {
  const config = (store?: object) => ({
    dataDir: join(workDir, 'data'),
    identity: { issuer: 'https://idp.example.com', audience: 'urn:airlock' },
    targets: [{ name: 'orders', kind: 'postgres', host: 'db.internal', database: 'orders', user: 'agent', credential: 'env:ORDERS_PW' }],
    policy: { file: 'policy.cedar' },
    ...(store ? { audit: { store } } : {}),
  });
  const withStore = join(workDir, 'with-store.yaml');
  await writeFile(withStore, stringify(config({ kind: 'aws', table: TABLE, bucket: BUCKET })));
  const r = await cli(['sessions', '--store', '-c', withStore, '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual((JSON.parse(r.stdout) as { sessionId: string }[]).map((s) => s.sessionId).sort(), ['fleet-alice', 'fleet-bob']);

  const withoutStore = join(workDir, 'local.yaml');
  await writeFile(withoutStore, stringify(config()));
  const none = await cli(['sessions', '--store', '-c', withoutStore]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /names no audit store \(audit\.store\); give --table and --bucket/);
});

test('a half-named store or a store mixed with --dir is a usage error', async () => {
  const half = await cli(['sessions', '--table', TABLE]);
  assert.equal(half.code, 2);
  assert.match(half.stderr, /needs both --table and --bucket/);
  const mixed = await cli(['replay', 'fleet-alice', '--dir', workDir, ...storeFlags]);
  assert.equal(mixed.code, 2);
  assert.match(mixed.stderr, /--dir reads a local audit directory; it does not go with --table, --bucket or --store/);
});
