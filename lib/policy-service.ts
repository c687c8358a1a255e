import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { join } from 'node:path';
import { AirlockFunction, lambdasEntry, REPO_ROOT } from './airlock-function.js';
import { acknowledge, acknowledgeOnGrantee, nagArn } from './nag-acknowledgements.js';
import { privateBucketProps } from './private-bucket.js';

/** Layout of the policy bucket; the fleet and the policy Lambda share it. */
export const POLICY_LAYOUT = {
  /** Pointer to the live version: `{ version, key, publishedAt }`. */
  currentKey: 'policy/current.json',
  /** Immutable bundles: `policy/versions/<version>/bundle.json`. */
  versionsPrefix: 'policy/versions/',
} as const;

export const POLICY_ENV = {
  bucket: 'AIRLOCK_POLICY_BUCKET',
  currentKey: 'AIRLOCK_POLICY_CURRENT_KEY',
} as const;

const BUNDLE_OBJECTS_REASON = 'Policy bundles are objects named by content hash inside this one bucket';

export interface PolicyServiceProps {
  key: kms.IKey;
  accessLogsBucket: s3.IBucket;
  logRetention: logs.RetentionDays;
}

/**
 * The policy control plane: a versioned bucket of policy bundles the fleet hot-reloads, and the
 * Lambda that validates and publishes them and answers connect-time grant checks.
 */
export class PolicyService extends Construct {
  readonly bucket: s3.Bucket;
  readonly handler: AirlockFunction;

  constructor(scope: Construct, id: string, props: PolicyServiceProps) {
    super(scope, id);
    this.bucket = new s3.Bucket(this, 'Bundles', {
      ...privateBucketProps(props.key, props.accessLogsBucket, 'policy/'),
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.handler = new AirlockFunction(this, 'Handler', {
      entry: lambdasEntry('policy'),
      serviceName: 'policy',
      description: 'Airlock policy: validate and publish versioned Cedar policy bundles; connect-time grant checks',
      key: props.key,
      logRetention: props.logRetention,
      memorySize: 1024,
      timeout: Duration.seconds(30),
      environment: {
        [POLICY_ENV.bucket]: this.bucket.bucketName,
        [POLICY_ENV.currentKey]: POLICY_LAYOUT.currentKey,
      },
      // cedar-wasm's Node loader reads its .wasm from its own directory, which is the bundle's.
      copyFiles: [join(REPO_ROOT, 'node_modules/@cedar-policy/cedar-wasm/nodejs/cedar_wasm_bg.wasm')],
    });
    // Bundles are written once under a content-derived version and never deleted by the Lambda.
    this.bucket.grantRead(this.handler.role);
    this.bucket.grantPut(this.handler.role);
    acknowledge(this.handler.role, `AwsSolutions-IAM5[Resource::${nagArn(this.bucket)}/*]`, BUNDLE_OBJECTS_REASON);
  }

  /** What the fleet needs to hot-reload: read the pointer and the bundles. */
  grantFleetRead(grantee: iam.IGrantable): void {
    this.bucket.grantRead(grantee);
    acknowledgeOnGrantee(grantee, `AwsSolutions-IAM5[Resource::${nagArn(this.bucket)}/*]`, BUNDLE_OBJECTS_REASON);
  }

  environment(): Record<string, string> {
    return { [POLICY_ENV.bucket]: this.bucket.bucketName, [POLICY_ENV.currentKey]: POLICY_LAYOUT.currentKey };
  }
}
