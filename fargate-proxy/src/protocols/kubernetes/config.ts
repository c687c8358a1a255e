// Configuration fragments for Kubernetes: the `kubernetes` target kind and `listeners.kubernetes`,
// merged into the gateway's schema in config/schema.ts. A kubeconfig from `airlock kubeconfig`
// points kubectl at `<listener>/<target>`.
import { z } from 'zod';
import { httpListenerSchema } from '../http/config.js';

const secretRef = z.string().regex(/^(env|file|memory|aws-secretsmanager):.+/, 'a credential reference such as env:NAME or aws-secretsmanager:ARN');

/** How the gateway authenticates to the API server; the agent never sees any of it. */
export const kubeCredentialSchema = z.discriminatedUnion('type', [
  /** A ServiceAccount (or any bearer) token: `Authorization: Bearer <secret>`. */
  z.object({ type: z.literal('token'), secret: secretRef }).strict(),
  /** A client certificate and its key (PEM), both from the secrets port. */
  z.object({ type: z.literal('clientCertificate'), certificate: secretRef, key: secretRef }).strict(),
  /**
   * Amazon EKS: a token presigned by the gateway's own AWS identity (the task role, or `roleArn`
   * assumed from it), as `aws eks get-token` makes it; no secret is stored anywhere.
   */
  z
    .object({
      type: z.literal('eks'),
      clusterName: z.string().min(1),
      /** Default: AWS_REGION. */
      region: z.string().min(1).optional(),
      roleArn: z.string().regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/.+/, 'an IAM role ARN').optional(),
    })
    .strict(),
]);

export const kubernetesTargetSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]{1,63}$/, 'letters, digits, _ . - (at most 63)'),
    kind: z.literal('kubernetes'),
    environment: z.string().min(1).default('production'),
    tags: z.record(z.string(), z.string()).default({}),
    /** The API server, e.g. https://ABCD.gr7.eu-west-1.eks.amazonaws.com (no query or user info). */
    server: z
      .string()
      .url()
      .refine((u) => /^https?:$/.test(new URL(u).protocol) && !new URL(u).search && !new URL(u).username, 'http(s) URL without query or user info'),
    /** The cluster's CA (PEM file); without it the system's roots. */
    caFile: z.string().optional(),
    /** TLS server name when it differs from the server's host. */
    serverName: z.string().optional(),
    credential: kubeCredentialSchema,
    /**
     * The gateway's cluster identity acts as the agent (Impersonate-User/-Group), so the cluster's
     * own audit log names the agent; the gateway's identity needs RBAC `impersonate` for it.
     */
    impersonate: z
      .object({
        /** The user name sent; `{principal}` is the agent's principal id. */
        user: z.string().min(1).default('airlock:{principal}'),
        /** Each of the agent's groups, prefixed, as an Impersonate-Group. */
        groupPrefix: z.string().default('airlock:'),
        /** Extra groups always sent (e.g. a group RBAC binds the agents' rights to). */
        groups: z.array(z.string().min(1)).default([]),
      })
      .strict()
      .optional(),
    /** Largest single JSON object (a list page, a watch event) inspected; larger responses are refused (use --chunk-size). */
    maxObjectBytes: z.number().int().min(64 * 1024).default(32 * 1024 * 1024),
    responseTimeoutMs: z.number().int().positive().default(30_000),
    connectTimeoutMs: z.number().int().positive().default(10_000),
  })
  .strict();

/** The Kubernetes listener has the HTTP listener's settings (TLS, limits, approval wait). */
export const kubernetesListenerSchema = httpListenerSchema;

export type KubernetesTargetConfig = z.infer<typeof kubernetesTargetSchema>;
export type KubernetesListenerConfig = z.infer<typeof kubernetesListenerSchema>;
