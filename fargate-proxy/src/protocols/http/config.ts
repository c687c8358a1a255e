// Configuration fragments for HTTP: one target kind and one listener, merged into the gateway's
// schema (targets union, listeners.http) in config/schema.ts.
import { z } from 'zod';

const secretRef = z.string().regex(/^(env|file|memory|aws-secretsmanager):.+/, 'a credential reference such as env:NAME or aws-secretsmanager:ARN');

/** How the gateway proves itself to the upstream; the agent never sees any of it. */
export const httpCredentialSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('none') }).strict(),
  /** `Authorization: Bearer <secret>` */
  z.object({ type: z.literal('bearer'), secret: secretRef }).strict(),
  /** `<header>: <secret>`, e.g. `X-Api-Key`. */
  z.object({ type: z.literal('header'), header: z.string().regex(/^[A-Za-z0-9-]{1,64}$/), secret: secretRef }).strict(),
  /** `Authorization: Basic base64(<username>:<secret>)` */
  z.object({ type: z.literal('basic'), username: z.string().min(1).refine((u) => !u.includes(':'), 'no ":" in a basic-auth user name'), secret: secretRef }).strict(),
]);

/** Reclassifies requests: the first rule whose methods and path match decides the action. */
export const httpRouteRuleSchema = z
  .object({
    /** Named in audit and policy context (`context.route`). */
    id: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/),
    /** Methods the rule applies to; any method when left out (then `operations` must be given). */
    methods: z.array(z.string().regex(/^[A-Z]{1,16}$/)).min(1).optional(),
    /** A canonical path pattern: `*` is one segment (or the rest of one), `**` any number of segments. */
    path: z.string().startsWith('/').optional(),
    /** Operation ids from the target's OpenAPI document: the rule applies to these operations. */
    operations: z.array(z.string().min(1)).min(1).optional(),
    action: z.enum(['read', 'write', 'delete']),
  })
  .strict()
  .refine((r) => r.operations || (r.methods && r.path), 'a route rule names methods and a path, or operations');

export const httpTargetSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]{1,63}$/, 'letters, digits, _ . - (at most 63)'),
    kind: z.literal('http'),
    environment: z.string().min(1).default('production'),
    tags: z.record(z.string(), z.string()).default({}),
    /** The upstream base URL; agents address paths below it and can never climb above it. */
    baseUrl: z
      .string()
      .url()
      .refine((u) => /^https?:$/.test(new URL(u).protocol), 'http: or https:')
      .refine((u) => !new URL(u).search && !new URL(u).hash && !new URL(u).username, 'no query, fragment or user info in baseUrl'),
    credential: httpCredentialSchema.default({ type: 'none' }),
    tls: z
      .object({
        caFile: z.string().optional(),
        serverName: z.string().optional(),
        /** mTLS: the gateway's client certificate and key (PEM files) for this upstream. */
        clientCertFile: z.string().optional(),
        clientKeyFile: z.string().optional(),
      })
      .strict()
      .refine((t) => Boolean(t.clientCertFile) === Boolean(t.clientKeyFile), 'clientCertFile and clientKeyFile go together')
      .optional(),
    /** How paths are read, which must be how this upstream routes them (docs/http.md). */
    paths: z
      .object({
        /** false: `/ADMIN` and `/admin` are one route (decided and forwarded lower-cased). */
        caseSensitive: z.boolean().default(true),
        /** `;` parameters (`/a;x=1`): refused (default), or stripped before deciding and forwarding. */
        semicolons: z.enum(['refuse', 'strip']).default('refuse'),
        /** `/admin/` as `/admin` (default) or kept distinct. */
        trailingSlash: z.enum(['strip', 'keep']).default('strip'),
      })
      .strict()
      .default({ caseSensitive: true, semicolons: 'refuse', trailingSlash: 'strip' }),
    /**
     * An OpenAPI 3 document (YAML or JSON) naming this upstream's operations: policy sees
     * `context.operationId` and `context.operationTags`; route rules may name operations.
     */
    openapi: z
      .object({
        file: z.string(),
        /** A request matching no operation (and no route rule): decided as usual (`pass`), or as `http_opaque` (refused unless a policy permits it). */
        unmatched: z.enum(['pass', 'opaque']).default('pass'),
      })
      .strict()
      .optional(),
    routes: z.array(httpRouteRuleSchema).default([]),
    /** Request headers policy may read (`context.headers` as `name=value`), lower-case names. */
    contextHeaders: z.array(z.string().regex(/^[a-z0-9-]{1,64}$/)).default([]),
    /** Response bodies the gateway cannot inspect (binary, unknown types): passed unmasked, or refused. */
    uninspectable: z.enum(['pass', 'refuse']).default('refuse'),
    /** Upper bound on the upstream's answer headers. */
    responseTimeoutMs: z.number().int().positive().default(30_000),
    connectTimeoutMs: z.number().int().positive().default(10_000),
  })
  .strict();

export const httpListenerSchema = z
  .object({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(8443),
    /** HTTPS (HTTP/2 and HTTP/1.1 by ALPN). */
    tls: z
      .object({
        /** The default certificate: for the gateway's name and, for host addressing, `*.<domain>` (or per host below). */
        certFile: z.string(),
        keyFile: z.string(),
        /** Certificates chosen by SNI: `hosts` are names or wildcards (`*.airlock.internal`). */
        sni: z
          .array(z.object({ hosts: z.array(z.string().regex(/^(\*\.)?[a-z0-9.-]+$/, 'a lower-case host name or *.name')).min(1), certFile: z.string(), keyFile: z.string() }).strict())
          .default([]),
      })
      .strict()
      .optional(),
    /**
     * Host addressing: `https://<target>.<domain>/<path>` reaches target <target> (its name must be one
     * lower-case DNS label), chosen by SNI and Host/:authority, which must agree (else 421).
     */
    domain: z
      .string()
      .regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/, 'a lower-case DNS name, without a leading dot')
      .optional(),
    /** Plain HTTP/1.1 without TLS. Tokens then cross the network in clear: local use only. */
    allowPlaintext: z.boolean().default(false),
    maxHeaderBytes: z.number().int().min(1024).max(1024 * 1024).default(32 * 1024),
    /** Request bodies are read whole before the decision (size and hash are part of it). */
    maxRequestBodyBytes: z.number().int().min(0).default(8 * 1024 * 1024),
    /** The agent must have sent its whole request within this time. */
    requestTimeoutMs: z.number().int().positive().default(60_000),
    /** Longest a request is held open waiting for a reviewer; then 503 + Retry-After, and an identical retry picks the decision up. */
    approvalWaitSeconds: z.number().int().positive().default(60),
    /** Longest line or JSON string held for masking before it is masked in pieces. */
    maxMaskTokenBytes: z.number().int().min(1024).default(1024 * 1024),
  })
  .strict()
  .refine((l) => l.tls || l.allowPlaintext, 'set tls, or allowPlaintext: true for local use');

export type HttpTargetConfig = z.infer<typeof httpTargetSchema>;
export type HttpListenerConfig = z.infer<typeof httpListenerSchema>;
export type HttpCredential = z.infer<typeof httpCredentialSchema>;
export type HttpRouteRule = z.infer<typeof httpRouteRuleSchema>;
