// The audit table the stack deploys is the one the proxy's adapter expects: the synthesized
// AWS::DynamoDB::Table equals auditTableDefinition(), and the real adapter, shipping through the
// real local spool, works against a table created from the synthesized properties (dynalite, s3rver)
// and stamps every item with the attribute the table's TTL names.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { generateKeyPairSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { auditTableDefinition, createAwsAuditStore } from '../../fargate-proxy/src/adapters/aws/audit-dynamodb-store.js';
import { createLocalAuditSink } from '../../fargate-proxy/src/adapters/local/audit-file-sink.js';
import { AuditStore } from '../../lib/audit-store.js';
import { startLocalDynamo, startLocalS3, type LocalDynamo, type LocalS3 } from '../support/local-aws.js';

/** A stack holding only the audit store (no Lambdas to bundle), with a role granted as the fleet's is. */
function synthAuditStore(props: { retentionDays?: number; objectLockMode?: 'compliance' | 'governance' }) {
  const stack = new Stack(new App(), 'AuditOnly', { env: { account: '123456789012', region: 'eu-west-1' } });
  const key = new kms.Key(stack, 'Key');
  const accessLogsBucket = new s3.Bucket(stack, 'AccessLogs');
  const audit = new AuditStore(stack, 'Audit', { key, accessLogsBucket, ...props });
  const role = new iam.Role(stack, 'TaskRole', { assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com') });
  audit.grantWriter(role);
  audit.restrictSigningTo(role);
  const template = Template.fromStack(stack).toJSON() as { Resources: Record<string, { Type: string; Properties: any }> };
  const of = (type: string) => Object.entries(template.Resources).filter(([, r]) => r.Type === type);
  const table = of('AWS::DynamoDB::Table')[0]![1];
  const statements = of('AWS::IAM::Policy').flatMap(([, p]) => p.Properties.PolicyDocument.Statement as any[]);
  const bucket = of('AWS::S3::Bucket').find(([id]) => id.startsWith('AuditRecordings'))![1].Properties;
  const bucketPolicy = of('AWS::S3::BucketPolicy').find(([, p]) => JSON.stringify(p.Properties.Bucket).includes('AuditRecordings'))![1].Properties.PolicyDocument.Statement as any[];
  const signingKey = of('AWS::KMS::Key').find(([id]) => id.startsWith('AuditDigestSigningKey'))!;
  return { table: table.Properties, statements, tables: of('AWS::DynamoDB::Table').length, bucket, bucketPolicy, signingKey, roleId: of('AWS::IAM::Role')[0]![0] };
}

const byName = <T extends { AttributeName?: string; IndexName?: string }>(xs: T[] | undefined) =>
  [...(xs ?? [])].sort((a, b) => String(a.AttributeName ?? a.IndexName).localeCompare(String(b.AttributeName ?? b.IndexName)));

test('the synthesized audit table has exactly the adapter\'s keys, attributes, indexes and TTL', () => {
  const { table, tables } = synthAuditStore({ retentionDays: 30 });
  const def = auditTableDefinition('x');
  assert.equal(tables, 1, 'one table: the single-table design');
  assert.deepEqual(table.KeySchema, def.KeySchema);
  assert.deepEqual(byName(table.AttributeDefinitions), byName(def.AttributeDefinitions));
  assert.deepEqual(byName(table.GlobalSecondaryIndexes), byName(def.GlobalSecondaryIndexes));
  assert.equal(table.BillingMode, def.BillingMode);
  assert.deepEqual(table.TimeToLiveSpecification, { AttributeName: 'expiresAt', Enabled: true });
  // Kept from the earlier design: audit outlives mistakes.
  assert.equal(table.SSESpecification.SSEEnabled, true);
  assert.equal(table.SSESpecification.SSEType, 'KMS');
  assert.equal(table.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled, true);
  assert.equal(table.DeletionProtectionEnabled, true);
});

test('the fleet\'s role: create-only puts and a read-back; no batch write, update, delete or scan; Sign on the digest key only', () => {
  const { statements, signingKey } = synthAuditStore({});
  const actionsOn = (prefix: string) =>
    statements.filter((s) => JSON.stringify(s.Resource).includes(prefix)).flatMap((s) => [s.Action].flat()).sort();
  assert.deepEqual(actionsOn('AuditTrail'), ['dynamodb:PutItem', 'dynamodb:Query']);
  assert.deepEqual(actionsOn('AuditRecordings'), ['s3:GetObject', 's3:PutObject'], 'no PutObjectRetention, no delete: objects keep the bucket\'s lock');
  assert.deepEqual(actionsOn(signingKey[0]), ['kms:GetPublicKey', 'kms:Sign']);
  const all = statements.flatMap((s) => [s.Action].flat());
  for (const forbidden of ['dynamodb:BatchWriteItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:Scan', 's3:DeleteObject', 's3:DeleteObjectVersion', 's3:PutObjectRetention', 's3:BypassGovernanceRetention']) {
    assert.ok(!all.includes(forbidden), `${forbidden} is not granted`);
  }
});

test('the digest key is ECC_NIST_P256 for signing, and its policy lets no one but the fleet sign', () => {
  const { signingKey, roleId } = synthAuditStore({});
  const key = signingKey[1].Properties;
  assert.equal(key.KeySpec, 'ECC_NIST_P256');
  assert.equal(key.KeyUsage, 'SIGN_VERIFY');
  const deny = key.KeyPolicy.Statement.find((s: any) => s.Effect === 'Deny');
  assert.deepEqual([deny.Action, deny.Principal], ['kms:Sign', { AWS: '*' }]);
  assert.deepEqual(deny.Condition.ArnNotEquals['aws:PrincipalArn'], { 'Fn::GetAtt': [roleId, 'Arn'] });
});

test('recordings: Object Lock (compliance by default, governance as an option) for the retention, lifecycle aligned, create-only for the fleet', () => {
  const { bucket, bucketPolicy, roleId } = synthAuditStore({ retentionDays: 400 });
  assert.equal(bucket.ObjectLockEnabled, true);
  assert.deepEqual(bucket.ObjectLockConfiguration, { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 400 } } });
  const rules = bucket.LifecycleConfiguration.Rules as any[];
  const expiry = rules.find((r) => r.ExpirationInDays);
  assert.equal(expiry.ExpirationInDays, 400, 'current versions go when their lock ends');
  assert.equal(expiry.NoncurrentVersionExpiration.NoncurrentDays, 400, 'so do overwritten ones, never before');
  const createOnly = bucketPolicy.find((s) => s.Sid === 'FleetWritesNewObjectsOnly');
  assert.equal(createOnly.Effect, 'Deny');
  assert.deepEqual(createOnly.Condition, { ArnEquals: { 'aws:PrincipalArn': { 'Fn::GetAtt': [roleId, 'Arn'] } }, Null: { 's3:if-none-match': 'true' } });
  const governance = synthAuditStore({ objectLockMode: 'governance' }).bucket;
  assert.deepEqual(governance.ObjectLockConfiguration.Rule.DefaultRetention, { Mode: 'GOVERNANCE', Days: 365 }, 'default retention 365 days');
});

