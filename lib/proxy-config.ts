import type { Duration } from 'aws-cdk-lib';
import type { RegisteredTarget } from './target-registry.js';

/** Paths inside the container; the entrypoint writes the rendered files there at start. */
export const CONTAINER_PATHS = {
  configDir: '/etc/airlock',
  config: '/etc/airlock/config.yaml',
  tlsCert: '/etc/airlock/tls/tls.crt',
  tlsKey: '/etc/airlock/tls/tls.key',
  dataDir: '/tmp/airlock',
} as const;

export const CONTAINER_PORTS = { postgres: 5432, ssh: 2222, https: 8443, health: 8080 } as const;

export interface ProxyConfigInput {
  oidcIssuer: string;
  oidcAudience: string;
  reviewerGroups: string[];
  approvalTimeout: Duration;
  targets: RegisteredTarget[];
  /** Path of the policy set baked into the image (the S3 bundle, once published, supersedes it). */
  policyFile: string;
  /** TLS on the agent-facing listeners (false only for a closed network, tokens then cross it in clear). */
  tls: boolean;
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
      console: { host: '0.0.0.0', port: CONTAINER_PORTS.health },
    },
    identity: { issuer: input.oidcIssuer, audience: input.oidcAudience },
    targets: input.targets.map(({ registration: r, secret }) => ({
      name: r.name,
      kind: r.kind,
      environment: r.environment ?? 'production',
      tags: r.tags ?? {},
      host: r.host,
      ...(r.port !== undefined ? { port: r.port } : {}),
      ...r.settings,
      credential: `aws-secretsmanager:${secret.secretArn}${r.secretJsonKey ? `#${r.secretJsonKey}` : ''}`,
    })),
    policy: { file: input.policyFile },
    audit: { ack: 'store' },
    approvals: {
      reviewerGroups: input.reviewerGroups,
      timeoutSeconds: input.approvalTimeout.toSeconds(),
    },
  };
}
