import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledgeOnGrantee, nagArn } from './nag-acknowledgements.js';

/** Names the audit adapter reads from its environment; see docs/deploy.md. */
export const AUDIT_ENV = {
  sessionsTable: 'AIRLOCK_AUDIT_SESSIONS_TABLE',
  eventsTable: 'AIRLOCK_AUDIT_EVENTS_TABLE',
  bucket: 'AIRLOCK_AUDIT_BUCKET',
} as const;

export interface AuditStoreProps {
  /** Customer-managed key for tables and recordings. */
  key: kms.IKey;
  /** Bucket receiving S3 server access logs. */
  accessLogsBucket: s3.IBucket;
  /** Keep the tables and bucket when the stack is deleted. Default true: audit outlives the gateway. */
  retain?: boolean;
  /** Object Lock (compliance mode) retention for recordings, in days. Off when absent. */
  objectLockDays?: number;
}

/**
 * Where every session, statement and recording is kept: DynamoDB for the queryable trail,
 * S3 for recordings and large responses, both under one customer-managed key.
 */
export class AuditStore extends Construct {
  /** PK `sessionId`; GSIs `byPrincipal` (`principalId`, `startedAt`) and `byTarget` (`target`, `startedAt`). */
  readonly sessions: dynamodb.Table;
  /** PK `sessionId`, SK `seq` (N); GSIs `byPrincipal` (`principalId`, `at`) and `byTarget` (`target`, `at`). */
  readonly events: dynamodb.Table;
  readonly recordings: s3.Bucket;
  readonly key: kms.IKey;

  constructor(scope: Construct, id: string, props: AuditStoreProps) {
    super(scope, id);
    this.key = props.key;
    const removalPolicy = props.retain === false ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;
    const tableDefaults = {
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: props.key,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: 'ttl',
      deletionProtection: props.retain !== false,
      removalPolicy,
    };

    this.sessions = new dynamodb.Table(this, 'Sessions', {
      ...tableDefaults,
      partitionKey: { name: 'sessionId', type: dynamodb.AttributeType.STRING },
    });
    this.events = new dynamodb.Table(this, 'Events', {
      ...tableDefaults,
      partitionKey: { name: 'sessionId', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'seq', type: dynamodb.AttributeType.NUMBER },
    });
    for (const [table, timeKey] of [
      [this.sessions, 'startedAt'],
      [this.events, 'at'],
    ] as const) {
      table.addGlobalSecondaryIndex({
        indexName: 'byPrincipal',
        partitionKey: { name: 'principalId', type: dynamodb.AttributeType.STRING },
        sortKey: { name: timeKey, type: dynamodb.AttributeType.STRING },
      });
      table.addGlobalSecondaryIndex({
        indexName: 'byTarget',
        partitionKey: { name: 'target', type: dynamodb.AttributeType.STRING },
        sortKey: { name: timeKey, type: dynamodb.AttributeType.STRING },
      });
    }

    this.recordings = new s3.Bucket(this, 'Recordings', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: props.key,
      bucketKeyEnabled: true,
      versioned: true,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: props.accessLogsBucket,
      serverAccessLogsPrefix: 'recordings/',
      objectLockEnabled: props.objectLockDays !== undefined,
      objectLockDefaultRetention:
        props.objectLockDays !== undefined
          ? s3.ObjectLockRetention.compliance(Duration.days(props.objectLockDays))
          : undefined,
      lifecycleRules: [{ noncurrentVersionExpiration: Duration.days(90), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      removalPolicy,
    });
  }

  /** Append-and-read access for the proxy: no deletes, so a compromised task cannot erase its trail. */
  grantWriter(grantee: iam.IGrantable): void {
    this.key.grantEncryptDecrypt(grantee);
    for (const table of [this.sessions, this.events]) {
      table.grant(
        grantee,
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:GetItem',
        'dynamodb:Query',
        'dynamodb:DescribeTable',
      );
    }
    this.recordings.grantPut(grantee);
    this.recordings.grantRead(grantee);
    for (const table of [this.sessions, this.events]) {
      acknowledgeOnGrantee(
        grantee,
        `AwsSolutions-IAM5[Resource::${nagArn(table)}/index/*]`,
        'Queries by principal and by target go through this table\'s own indexes',
      );
    }
    acknowledgeOnGrantee(
      grantee,
      `AwsSolutions-IAM5[Resource::${nagArn(this.recordings)}/*]`,
      'Recordings are objects keyed by session inside this one bucket; the grant has no delete',
    );
  }

  /** The environment the audit adapter expects. */
  environment(): Record<string, string> {
    return {
      [AUDIT_ENV.sessionsTable]: this.sessions.tableName,
      [AUDIT_ENV.eventsTable]: this.events.tableName,
      [AUDIT_ENV.bucket]: this.recordings.bucketName,
    };
  }
}
