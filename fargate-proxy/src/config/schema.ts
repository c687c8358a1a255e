// The one configuration file (YAML or JSON). Every key is validated here so a typo fails at start-up
// with the key's path, never later in the data path. docs/configuration.md is the human version.
import { z } from 'zod';
import { maskingConfigSchema } from '../../../core/mask/index.js';
import { MAX_PROCESSES } from '../ports/fleet.js';
import { sshListenerSchema, sshTargetSchema } from '../protocols/ssh/config.js';
// --- http (issue 30) ---
import { httpListenerSchema, httpTargetSchema } from '../protocols/http/config.js';
// --- end http ---
// --- mcp (issue 32) ---
import { mcpListenerSchema } from '../mcp/config.js';
// --- end mcp ---
// --- kubernetes (issue 31) ---
import { kubernetesListenerSchema, kubernetesTargetSchema } from '../protocols/kubernetes/config.js';
// --- end kubernetes ---

const hostPort = {
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65535),
};

/** `env:NAME`, `file:/path`, `aws-secretsmanager:<arn-or-name>[#jsonKey]` or `memory:NAME` (set by the process itself, e.g. the demo). */
export const credentialRef = z
  .string()
  .regex(/^(env|file|aws-secretsmanager|memory):.+$/, 'a credential reference: env:NAME, file:/path, aws-secretsmanager:ARN[#key] or memory:NAME');

const postgresTarget = z.object({
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,63}$/, 'letters, digits, _ . - (at most 63)'),
  kind: z.literal('postgres'),
  environment: z.string().min(1).default('production'),
  tags: z.record(z.string(), z.string()).default({}),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(5432),
  database: z.string().min(1),
  user: z.string().min(1),
  credential: credentialRef,
  /** Upstream TLS. Verified (`verify-full`) unless the file says otherwise; plaintext is an explicit `mode: disable`. */
  tls: z
    .object({
      mode: z.enum(['disable', 'require', 'verify-full']).default('verify-full'),
      caFile: z.string().optional(),
      serverName: z.string().optional(),
    })
    .default({ mode: 'verify-full' }),
  /** Upper bound on opening the upstream connection (TCP + TLS + auth). */
  connectTimeoutMs: z.number().int().positive().default(10_000),
  // --- issue 28: a separate upstream role for sessions of principals whom policy lets only read ---
  readOnly: z.object({ user: z.string().min(1), credential: credentialRef }).strict().optional(),
  // --- end issue 28 ---
});

export const targetSchema = z.discriminatedUnion('kind', [postgresTarget, sshTargetSchema, /* http: */ httpTargetSchema, /* kubernetes: */ kubernetesTargetSchema]);

/** A certificate and its private key (PEM files), read once at start-up. */
const tlsFiles = z.object({ certFile: z.string(), keyFile: z.string() });

const localClient = z.object({
  clientId: z.string().min(1),
  clientSecret: z.string().min(16, 'local client secrets must be at least 16 characters'),
  groups: z.array(z.string()).default([]),
});

