// The AWS audit store through the real SDK against dynalite (DynamoDB) and s3rver (S3), both on
// random local ports in temporary directories: group-committed writes, large records in S3,
// listing by principal / target / time / refusals, verification, and a spool shipped after restart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { generateKeyPairSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { gunzipSync } from 'node:zlib';
import { auditTableDefinition, createAwsAuditStore } from '../../fargate-proxy/src/adapters/aws/audit-dynamodb-store.js';
import { createLocalAuditSink } from '../../fargate-proxy/src/adapters/local/audit-file-sink.js';
import { createLocalAuditReader } from '../../fargate-proxy/src/adapters/local/audit-file-reader.js';
import { verifyAuditStore } from '../../core/audit/verify.js';
import { capturedBytes } from '../../core/audit/response-capture.js';
import type { AuditEventInput, AuditRecord } from '../../core/audit/events.js';
import { LOCAL_CREDENTIALS, startLocalDynamo, startLocalS3, type LocalDynamo, type LocalS3 } from '../support/local-aws.js';
import { sessionStart } from '../support/audit-events.js';

const TABLE = 'airlock-audit';
const BUCKET = 'airlock-audit-objects';
const credentials = LOCAL_CREDENTIALS;
let workDir: string;
let localDynamo: LocalDynamo;
let localS3: LocalS3;
let dynamodb: DynamoDBClient;
let s3: S3Client;
/** The fleet shares one digest key (from Secrets Manager in AWS), so one public key verifies the store. */
const { privateKey: fleetKey, publicKey: fleetPublicKey } = generateKeyPairSync('ed25519');

before(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'airlock-audit-aws-'));
  localDynamo = await startLocalDynamo();
  localS3 = await startLocalS3(join(workDir, 's3'));
  dynamodb = localDynamo.client;
  s3 = localS3.client;
  await dynamodb.send(new CreateTableCommand(auditTableDefinition(TABLE)));
  for (let i = 0; i < 50; i++) {
    const d = await dynamodb.send(new DescribeTableCommand({ TableName: TABLE }));
    if (d.Table?.TableStatus === 'ACTIVE') break;
    await new Promise((r) => setTimeout(r, 20));
  }
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
});

after(async () => {
  await localS3?.stop();
  await localDynamo?.stop();
  await rm(workDir, { recursive: true, force: true });
});


const stmt = (sessionId: string, id: string, effect: 'allow' | 'deny'): AuditEventInput => ({
  type: 'statement',
  sessionId,
  statementId: id,
  text: "select * from users where name = 'x'",
  class: 'read',
  statementTypes: ['SelectStmt'],
  tables: ['users'],
  functions: [],
  decision: { effect, policyIds: ['p'], policyVersion: 'v1', reason: effect },
});

