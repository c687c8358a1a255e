import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { auditTableDefinition } from '../fargate-proxy/src/adapters/aws/audit-dynamodb-store.js';
import { acknowledgeOnGrantee, nagArn } from './nag-acknowledgements.js';
import { privateBucketProps } from './private-bucket.js';

/** Environment variables the proxy's configuration refers to as `${env:NAME}` (lib/proxy-config.ts). */
export const AUDIT_ENV = {
  table: 'AIRLOCK_AUDIT_TABLE',
  bucket: 'AIRLOCK_AUDIT_BUCKET',
  kmsKey: 'AIRLOCK_AUDIT_KMS_KEY',
} as const;

/**
 * The attribute the adapter writes (epoch seconds) when `retentionDays` is set. Enabled whether or
 * not retention is configured: items without it never expire, and turning retention on later then
 * needs no table change.
 */
export const AUDIT_TTL_ATTRIBUTE = 'expiresAt';

/** What the proxy's shipping path calls (write, then read back a session to store its recording). */
export const AUDIT_WRITER_TABLE_ACTIONS = ['dynamodb:BatchWriteItem', 'dynamodb:Query'] as const;
export const AUDIT_WRITER_OBJECT_ACTIONS = ['s3:PutObject', 's3:GetObject'] as const;
/** DynamoDB and SSE-KMS on the caller's behalf: data keys to write, decrypt to read. */
export const AUDIT_WRITER_KEY_ACTIONS = ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey*', 'kms:DescribeKey'] as const;

export interface AuditStoreProps {
  /** Customer-managed key for the table and the objects. */
  key: kms.IKey;
  /** Bucket receiving S3 server access logs. */
  accessLogsBucket: s3.IBucket;
  /** Keep the table and bucket when the stack is deleted. Default true: audit outlives the gateway. */
  retain?: boolean;
  /** Object Lock (compliance mode) retention for objects, in days. Off when absent; only at creation. */
  objectLockDays?: number;
  /** Audit items expire (DynamoDB TTL) this many days after their event. Kept forever when absent. */
  retentionDays?: number;
}

const ATTRIBUTE_TYPES: Record<string, dynamodb.AttributeType> = {
  S: dynamodb.AttributeType.STRING,
  N: dynamodb.AttributeType.NUMBER,
  B: dynamodb.AttributeType.BINARY,
};

/**
 * The adapter's own table definition, translated to CDK: the key schema and indexes are not
 * restated here, so the deployed table cannot drift from what the proxy reads and writes.
 */
function adapterTableShape() {
  const def = auditTableDefinition('airlock-audit');
  const typeOf = (name: string): dynamodb.AttributeType => {
    const t = def.AttributeDefinitions?.find((a) => a.AttributeName === name)?.AttributeType;
    const type = t && ATTRIBUTE_TYPES[t];
    if (!type) throw new Error(`audit table definition: no attribute type for key ${name}`);
    return type;
  };
  const keys = (schema: Array<{ AttributeName?: string; KeyType?: string }> | undefined) => {
    const attr = (kind: string) => {
      const name = schema?.find((k) => k.KeyType === kind)?.AttributeName;
      return name ? { name, type: typeOf(name) } : undefined;
    };
    const partitionKey = attr('HASH');
    if (!partitionKey) throw new Error('audit table definition: a key schema without a partition key');
    return { partitionKey, sortKey: attr('RANGE') };
  };
  return {
    billingMode: def.BillingMode === 'PROVISIONED' ? dynamodb.BillingMode.PROVISIONED : dynamodb.BillingMode.PAY_PER_REQUEST,
    ...keys(def.KeySchema),
    indexes: (def.GlobalSecondaryIndexes ?? []).map((g): dynamodb.GlobalSecondaryIndexProps => ({
      indexName: g.IndexName!,
      ...keys(g.KeySchema),
      projectionType: (g.Projection?.ProjectionType ?? 'ALL') as dynamodb.ProjectionType,
      nonKeyAttributes: g.Projection?.NonKeyAttributes,
    })),
  };
}

/**
 * Where every session, statement and digest is kept: one DynamoDB table (single-table design of
 * fargate-proxy/src/adapters/aws/audit-dynamodb-store.ts) and one S3 bucket for large records and
 * session recordings, both under the customer-managed key.
 */
export class AuditStore extends Construct {
  /** `pk`/`sk` with the adapter's GSIs; TTL `expiresAt`. */
  readonly table: dynamodb.Table;
  /** Large records (`events/…`) and whole-session recordings (`recordings/…`), gzip JSON. */
  readonly bucket: s3.Bucket;
  readonly key: kms.IKey;
  readonly objectLockDays?: number;
  readonly retentionDays?: number;

  constructor(scope: Construct, id: string, props: AuditStoreProps) {
    super(scope, id);
    this.key = props.key;
    this.objectLockDays = props.objectLockDays;
    this.retentionDays = props.retentionDays;
    const removalPolicy = props.retain === false ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;

    const shape = adapterTableShape();
    this.table = new dynamodb.Table(this, 'Trail', {
      billingMode: shape.billingMode,
      partitionKey: shape.partitionKey,
      sortKey: shape.sortKey,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: props.key,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: AUDIT_TTL_ATTRIBUTE,
      deletionProtection: props.retain !== false,
      removalPolicy,
    });
    for (const index of shape.indexes) this.table.addGlobalSecondaryIndex(index);

    this.bucket = new s3.Bucket(this, 'Recordings', {
      ...privateBucketProps(props.key, props.accessLogsBucket, 'recordings/'),
      objectLockEnabled: props.objectLockDays !== undefined,
      objectLockDefaultRetention:
        props.objectLockDays !== undefined
          ? s3.ObjectLockRetention.compliance(Duration.days(props.objectLockDays))
          : undefined,
      lifecycleRules: [{ noncurrentVersionExpiration: Duration.days(90), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      removalPolicy,
    });
  }

  /**
   * Exactly what the proxy's audit adapter calls while shipping: batch puts and a session read-back
   * on the base table, object put/get. No deletes, no updates, no scans: a compromised task can
   * neither erase nor rewrite its trail, nor list other sessions.
   */
  grantWriter(grantee: iam.IGrantable): void {
    iam.Grant.addToPrincipal({ grantee, actions: [...AUDIT_WRITER_TABLE_ACTIONS], resourceArns: [this.table.tableArn] });
    iam.Grant.addToPrincipal({
      grantee,
      // With Object Lock the adapter sets each object's retention explicitly, which S3 authorizes separately.
      actions: [...AUDIT_WRITER_OBJECT_ACTIONS, ...(this.objectLockDays !== undefined ? ['s3:PutObjectRetention'] : [])],
      resourceArns: [this.bucket.arnForObjects('*')],
    });
    this.key.grant(grantee, ...AUDIT_WRITER_KEY_ACTIONS);
    acknowledgeOnGrantee(
      grantee,
      `AwsSolutions-IAM5[Resource::${nagArn(this.bucket)}/*]`,
      'Large records and recordings are objects keyed by session inside this one bucket; the grant has no delete',
    );
  }

  /** Plain environment the proxy's configuration expands (`${env:AIRLOCK_AUDIT_TABLE}` …). */
  environment(): Record<string, string> {
    return {
      [AUDIT_ENV.table]: this.table.tableName,
      [AUDIT_ENV.bucket]: this.bucket.bucketName,
      [AUDIT_ENV.kmsKey]: this.key.keyArn,
    };
  }
}