export const configSchema = z
  .object({
    /** Where the gateway keeps its local state: audit spool, issuer keys, approvals. */
    dataDir: z.string().default('.airlock'),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    listeners: z
      .object({
        postgres: z
          .object({
            ...hostPort,
            port: hostPort.port.default(6432),
            tls: tlsFiles.optional(),
            /** Accept connections without TLS. Tokens then cross the network in clear: local use only. */
            allowPlaintext: z.boolean().default(false),
            /** Largest frontend message accepted; larger ones are refused with SQLSTATE 54000 and the session is closed. */
            maxMessageBytes: z.number().int().min(1024).default(16 * 1024 * 1024),
            /** How long a client may take from connecting to being authenticated. */
            authTimeoutMs: z.number().int().positive().default(30_000),
            /** Largest statement (bytes) inspected; larger ones are refused with SQLSTATE 54000 and the session is kept. */
            maxStatementBytes: z.number().int().min(1024).default(8 * 1024 * 1024),
            /** Statements larger than this (bytes) are parsed in a worker thread, off the event loop. */
            offloadStatementsAboveBytes: z.number().int().min(0).default(32 * 1024),
            /** How long a large statement may wait for and take its inspection; past it, refused (54001), session kept. */
            inspectDeadlineMs: z.number().int().positive().default(10_000),
          })
          .optional(),
        /** The web console (approvals, sessions, replay), its JSON API and GET /healthz; HTTPS with `tls`, else plain HTTP. */
        console: z
          .object({
            ...hostPort,
            port: hostPort.port.default(8080),
            tls: tlsFiles.optional(),
            /**
             * Reviewers' browser sign-in (authorization code + PKCE) at `identity.issuer`, with this public
             * client registered for `<console URL>/signin`. The embedded issuer gets one by itself.
             */
            signIn: z.object({ clientId: z.string().min(1), scope: z.string().min(1).default('openid') }).optional(),
          })
          .optional(),
        /**
         * Plain HTTP that answers GET /healthz only (load balancer and container health checks), so
         * the console itself can be HTTPS-only on another port. Nothing else is served here.
         */
        health: z
          .object({ ...hostPort, port: hostPort.port.default(8081) })
          .optional(),
        ssh: sshListenerSchema.optional(),
        // --- http (issue 30): https://<gateway>:8443/<target>/<path> ---
        http: httpListenerSchema.optional(),
        // --- end http ---
        // --- mcp (issue 32): the MCP server's streamable HTTP transport ---
        mcp: mcpListenerSchema.optional(),
        // --- end mcp ---
        // --- kubernetes (issue 31): kubeconfig server https://<gateway>:6443/<target> ---
        kubernetes: kubernetesListenerSchema.optional(),
        // --- end kubernetes ---
      })
      .default({}),
    identity: z.object({
      issuer: z.string().url(),
      audience: z.union([z.string(), z.array(z.string()).min(1)]),
      jwksUri: z.string().url().optional(),
      algorithms: z.array(z.enum(['RS256', 'ES256', 'EdDSA'])).min(1).default(['RS256', 'ES256', 'EdDSA']),
      clockSkewSeconds: z.number().int().min(0).max(300).default(30),
      principalClaim: z.string().default('sub'),
      /** One claim, or several whose groups are merged (Cognito: `[cognito:groups, scope]`). */
      groupsClaim: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).default('groups'),
      /** Where `audience` is looked for: `aud`, or `client_id` / `scope` for issuers whose access tokens have no `aud` (Cognito). */
      audienceClaim: z.string().min(1).default('aud'),
      /** Claims that must hold exactly these values, e.g. `{ token_use: access }` for Cognito. */
      requiredClaimValues: z.record(z.string(), z.string()).default({}),
      maxTokenBytes: z.number().int().min(256).max(65536).default(8192),
      /** Runs the embedded development issuer (oidc-provider) at `issuer`. */
      localIssuer: z
        .object({
          /** 0 picks a free port; `airlock token` then finds it in `<dataDir>/gateway.json`. */
          port: z.number().int().min(0).max(65535),
          accessTokenTtlSeconds: z.number().int().positive().default(3600),
          /** Signing key type. Default: the key file's own, or ES256 for a new one. */
          keyType: z.enum(['RS256', 'ES256', 'EdDSA']).optional(),
          clients: z.array(localClient).min(1),
        })
        .optional(),
    }),
    targets: z.array(targetSchema).min(1),
    policy: z.object({
      file: z.string(),
      schemaFile: z.string().optional(),
      /** Versioned bundles published by the policy Lambda; `file` is then only the policy a task starts with. */
      s3: z
        .object({
          bucket: z.string().min(1),
          currentKey: z.string().min(1).default('policy/current.json'),
          pollSeconds: z.number().positive().default(15),
        })
        .optional(),
    }),
    audit: z
      .object({
        /** `local`: acknowledged once handed to the OS in the spool; `store`: once the store acknowledged it. */
        ack: z.enum(['local', 'store']).default('local'),
        responseCapBytes: z.number().int().min(0).default(64 * 1024),
        /** Groups whose members may read sessions and replays in the console. */
        viewerGroups: z.array(z.string()).default(['auditors', 'reviewers']),
        /** A remote store the local spool ships to (DynamoDB + S3). Without it the local files are the store. */
        store: z
          .object({
            kind: z.literal('aws'),
            table: z.string().min(1),
            bucket: z.string().min(1),
            kmsKeyId: z.string().optional(),
            /** KMS asymmetric key (ECC_NIST_P256) that signs audit digests; without it, a local Ed25519 key in dataDir. */
            signingKeyId: z.string().min(1).optional(),
            objectLockDays: z.number().int().positive().optional(),
            retentionDays: z.number().int().positive().optional(),
          })
          .optional(),
      })
      .default({ ack: 'local', responseCapBytes: 64 * 1024, viewerGroups: ['auditors', 'reviewers'] }),
    /** Masking of every response stream (docs/masking.md); on by default with every detector. */
    masking: maskingConfigSchema.default({ enabled: true, detectors: {}, columnRules: [] }),
    approvals: z
      .object({
        reviewerGroups: z.array(z.string()).default(['reviewers']),
        timeoutSeconds: z.number().int().positive().default(900),
        /** `local`: decided in this process (console, CLI); `stepfunctions`: the AWS approval workflow. */
        backend: z.enum(['local', 'stepfunctions']).default('local'),
        stepFunctions: z
          .object({ tableName: z.string().min(1), stateMachineArn: z.string().min(1), reviewBaseUrl: z.string().url().optional() })
          .optional(),
      })
      .default({ reviewerGroups: ['reviewers'], timeoutSeconds: 900, backend: 'local' }),
    /** Task tokens (docs/tasks.md): signed by a KMS key (ECC_NIST_P256) when `kmsKeyId` is set, else by a local key in dataDir. */
    tasks: z
      .object({
        kmsKeyId: z.string().min(1).optional(),
        /**
         * Budgets per agent (docs/tasks.md), with or without a task: the first rule naming the agent's
         * id (`principal`), else one of its groups (`group`), applies. Counted in the process, and across the fleet in AWS (docs/tasks.md).
         */
        agentBudgets: z
          .array(
            z
              .object({
                principal: z.string().min(1).optional(),
                group: z.string().min(1).optional(),
                statements: z.number().int().nonnegative().optional(),
                commands: z.number().int().nonnegative().optional(),
                requestsPerMinute: z.number().int().nonnegative().optional(),
                concurrentSessions: z.number().int().nonnegative().optional(),
              })
              .strict()
              .refine((r) => (r.principal === undefined) !== (r.group === undefined), { message: 'name exactly one of principal or group' }),
          )
          .default([]),
        /** Agent `statements` and `commands` are counted per window of this many seconds. */
        agentBudgetWindowSeconds: z.number().int().positive().default(3600),
        /**
         * In a fleet, how often each proxy task scans the shared table for tasks whose time is up and
         * that have no live session on it (those with sessions expire at the next fleet poll).
         */
        expirySweepSeconds: z.number().int().positive().default(60),
        /**
         * In a fleet (approvals backend `stepfunctions`): how often each process reads tasks ended and
         * kill orders given elsewhere, heartbeats its concurrent-session slots and adds what its sessions'
         * tasks did to the fleet's usage counts (task show is at most this far behind); a process silent for
         * three polls is taken for dead and its slots freed.
         */
        fleetPollSeconds: z.number().positive().max(60).default(2),
      })
      .default({ agentBudgets: [], agentBudgetWindowSeconds: 3600, expirySweepSeconds: 60, fleetPollSeconds: 2 }),
    /**
     * One task of a fleet behind a load balancer: tasks register in a DynamoDB table so that a
     * PostgreSQL cancel arriving at any task reaches the task holding the session.
     */
    fleet: z
      .object({
        table: z.string().min(1),
        /** How other tasks reach this one; default: the task's private IPv4 address from ECS task metadata. */
        advertiseHost: z.string().min(1).optional(),
        heartbeatSeconds: z.number().positive().default(10),
        /** A task not heard from for this long has left; its tag may be reused. */
        expireSeconds: z.number().positive().default(30),
        /**
         * ECS task scale-in protection while the task holds sessions, through the ECS agent
         * ($ECS_AGENT_URI, or this URL). Off outside ECS.
         */
        scaleInProtection: z
          .object({
            agentUri: z.string().url().optional(),
            checkSeconds: z.number().positive().default(5),
            expiresInMinutes: z.number().int().min(1).max(2880).default(60),
          })
          .optional(),
      })
      .optional(),
    /**
     * Gateway processes for this task (node:cluster; docs/configuration.md): `auto` is one per CPU
     * the container may use. Several need approvals, tasks and kill orders in a store every process
     * sees (approvals.backend: stepfunctions), or no console or MCP listener to reach them.
     */
    processes: z.union([z.literal('auto'), z.number().int().min(1).max(MAX_PROCESSES)]).default(1),
    /** CloudWatch Embedded Metric Format lines on stdout, one per interval (docs/configuration.md). */
    metrics: z
      .object({
        enabled: z.boolean().default(false),
        intervalSeconds: z.number().positive().default(60),
        namespace: z.string().min(1).default('Airlock'),
      })
      .default({ enabled: false, intervalSeconds: 60, namespace: 'Airlock' }),
  })
  .superRefine((cfg, ctx) => {
    const keyType = cfg.identity.localIssuer?.keyType;
    if (keyType && !cfg.identity.algorithms.includes(keyType)) {
      ctx.addIssue({ code: 'custom', path: ['identity', 'localIssuer', 'keyType'], message: `${keyType} is not in identity.algorithms, so its tokens would be rejected` });
    }
    if (cfg.approvals.backend === 'stepfunctions' && !cfg.approvals.stepFunctions) {
      ctx.addIssue({ code: 'custom', path: ['approvals', 'stepFunctions'], message: 'required when approvals.backend is "stepfunctions"' });
    }
    const { console: web, health } = cfg.listeners;
    if (web && health && web.port !== 0 && web.port === health.port) {
      ctx.addIssue({ code: 'custom', path: ['listeners', 'health', 'port'], message: `the health listener needs its own port (the console has ${web.port})` });
    }
    // Local approvals, tasks and live-session lists are held in one process's memory: a console or
    // MCP listener served by one process would not see what the others hold.
    if (cfg.processes !== 1 && cfg.approvals.backend === 'local' && (cfg.listeners.console || cfg.listeners.mcp)) {
      ctx.addIssue({
        code: 'custom',
        path: ['processes'],
        message: 'several processes keep local approvals, tasks and sessions apart: use processes: 1 with listeners.console or listeners.mcp, or approvals.backend "stepfunctions"',
      });
    }
    const seen = new Set<string>();
    cfg.targets.forEach((t, i) => {
      if (seen.has(t.name)) ctx.addIssue({ code: 'custom', path: ['targets', i, 'name'], message: `duplicate target name "${t.name}"` });
      seen.add(t.name);
    });
  });

export type AirlockConfig = z.infer<typeof configSchema>;
export type TargetConfig = z.infer<typeof targetSchema>;
export type PostgresTargetConfig = z.infer<typeof postgresTarget>;
