import { RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { acknowledge } from './nag-acknowledgements.js';
import type { TargetKind } from '../core/model.js';
import { targetSchema } from '../fargate-proxy/src/config/schema.js';
import { renderTarget } from './proxy-config.js';

/** One target the gateway may open, and where its backend credential lives. */
export interface TargetRegistration {
  /** Target name agents use (`dbname=` for PostgreSQL, `user@` for SSH). */
  name: string;
  kind: TargetKind;
  /** Where the proxy connects. */
  host: string;
  port?: number;
  /**
   * Kind-specific settings passed to the proxy configuration as they are. PostgreSQL: `database`,
   * `user`, `tls`. SSH: `user`, `hostKeys` (the target's pinned keys, required),
   * `credentialType` (`privateKey` | `password`), `connectTimeoutMs`.
   */
  settings?: Record<string, unknown>;
  environment?: string;
  tags?: Record<string, string>;
  /**
   * Complete ARN of an existing secret holding the credential. When absent, the registry creates
   * an empty secret `airlock/targets/<name>` for the operator to fill in (see docs/deploy.md).
   */
  secretArn?: string;
  /** For a JSON secret: the key holding the credential (e.g. `password`). */
  secretJsonKey?: string;
  /** Customer-managed key of an existing secret, when it is not encrypted with the AWS-managed key. */
  secretKmsKeyArn?: string;
}

export interface RegisteredTarget {
  registration: TargetRegistration;
  secret: secretsmanager.ISecret;
}

export interface TargetRegistryProps {
  targets: TargetRegistration[];
  /** Key for the secrets this registry creates. */
  key: kms.IKey;
}

const TARGET_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/**
 * Checks a registration against the proxy's own target schema at synth, so a missing SSH host key
 * pin or a misspelt setting fails `cdk synth` instead of a task's start.
 */
function assertProxyAccepts(registration: TargetRegistration): void {
  // Any well-formed reference will do: the real ARN may be a token until deployment.
  const placeholder = 'arn:aws:secretsmanager:region:000000000000:secret:placeholder';
  const result = targetSchema.safeParse(renderTarget(registration, placeholder));
  if (result.success) return;
  const problems = result.error.issues.map((i) => `${i.path.join('.') || '(target)'}: ${i.message}`);
  throw new Error(`target "${registration.name}" (${registration.kind}) is not accepted by the proxy: ${problems.join('; ')}`);
}

/**
 * Which Secrets Manager secret holds which target's credential. Grants name those secrets one by one:
 * the fleet can read the credentials of registered targets and nothing else.
 */
export class TargetRegistry extends Construct {
  readonly targets: RegisteredTarget[];
  private readonly secretKeys: kms.IKey[] = [];

  constructor(scope: Construct, id: string, props: TargetRegistryProps) {
    super(scope, id);
    const seen = new Set<string>();
    this.targets = props.targets.map((registration) => {
      if (!TARGET_NAME.test(registration.name)) {
        throw new Error(`target name "${registration.name}" must match ${TARGET_NAME}`);
      }
      if (seen.has(registration.name)) throw new Error(`target "${registration.name}" is registered twice`);
      seen.add(registration.name);
      assertProxyAccepts(registration);

      const secret = registration.secretArn
        ? secretsmanager.Secret.fromSecretCompleteArn(this, `Secret-${registration.name}`, registration.secretArn)
        : new secretsmanager.Secret(this, `Secret-${registration.name}`, {
            secretName: `airlock/targets/${registration.name}`,
            description: `Airlock backend credential for target ${registration.name} (${registration.kind})`,
            encryptionKey: props.key,
            removalPolicy: RemovalPolicy.RETAIN,
          });
      if (!registration.secretArn) {
        acknowledge(
          secret,
          'AwsSolutions-SMG4',
          'Rotation depends on the target (a database user, an SSH key) and is configured per target after the credential is stored; see docs/deploy.md',
        );
      }
      if (registration.secretKmsKeyArn) {
        this.secretKeys.push(kms.Key.fromKeyArn(this, `SecretKey-${registration.name}`, registration.secretKmsKeyArn));
      }
      return { registration, secret };
    });
    if (this.targets.some((t) => !t.registration.secretArn)) this.secretKeys.push(props.key);
  }

  /** Read access to exactly the registered targets' secrets (and the keys that decrypt them). */
  grantReadCredentials(grantee: iam.IGrantable): void {
    for (const { secret } of this.targets) secret.grantRead(grantee);
    for (const key of this.secretKeys) key.grantDecrypt(grantee);
  }
}