test('ack store: concurrent sessions are written to DynamoDB, large records to S3, and the store verifies', async () => {
  const dir = await mkdtemp(join(workDir, 'gw-'));
  const store = createAwsAuditStore({ dynamodb, s3, table: TABLE, bucket: BUCKET, inlineRecordMaxBytes: 4096, retentionDays: 30, kmsKeyId: 'alias/airlock-audit' });
  const sink = await createLocalAuditSink({ dir, ack: 'store', responseCapBytes: 100_000, signingKey: fleetKey, store, storeTimeoutMs: 10_000 });
  await Promise.all([
    sink.append(sessionStart('aws-1', 'alice', 'orders', '2026-03-01T10:00:00.000Z')),
    sink.append(sessionStart('aws-2', 'bob', 'billing', '2026-03-02T10:00:00.000Z')),
  ]);
  await Promise.all([sink.append(stmt('aws-1', 'q1', 'allow')), sink.append(stmt('aws-2', 'q1', 'deny'))]);
  const capture = sink.newResponseCapture();
  const big = 'r'.repeat(20_000);
  capture.add(big);
  await sink.append({ type: 'statement.outcome', sessionId: 'aws-1', statementId: 'q1', status: 'ok', rows: 1, bytes: big.length, durationMs: 2, response: capture.finish() });
  await sink.append({ type: 'session.end', sessionId: 'aws-1', reason: 'client closed', statements: 1, bytesIn: 10, bytesOut: big.length, durationMs: 9 });
  await sink.append({ type: 'auth.refused', sessionId: 'aws-3', at: '2026-03-03T10:00:00.000Z', code: 'bad_token', reason: 'signature invalid', client: { address: '10.1.1.1', port: 2 } });
  await sink.close();

  const objects = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET }));
  assert.deepEqual(objects.Contents?.map((c) => c.Key).sort(), ['events/aws-1/0000000003.json.gz', 'recordings/aws-1.jsonl.gz']);
  const recording = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'recordings/aws-1.jsonl.gz' }));
  const recordingBytes = Buffer.from(await recording.Body!.transformToByteArray());
  const recordingText = (recordingBytes[0] === 0x1f ? gunzipSync(recordingBytes) : recordingBytes).toString('utf8');

  const stored = (await store.readSession('aws-1')) as AuditRecord[];
  const local = (await createLocalAuditReader(dir).readSession('aws-1')) as AuditRecord[];
  assert.deepEqual(stored, local);
  assert.deepEqual(recordingText.trimEnd().split('\n').map((l) => JSON.parse(l)), local);
  const outcome = stored[2] as Extract<AuditRecord, { type: 'statement.outcome' }>;
  assert.equal(capturedBytes(outcome.response!).toString(), big);

  const report = await verifyAuditStore(store, { publicKey: fleetPublicKey, sessionIds: ['aws-1', 'aws-2', 'aws-3'] });
  assert.deepEqual(report.problems, []);
  assert.deepEqual(report.warnings, []);
  assert.equal(report.events, 7);

  const ids = async (f: Parameters<typeof store.listSessions>[0]) => (await store.listSessions(f)).map((s) => s.sessionId);
  const march = { from: '2026-03-01T00:00:00.000Z', to: '2026-03-31T23:59:59.999Z' };
  assert.deepEqual(await ids(march), ['aws-3', 'aws-2', 'aws-1']);
  assert.deepEqual(await ids({ ...march, principal: 'alice' }), ['aws-1']);
  assert.deepEqual(await ids({ ...march, target: 'billing' }), ['aws-2']);
  assert.deepEqual(await ids({ ...march, refusedOnly: true }), ['aws-3', 'aws-2']);
  assert.deepEqual(await ids({ from: '2026-03-02T00:00:00.000Z', to: '2026-03-02T23:59:59.999Z' }), ['aws-2']);
  const [alice] = await store.listSessions({ ...march, principal: 'alice' });
  assert.equal(alice!.endReason, 'client closed');
  assert.equal(alice!.statements, 1);
});

test('a gateway restarted after the store was unreachable ships its spool', async () => {
  const dir = await mkdtemp(join(workDir, 'gw-'));
  // A DynamoDB endpoint nobody listens on: the first gateway cannot ship.
  const deadDynamo = new DynamoDBClient({ endpoint: 'http://127.0.0.1:9', region: 'us-east-1', credentials, maxAttempts: 1 });
  const deadStore = createAwsAuditStore({ dynamodb: deadDynamo, s3, table: TABLE, bucket: BUCKET });
  const first = await createLocalAuditSink({ dir, ack: 'local', responseCapBytes: 0, signingKey: fleetKey, store: deadStore, shipIntervalMs: 20 });
  await first.append(sessionStart('spool-1', 'carol', 'orders', '2026-04-01T10:00:00.000Z'));
  await first.append(stmt('spool-1', 'q1', 'allow'));
  await first.close();
  deadDynamo.destroy();
  const store = createAwsAuditStore({ dynamodb, s3, table: TABLE, bucket: BUCKET });
  assert.equal(await store.readSession('spool-1'), undefined);

  const second = await createLocalAuditSink({ dir, ack: 'local', responseCapBytes: 0, signingKey: fleetKey, store, shipIntervalMs: 20 });
  for (let i = 0; i < 200 && second.unshippedCount() > 0; i++) await new Promise((r) => setTimeout(r, 20));
  await second.close();
  const shipped = (await store.readSession('spool-1')) as AuditRecord[];
  // The restart closed out the session the first gateway left open, and shipped that too.
  assert.deepEqual(shipped.map((r) => r.type), ['session.start', 'statement', 'session.end']);
  const report = await verifyAuditStore(store, { publicKey: fleetPublicKey, sessionIds: ['spool-1'] });
  assert.deepEqual(report.problems, []);
});