let workDir: string;
let localDynamo: LocalDynamo;
let localS3: LocalS3;
let dynamodb: DynamoDBClient;
let s3client: S3Client;

before(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'airlock-audit-table-'));
  localDynamo = await startLocalDynamo();
  localS3 = await startLocalS3(join(workDir, 's3'));
  dynamodb = localDynamo.client;
  s3client = localS3.client;
});

after(async () => {
  await localS3?.stop();
  await localDynamo?.stop();
  await rm(workDir, { recursive: true, force: true });
});

test('the real adapter works against a table created from the synthesized template', async () => {
  const { table: cfn } = synthAuditStore({ retentionDays: 30 });
  const TableName = 'airlock-audit-from-template';
  const Bucket = 'airlock-audit-objects';
  await dynamodb.send(
    new CreateTableCommand({
      TableName,
      BillingMode: cfn.BillingMode,
      KeySchema: cfn.KeySchema,
      AttributeDefinitions: cfn.AttributeDefinitions,
      GlobalSecondaryIndexes: cfn.GlobalSecondaryIndexes,
    }),
  );
  for (let i = 0; i < 50; i++) {
    const d = await dynamodb.send(new DescribeTableCommand({ TableName }));
    if (d.Table?.TableStatus === 'ACTIVE') break;
    await new Promise((r) => setTimeout(r, 20));
  }
  await s3client.send(new CreateBucketCommand({ Bucket }));

  const store = createAwsAuditStore({ dynamodb, s3: s3client, table: TableName, bucket: Bucket, retentionDays: 30 });
  const { privateKey } = generateKeyPairSync('ed25519');
  const sink = await createLocalAuditSink({ dir: join(workDir, 'spool'), ack: 'store', responseCapBytes: 0, signingKey: privateKey, store, storeTimeoutMs: 10_000 });
  const at = new Date().toISOString();
  await sink.append({
    type: 'session.start',
    sessionId: 'tpl-1',
    at,
    principal: { id: 'alice', groups: ['agents'], issuer: 'https://idp.test' },
    target: 'orders',
    targetKind: 'postgres',
    client: { address: '127.0.0.1', port: 5000 },
    protocol: 'postgres',
  });
  await sink.append({
    type: 'statement',
    sessionId: 'tpl-1',
    statementId: 'q1',
    text: 'delete from users',
    class: 'destructive',
    statementTypes: ['DeleteStmt'],
    tables: ['users'],
    functions: [],
    decision: { effect: 'deny', policyIds: ['no-deletes'], policyVersion: 'v1', reason: 'deny' },
  });
  await sink.append({ type: 'session.end', sessionId: 'tpl-1', reason: 'client closed', statements: 1, bytesIn: 10, bytesOut: 0, durationMs: 3 });
  await sink.close();

  // Every index the adapter queries exists with the keys it uses.
  const ids = async (f: Parameters<typeof store.listSessions>[0]) => (await store.listSessions(f)).map((s) => s.sessionId);
  assert.deepEqual(await ids({ principal: 'alice' }), ['tpl-1']);
  assert.deepEqual(await ids({ target: 'orders' }), ['tpl-1']);
  assert.deepEqual(await ids({ refusedOnly: true }), ['tpl-1']);
  const [summary] = await store.listSessions({ principal: 'alice' });
  assert.equal(summary!.denied, 1);
  assert.equal(summary!.endReason, 'client closed');
  assert.deepEqual((await store.readSession('tpl-1'))!.map((e) => ('type' in e ? e.type : 'unparsable')), ['session.start', 'statement', 'session.end']);
  const objects = await s3client.send(new ListObjectsV2Command({ Bucket }));
  assert.deepEqual(objects.Contents?.map((c) => c.Key), ['recordings/tpl-1.jsonl.gz']);

  // The attribute the synthesized TTL names is the one the adapter writes, on every item.
  const ttlAttribute = cfn.TimeToLiveSpecification.AttributeName as string;
  const items = (await dynamodb.send(new ScanCommand({ TableName }))).Items ?? [];
  assert.ok(items.length >= 6, `events, META, DENIED, END and digests: ${items.length}`);
  for (const item of items) {
    const expires = Number(item[ttlAttribute]?.N);
    assert.ok(expires > Date.now() / 1000 + 29 * 86400, `${item.pk?.S} ${item.sk?.S} expires in ~30 days via ${ttlAttribute}`);
  }
});
