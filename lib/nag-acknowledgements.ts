import { CfnResource, Stack, Validations } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import { Construct, type IConstruct } from 'constructs';

/** Accepts one cdk-nag finding on a construct (and its children), with the reason it is acceptable. */
export function acknowledge(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

/** Same, on whatever construct stands behind a grantee (a role); no-op for principals that are not constructs. */
export function acknowledgeOnGrantee(grantee: iam.IGrantable, id: string, reason: string): void {
  const principal = grantee.grantPrincipal;
  if (Construct.isConstruct(principal)) acknowledge(principal, id, reason);
}

/** `<LogicalId.Arn>`: how cdk-nag names a resource's ARN inside a finding id. */
export function nagArn(resource: IConstruct): string {
  const cfn = resource instanceof CfnResource ? resource : resource.node.defaultChild;
  if (!(cfn instanceof CfnResource)) throw new Error(`${resource.node.path} has no CloudFormation resource`);
  const stack = Stack.of(cfn);
  return `<${stack.resolve(stack.getLogicalId(cfn)) as string}.Arn>`;
}

/** Findings that are properties of AWS's action names, not of our choices; accepted stack-wide. */
export function acknowledgeNagFindings(stack: Stack): void {
  const actionWildcards: Record<string, string> = {
    'kms:GenerateDataKey*': 'KMS names its data-key actions with variants (WithoutPlaintext, Pair); the grant is on the stack key only',
    'kms:ReEncrypt*': 'ReEncryptFrom/To are needed together for the key CDK grants on; the resource is the stack key only',
    's3:GetObject*': 'Object reads include version and attribute variants; the resource is one named bucket',
    's3:GetBucket*': 'Bucket metadata reads (location, versioning) used by the SDK; the resource is one named bucket',
    's3:List*': 'Listing one named bucket (e.g. the policy versions); no other bucket is reachable',
    's3:Abort*': 'Aborting own multipart uploads of large recordings; the resource is one named bucket',
  };
  for (const [action, reason] of Object.entries(actionWildcards)) {
    acknowledge(stack, `AwsSolutions-IAM5[Action::${action}]`, reason);
  }
}
