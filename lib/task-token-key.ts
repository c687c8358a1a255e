import { RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

/** Set on the container: the key's ARN, read by `tasks.kmsKeyId` in the rendered configuration. */
export const TASK_TOKEN_ENV = { key: 'AIRLOCK_TASK_TOKEN_KEY' } as const;

/**
 * The fleet signs task tokens (fargate-proxy/src/adapters/aws/kms-task-key.ts) and verifies them
 * itself with the public half, fetched once at start: Sign and GetPublicKey, nothing else.
 */
export const TASK_TOKEN_SIGNER_ACTIONS = ['kms:Sign', 'kms:GetPublicKey'] as const;

/**
 * The asymmetric key that signs agents' task tokens (ES256). A token is a bearer credential scoped to
 * one task: whoever may sign can mint access, so the key policy denies kms:Sign to every principal but
 * the fleet's task role, administrators included (they would first have to edit the key policy, which
 * CloudTrail records). A separate key from the audit digest key, so neither signature can stand in
 * for the other.
 */
export class TaskTokenKey extends Construct {
  readonly key: kms.Key;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.key = new kms.Key(this, 'Key', {
      description: 'Airlock: signs task tokens (the fleet may Sign; verifiers use GetPublicKey)',
      keySpec: kms.KeySpec.ECC_NIST_P256,
      keyUsage: kms.KeyUsage.SIGN_VERIFY,
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }

  /** `signer` alone may sign; it may also read the public key it verifies with. */
  restrictSigningTo(signer: iam.IRole): void {
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'OnlyTheFleetSignsTaskTokens',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['kms:Sign'],
        resources: ['*'],
        conditions: { ArnNotEquals: { 'aws:PrincipalArn': signer.roleArn } },
      }),
    );
    iam.Grant.addToPrincipal({ grantee: signer, actions: [...TASK_TOKEN_SIGNER_ACTIONS], resourceArns: [this.key.keyArn] });
  }

  environment(): Record<string, string> {
    return { [TASK_TOKEN_ENV.key]: this.key.keyArn };
  }
}
