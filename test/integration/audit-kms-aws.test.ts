// The fleet's audit trail in AWS, as its role allows: digests signed by a KMS P-256 key (KMS
// stood in by aws-sdk-client-mock, the only option on npm; signatures checked by Node's own
// verifier), items written create-only to DynamoDB (dynalite) so nothing already stored is
// replaced, and `airlock audit verify --table --bucket --signing-key` fetching the public key.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { KMSClient } from '@aws-sdk/client-kms';
import { auditTableDefinition, createAwsAuditStore } from '../../fargate-proxy/src/adapters/aws/audit-dynamodb-store.js';
import { createKmsDigestSigner, kmsDigestPublicKey } from '../../fargate-proxy/src/adapters/aws/kms-digest-signer.js';
import { createLocalAuditSink } from '../../fargate-proxy/src/adapters/local/audit-file-sink.js';
import { auditVerifyCommand } from '../../fargate-proxy/src/cli/audit-commands.js';
import { digestSignatureValid, signDigestWith } from '../../core/audit/digest.js';
import { verifyAuditStore } from '../../core/audit/verify.js';
import type { AuditEventInput, AuditRecord } from '../../core/audit/events.js';
import { startLocalDynamo, startLocalS3, type LocalDynamo, type LocalS3 } from '../support/local-aws.js';
import { sessionStart } from '../support/audit-events.js';
import { standInKms, type KmsStandIn } from '../support/kms-stand-in.js';

const TABLE = 'airlock-audit';
const BUCKET = 'airlock-audit-objects';
let workDir: string;
let dynamo: LocalDynamo;
let s3: LocalS3;
let kms: KmsStandIn;

before(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'airlock-audit-kms-'));
  dynamo = await startLocalDynamo();
  s3 = await startLocalS3(join(workDir, 's3'));
  await dynamo.client.send(new CreateTableCommand(auditTableDefinition(TABLE)));
  await s3.client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  kms = standInKms();
});
after(async () => {
  kms?.restore();
  await s3?.stop();
  await dynamo?.stop();
  await rm(workDir, { recursive: true, force: true });
});

const stmt = (sessionId: string, id: string, text: string): AuditEventInput => ({
  type: 'statement',
  sessionId,
  statementId: id,
  text,
  class: 'read',
  statementTypes: ['SelectStmt'],
  tables: ['users'],
  functions: [],
  decision: { effect: 'allow', policyIds: ['p'], policyVersion: 'v1', reason: 'allow' },
});

const store = () => createAwsAuditStore({ dynamodb: dynamo.client, s3: s3.client, table: TABLE, bucket: BUCKET });

async function shipSession(sessionId: string, statements: string[]): Promise<void> {
  const signer = await createKmsDigestSigner(new KMSClient({ region: 'eu-west-1' }), kms.keyArn);
  const sink = await createLocalAuditSink({ dir: await mkdtemp(join(workDir, 'gw-')), ack: 'store', responseCapBytes: 0, store: store(), signer, storeTimeoutMs: 10_000 });
  await sink.append(sessionStart(sessionId, 'alice', 'orders'));
  for (const [i, text] of statements.entries()) await sink.append(stmt(sessionId, `q${i}`, text));
  await sink.append({ type: 'session.end', sessionId, reason: 'client closed', statements: statements.length, bytesIn: 1, bytesOut: 1, durationMs: 1 });
  await sink.close();
}

