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
  signingKey: 'AIRLOCK_AUDIT_SIGNING_KEY',
} as const;

/** How long the trail is kept (and recordings locked) when `auditRetentionDays` is not set. */
export const DEFAULT_AUDIT_RETENTION_DAYS = 365;

export type ObjectLockMode = 'compliance' | 'governance';

/**
 * The attribute the adapter writes (epoch seconds) when `retentionDays` is set. Enabled whether or
 * not retention is configured: items without it never expire, and turning retention on later then
 * needs no table change.
 */
export const AUDIT_TTL_ATTRIBUTE = 'expiresAt';

/**
 * What the proxy's shipping path calls: conditional puts (create-only), then a read-back of a
 * session to store its recording. No BatchWriteItem (it cannot carry a condition, and deletes),
 * no UpdateItem, no DeleteItem.
 */
export const AUDIT_WRITER_TABLE_ACTIONS = ['dynamodb:PutItem', 'dynamodb:Query'] as const;
export const AUDIT_WRITER_OBJECT_ACTIONS = ['s3:PutObject', 's3:GetObject'] as const;
/** The fleet's only use of the digest signing key; verifiers read the public half with GetPublicKey. */
export const AUDIT_SIGNER_KEY_ACTIONS = ['kms:Sign', 'kms:GetPublicKey'] as const;
/** DynamoDB and SSE-KMS on the caller's behalf: data keys to write, decrypt to read. */
export const AUDIT_WRITER_KEY_ACTIONS = ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey*', 'kms:DescribeKey'] as const;

export interface AuditStoreProps {
  /** Customer-managed key for the table and the objects. */
  key: kms.IKey;
  /** Bucket receiving S3 server access logs. */
  accessLogsBucket: s3.IBucket;
  /** Keep the table and bucket when the stack is deleted. Default true: audit outlives the gateway. */
  retain?: boolean;
  /**
   * How long the trail is kept: recordings and large records are Object-Locked for this many days
   * from their write and expire after; table items expire (TTL) this long after their event.
   * Default DEFAULT_AUDIT_RETENTION_DAYS.
   */
  retentionDays?: number;
  /**
   * Object Lock mode of the recordings bucket. `compliance` (default): nobody, root included, can
   * shorten or remove the lock. `governance`: principals granted s3:BypassGovernanceRetention can.
   * Object Lock itself can only be enabled when the bucket is created.
   */
  objectLockMode?: ObjectLockMode;
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
  /** ECC_NIST_P256 signing key for digests: the fleet may Sign, nobody can export the private half. */
  readonly signingKey: kms.Key;
  readonly retentionDays: number;
  readonly objectLockMode: ObjectLockMode;

  constructor(scope: Construct, id: string, props: AuditStoreProps) {
    super(scope, id);
    this.key = props.key;
    this.retentionDays = props.retentionDays ?? DEFAULT_AUDIT_RETENTION_DAYS;
    this.objectLockMode = props.objectLockMode ?? 'compliance';
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

    const retention = Duration.days(this.retentionDays);
    this.bucket = new s3.Bucket(this, 'Recordings', {
      ...privateBucketProps(props.key, props.accessLogsBucket, 'recordings/'),
      // Every object version is locked for the retention period from its write: an overwrite only
      // adds a version, and no version can be deleted before its lock ends.
      objectLockEnabled: true,
      objectLockDefaultRetention:
        this.objectLockMode === 'compliance' ? s3.ObjectLockRetention.compliance(retention) : s3.ObjectLockRetention.governance(retention),
      // Aligned with the lock and the table's TTL: an object goes when its lock (and its items) do.
      lifecycleRules: [
        {
          expiration: retention,
          noncurrentVersionExpiration: retention,
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
        { expiredObjectDeleteMarker: true },
      ],
      removalPolicy,
    });

    this.signingKey = new kms.Key(this, 'DigestSigningKey', {
      description: 'Airlock: signs audit digests (the fleet may Sign; verifiers use GetPublicKey)',
      keySpec: kms.KeySpec.ECC_NIST_P256,
      keyUsage: kms.KeyUsage.SIGN_VERIFY,
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }

  /**
   * Only `signer` may use the digest key to sign: the key policy denies kms:Sign to every other
   * principal of the account, administrators included (they would have to edit the key policy
   * first, which CloudTrail records).
   */
  restrictSigningTo(signer: iam.IRole): void {
    this.signingKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'OnlyTheFleetSignsDigests',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['kms:Sign'],
        resources: ['*'],
        conditions: { ArnNotEquals: { 'aws:PrincipalArn': signer.roleArn } },
      }),
    );
    iam.Grant.addToPrincipal({ grantee: signer, actions: [...AUDIT_SIGNER_KEY_ACTIONS], resourceArns: [this.signingKey.keyArn] });
    // Create-only writes: the fleet may put an object only where none exists (If-None-Match: *).
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'FleetWritesNewObjectsOnly',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects('*')],
        conditions: { ArnEquals: { 'aws:PrincipalArn': signer.roleArn }, Null: { 's3:if-none-match': 'true' } },
      }),
    );
  }

  /**
   * Exactly what the proxy's audit adapter calls while shipping: puts and a session read-back on
   * the base table, object put/get. No batch writes, deletes, updates or scans; objects keep the
   * bucket's default lock (no PutObjectRetention). What a holder of this role can still do is in
   * docs/deploy.md ("What the fleet's role can do to the trail").
   */
  grantWriter(grantee: iam.IGrantable): void {
    iam.Grant.addToPrincipal({ grantee, actions: [...AUDIT_WRITER_TABLE_ACTIONS], resourceArns: [this.table.tableArn] });
    iam.Grant.addToPrincipal({ grantee, actions: [...AUDIT_WRITER_OBJECT_ACTIONS], resourceArns: [this.bucket.arnForObjects('*')] });
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
      [AUDIT_ENV.signingKey]: this.signingKey.keyArn,
    };
  }
}