test('digests are signed by KMS (ECDSA P-256 over a SHA-256 digest) and verify with the key\'s public half only', async () => {
  const before = kms.signRequests.length;
  await shipSession('kms-1', ['select 1', 'select 2']);
  const asked = kms.signRequests.slice(before);
  assert.ok(asked.length >= 1, 'the sink asked KMS to sign');
  assert.deepEqual(asked[0], { KeyId: kms.keyArn, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' });
  // No key material in the task's data directory: nothing to steal, nothing to re-sign with.
  const digests = await store().readDigests();
  assert.ok(digests.length >= 1);
  for (const d of digests) assert.ok(digestSignatureValid(d, kms.publicKey), `digest ${d.writer}#${d.dseq} verifies with the P-256 public key`);
  const report = await verifyAuditStore(store(), { publicKey: kms.publicKey, sessionIds: ['kms-1'] });
  assert.deepEqual(report.problems, []);
  assert.deepEqual(report.warnings, [], 'the session\'s head is covered by a signed digest');

  // A digest signed by any other P-256 key is a forgery.
  const { publicKey: otherPublic, privateKey: otherPrivate } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { sig: _sig, keyId: _keyId, ...unsigned } = digests[0]!;
  const { sign } = await import('node:crypto');
  const forged = await signDigestWith(unsigned, { keyId: digests[0]!.keyId, sign: async (m) => sign('sha256', m, otherPrivate) });
  assert.equal(digestSignatureValid(forged, kms.publicKey), false);
  assert.equal(digestSignatureValid(digests[0]!, otherPublic), false);
});

test('a key that is not a P-256 signing key is refused at start, not at the first digest', async () => {
  await assert.rejects(createKmsDigestSigner(new KMSClient({ region: 'eu-west-1' }), 'arn:aws:kms:eu-west-1:123456789012:key/other'), /does not exist/);
});

test('create-only writes: re-shipping a rewritten event leaves the stored one, and verify still passes', async () => {
  await shipSession('kms-2', ['select secret_a']);
  const key = { pk: { S: 'S#kms-2' }, sk: { S: 'E#0000000002' } };
  const original = (await dynamo.client.send(new GetItemCommand({ TableName: TABLE, Key: key }))).Item!.rec!.S!;
  const record = JSON.parse(original) as AuditRecord;
  // What a compromised task can send through the adapter: the same key with other content.
  const rewritten = { ...record, text: 'select harmless' } as AuditRecord;
  await store().write([{ kind: 'event', record: rewritten }]);
  const after = (await dynamo.client.send(new GetItemCommand({ TableName: TABLE, Key: key }))).Item!.rec!.S!;
  assert.equal(after, original, 'the conditional put did not replace the stored event');
  const report = await verifyAuditStore(store(), { publicKey: kms.publicKey, sessionIds: ['kms-2'] });
  assert.deepEqual(report.problems, []);

  // An unconditional PutItem (which IAM cannot forbid to a role that may put) is caught by verify.
  await dynamo.client.send(new PutItemCommand({ TableName: TABLE, Item: { ...key, type: { S: 'statement' }, at: { S: record.at }, rec: { S: JSON.stringify(rewritten) } } }));
  const tampered = await verifyAuditStore(store(), { publicKey: kms.publicKey, sessionIds: ['kms-2'] });
  assert.ok(tampered.problems.some((p) => p.kind === 'edited' && p.seq === 2), JSON.stringify(tampered.problems));
  // Put back as PITR would, so the next test starts from an intact trail.
  await dynamo.client.send(new PutItemCommand({ TableName: TABLE, Item: { ...key, type: { S: 'statement' }, at: { S: record.at }, rec: { S: original } } }));
});

test('airlock audit verify --table --bucket --signing-key fetches the public key from KMS and checks the trail', async () => {
  await shipSession('kms-3', ['select 3']);
  let out = '';
  const sink = { write: (s: string) => ((out += s), true) };
  const reader = store();
  const kmsPublicKey = (keyId: string) => kmsDigestPublicKey(new KMSClient({ region: 'eu-west-1' }), keyId);
  const ok = await auditVerifyCommand({ reader, signingKeys: [kms.keyArn], kmsPublicKey, sessionIds: ['kms-3'] }, sink as never);
  assert.equal(ok, 0, out);
  assert.match(out, /audit trail verified/);
  // Errors go to stderr, as every audit command's do.
  let errOut = '';
  const errSink = { write: (s: string) => ((errOut += s), true) };
  const unknown = await auditVerifyCommand({ reader, signingKeys: ['arn:aws:kms:eu-west-1:123456789012:key/nope'], kmsPublicKey, sessionIds: ['kms-3'] }, sink as never, errSink as never);
  assert.equal(unknown, 2);
  assert.match(errOut, /cannot fetch the public key of KMS key .*nope/);
});
