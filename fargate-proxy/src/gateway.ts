// Assembles a running gateway from a validated configuration: picks adapters, starts listeners.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { ApprovalService } from '../../core/approval/types.js';
import { createTokenVerifier } from '../../core/identity/index.js';
import { loadSqlInspector } from '../../core/classify/index.js';
import { compilePolicySet, type PolicyEngine } from '../../core/policy/index.js';
import type { AuditSink } from '../../core/audit/ports.js';
import type { AirlockConfig } from './config/schema.js';
import type { Engine, EnginePorts } from './engine.js';
import { createLogger } from './log.js';
import { SecretRouter } from './ports/secrets.js';
import { EnvSecretStore, FileSecretStore, MemorySecretStore } from './adapters/local/secrets.js';
import { SecretsManagerStore } from './adapters/aws/secrets-manager.js';
import { startLocalIssuer, type LocalIssuer } from './adapters/local/oidc-issuer.js';
import { watchPolicyFile } from './adapters/local/policy-file.js';
import { createLocalAuditSink } from './adapters/local/audit-file-sink.js';
import { createLocalApprovalService } from './adapters/local/approval-service.js';
import { createAwsAuditStore } from './adapters/aws/audit-dynamodb-store.js';
import { createKmsDigestSigner } from './adapters/aws/kms-digest-signer.js';
import { KMSClient } from '@aws-sdk/client-kms';
import { createAwsApprovalService } from './adapters/aws/approval-service.js';
import { startPolicyBundleSource } from './adapters/aws/policy-bundle-source.js';
import { joinFleet } from './adapters/aws/fleet-registry.js';
import { readTaskSelf } from './adapters/aws/ecs-task-metadata.js';
import { startTaskProtection } from './adapters/aws/task-protection.js';
import { CountingAuditSink } from './metrics/counting-audit-sink.js';
import { startMetricsPublisher } from './metrics/proxy-metrics.js';
import { startConsole, startHealthListener, type RunningConsole } from './console/server.js';
import { remoteApprovalRoutes } from './console/approvals-api.js';
import { createSignIn } from './console/oauth-sign-in.js';
import type { ConsoleRoute } from './console/router.js';
import { sendJson } from './console/http.js';
import { sessionRoutes } from './console/sessions-routes.js';
import { createLocalAuditReader } from './adapters/local/audit-file-reader.js';
import { startPostgresEngine } from './protocols/postgres/engine.js';
import { startSshEngine } from './protocols/ssh/engine.js';
import { startHttpEngine } from './protocols/http/engine.js';
import { startTasks } from './tasks/task-gateway.js';
import { loadOrCreateTaskKey } from './tasks/local-task-key.js';
import { createKmsTaskKey } from './adapters/aws/kms-task-key.js';
import { DynamoSlotLedger } from './adapters/aws/session-slot-ledger.js';
import { DynamoBudgetLedger } from './adapters/aws/budget-dynamo-ledger.js';
import { DynamoTaskStore } from './adapters/aws/task-dynamo-store.js';
import { taskRoutes } from './tasks/task-routes.js';
import { readTaskEvents } from './tasks/task-audit.js';
import type { TaskService } from '../../core/task/types.js';
import { targetInfo } from './engine.js';
// --- mcp (issue 32) ---
import { startMcpListener } from './mcp/http-listener.js';
import { gatewayEndpoints } from './mcp/endpoints.js';
import { airlockVersion } from './mcp/version.js';
// --- end mcp ---
import { startKubernetesEngine } from './protocols/kubernetes/engine.js';
import { eksTokenSources } from './adapters/aws/eks-token.js';
import type { FleetMembership } from './ports/fleet.js';
import type { ProcessSiblings } from './ports/processes.js';

export interface RunningGateway {
  config: AirlockConfig;
  log: Logger;
  issuer: string;
  tokenEndpoint?: string;
  postgres?: { host: string; port: number };
  ssh?: { host: string; port: number };
  http?: { host: string; port: number };
  /** The MCP endpoint (streamable HTTP), when `listeners.mcp` is configured. */
  mcpUrl?: string;
  kubernetes?: { host: string; port: number };
  consoleUrl?: string;
  /** The plain health listener's GET /healthz URL, when `listeners.health` is configured. */
  healthUrl?: string;
  /** `memory:` credentials (the demo's generated password) are set here. */
  memorySecrets: MemorySecretStore;
  /** Tasks of this gateway (issue 32): what the MCP server's request_access / task_status call. */
  tasks?: TaskService;
  /**
   * Graceful shutdown, first half: stop accepting sessions, report unhealthy (so a load balancer
   * deregisters this task) and wait — at most `timeoutMs` — for live sessions to end on their own.
   */
  drain(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export interface GatewayOptions {
  log?: Logger;
  /** Values for `memory:NAME` credential references. */
  memorySecrets?: Record<string, string>;
  /** Where metric lines go when `metrics.enabled`; default stdout. */
  metricsOut?: (line: string) => void;
  /**
   * Set in each process of a task that runs several (`processes`, cli/process-supervisor.ts): the
   * supervisor holds the fleet tag and routes cancels; this process keeps its own audit directory.
   */
  process?: ProcessSiblings;
}

export const LOCAL_ISSUER_KEY_FILE = 'issuer-keys.json';
/** The embedded issuer's public client for the console's browser sign-in (oidc-sign-in.ts). */
export const LOCAL_SIGN_IN_CLIENT = 'airlock-console';

/** Loopback callbacks (any port, RFC 8252), plus the console's own HTTPS address when it is fixed and not loopback (a native client may register http only on loopback). */
function localSignInRedirects(c: { host: string; port: number; tls?: unknown }): string[] {
  const uris = ['http://127.0.0.1/signin', 'http://[::1]/signin', 'http://localhost/signin'];
  const loopback = ['127.0.0.1', '::1', 'localhost', '0.0.0.0', '::'].includes(c.host);
  if (!loopback && c.tls && c.port !== 0) uris.push(`https://${c.host.includes(':') ? `[${c.host}]` : c.host}:${c.port}/signin`);
  return uris;
}

/**
 * The local audit trail (the spool, in AWS) of one gateway process: `<dataDir>/audit` for the first
 * (the only one, by default); each other process of a task writes its own, `<dataDir>/audit-process-<i>`,
 * so that no two processes append to one log or close out each other's open sessions at start.
 */
export const localAuditDir = (dataDir: string, processIndex = 0): string => join(dataDir, processIndex === 0 ? 'audit' : `audit-process-${processIndex}`);

/** Joins the fleet registry of `cfg.fleet`: once per task (in the supervisor when the task runs several processes). */
export async function joinConfiguredFleet(fleetCfg: NonNullable<AirlockConfig['fleet']>, log: Logger): Promise<FleetMembership> {
  const self = fleetCfg.advertiseHost ? { privateAddress: fleetCfg.advertiseHost, taskArn: undefined } : await readTaskSelf();
  const fleetDynamo = new DynamoDBClient({});
  const membership = await joinFleet({
    client: fleetDynamo,
    table: fleetCfg.table,
    host: self.privateAddress,
    taskLabel: self.taskArn,
    heartbeatMs: fleetCfg.heartbeatSeconds * 1000,
    expireMs: fleetCfg.expireSeconds * 1000,
    log,
  }).catch((err) => {
    fleetDynamo.destroy();
    throw err;
  });
  return {
    ...membership,
    close: async () => {
      await membership.close();
      fleetDynamo.destroy();
    },
  };
}


export async function startGateway(cfg: AirlockConfig, opts: GatewayOptions = {}): Promise<RunningGateway> {
  const base = opts.log ?? createLogger(cfg.logLevel);
  // Each process of a task names itself in its log lines (they share the container's output).
  const log = opts.process ? base.child({ process: opts.process.index }) : base;
  mkdirSync(cfg.dataDir, { recursive: true, mode: 0o700 });
  const closers: (() => Promise<void> | void)[] = [];
  const close = async () => {
    for (const c of closers.reverse()) await Promise.resolve(c()).catch((err) => log.warn({ err: (err as Error).message }, 'error while closing'));
  };
  try {
    // Identity: a configured issuer, or the embedded development one.
    let issuer = cfg.identity.issuer;
    let jwksUri = cfg.identity.jwksUri;
    let tokenEndpoint: string | undefined;
    let local: LocalIssuer | undefined;
    const audience = Array.isArray(cfg.identity.audience) ? cfg.identity.audience[0]! : cfg.identity.audience;
    if (cfg.identity.localIssuer) {
      local = await startLocalIssuer({
        host: new URL(cfg.identity.issuer).hostname,
        port: cfg.identity.localIssuer.port,
        audience,
        clients: cfg.identity.localIssuer.clients,
        keyFile: join(cfg.dataDir, LOCAL_ISSUER_KEY_FILE),
        accessTokenTtlSeconds: cfg.identity.localIssuer.accessTokenTtlSeconds,
        requiredAlg: cfg.identity.localIssuer.keyType,
        // The console's browser sign-in; a loopback callback matches whatever port the console gets.
        ...(cfg.listeners.console ? { signIn: { clientId: LOCAL_SIGN_IN_CLIENT, redirectUris: localSignInRedirects(cfg.listeners.console) } } : {}),
      });
      closers.push(() => local!.close());
      issuer = local.issuer;
      jwksUri = local.jwksUri;
      tokenEndpoint = local.tokenEndpoint;
    }
    const verifier = createTokenVerifier({
      issuer,
      audience: cfg.identity.audience,
      jwksUri,
      algorithms: cfg.identity.algorithms,
      clockSkewSeconds: cfg.identity.clockSkewSeconds,
      principalClaim: cfg.identity.principalClaim,
      groupsClaim: cfg.identity.groupsClaim,
      audienceClaim: cfg.identity.audienceClaim,
      requiredClaimValues: cfg.identity.requiredClaimValues,
      maxTokenBytes: cfg.identity.maxTokenBytes,
    });

    await loadSqlInspector();

    let policy: PolicyEngine;
    const onPolicyEngine = (engine: PolicyEngine) => {
      policy = engine;
      log.info({ policyVersion: engine.version }, 'policy reloaded');
    };
    const s3Policy = cfg.policy.s3;
    if (s3Policy) {
      // The file is only where a task starts (the image's policy); the live version comes from S3.
      let baked: PolicyEngine | undefined;
      try {
        baked = compilePolicySet(readFileSync(cfg.policy.file, 'utf8'), cfg.policy.schemaFile && readFileSync(cfg.policy.schemaFile, 'utf8'));
      } catch (err) {
        log.error({ file: cfg.policy.file, error: (err as Error).message }, 'the policy file does not load; relying on the S3 bundle');
      }
      const policyS3 = new S3Client({});
      closers.push(() => policyS3.destroy());
      const source = await startPolicyBundleSource({
        client: policyS3,
        bucket: s3Policy.bucket,
        currentKey: s3Policy.currentKey,
        pollMs: s3Policy.pollSeconds * 1000,
        initial: baked,
        onEngine: onPolicyEngine,
        log,
      });
      policy = source.current;
      closers.push(() => source.close());
    } else {
      const watch = watchPolicyFile(
        cfg.policy.file,
        cfg.policy.schemaFile,
        onPolicyEngine,
        (message) => log.error({ error: message }, 'policy edit rejected; the previous policy set stays in force'),
      );
      policy = watch.current;
      closers.push(() => watch.close());
    }

    // The local spool always comes first (a crash loses nothing); a configured store is shipped to.
    const auditStore = cfg.audit.store && createAwsAuditStore({ dynamodb: new DynamoDBClient({}), s3: new S3Client({}), ...cfg.audit.store });
    // In AWS, digests are signed by KMS: the task can ask for signatures but never holds the key.
    const signingKeyId = cfg.audit.store?.signingKeyId;
    const signer = signingKeyId ? await createKmsDigestSigner(new KMSClient({}), signingKeyId) : undefined;
    const auditDir = localAuditDir(cfg.dataDir, opts.process?.index);
    const audit = await createLocalAuditSink({ dir: auditDir, ack: cfg.audit.ack, responseCapBytes: cfg.audit.responseCapBytes, store: auditStore, signer });
    closers.push(() => audit.close());
    // Sessions append through a counter when metrics are on: counts without hooks in protocol code.
    const counted = cfg.metrics.enabled ? new CountingAuditSink(audit) : undefined;
    const sessionAudit: AuditSink = counted ?? audit;

    let consoleRef: RunningConsole | undefined;
    const localApprovals = createLocalApprovalService({
      reviewerGroups: cfg.approvals.reviewerGroups,
      timeoutMs: cfg.approvals.timeoutSeconds * 1000,
      reviewBaseUrl: () => consoleRef?.url,
    });
    closers.push(() => localApprovals.close());
    let approvals: ApprovalService = localApprovals;
    const sfnCfg = cfg.approvals.stepFunctions;
    if (cfg.approvals.backend === 'stepfunctions' && sfnCfg) {
      const aws = createAwsApprovalService({
        tableName: sfnCfg.tableName,
        stateMachineArn: sfnCfg.stateMachineArn,
        reviewBaseUrl: sfnCfg.reviewBaseUrl,
        clients: { dynamodb: new DynamoDBClient({}), sfn: new SFNClient({}) },
        timeoutMs: cfg.approvals.timeoutSeconds * 1000,
      });
      closers.push(() => aws.close());
      approvals = aws;
    }

    const memorySecrets = new MemorySecretStore();
    for (const [k, v] of Object.entries(opts.memorySecrets ?? {})) memorySecrets.set(k, v);
    let secretsManager: SecretsManagerStore | undefined;
    const secrets = new SecretRouter({
      env: new EnvSecretStore(),
      file: new FileSecretStore(),
      memory: memorySecrets,
      'aws-secretsmanager': {
        get: (ref, o) => (secretsManager ??= new SecretsManagerStore(new SecretsManagerClient({}))).get(ref, o),
      },
    });

    // Tasks (issue 32): task tokens are verified beside access tokens; engines register live sessions.
    const tasks = startTasks({
      log,
      // In AWS a KMS key signs task tokens (the fleet never holds it); locally a key in the data directory.
      key: cfg.tasks.kmsKeyId ? await createKmsTaskKey(new KMSClient({}), cfg.tasks.kmsKeyId) : loadOrCreateTaskKey(cfg.dataDir),
      policy: () => policy,
      approvals,
      targets: cfg.targets.map(targetInfo),
      reviewerGroups: cfg.approvals.reviewerGroups,
      verifier,
      // Task lifecycle events are chained into the audit trail; agent budgets come from configuration.
      audit: sessionAudit,
      agentBudgets: cfg.tasks.agentBudgets.map(({ principal, group, ...budget }) => ({ principal, group, budget })),
      agentBudgetWindowSeconds: cfg.tasks.agentBudgetWindowSeconds,
      // With the AWS approval workflow the fleet shares its approvals table: tasks and kill orders live there too.
      ...(cfg.approvals.backend === 'stepfunctions' && sfnCfg ? (() => {
        // One client (one connection pool, one credential chain) for the tasks, budgets and slots.
        const dynamo = new DynamoDBClient({});
        const shared = new DynamoTaskStore(dynamo, sfnCfg.tableName);
        const pollMs = cfg.tasks.fleetPollSeconds * 1000;
        return { store: shared, fleet: { kills: shared, pollMs, sweepMs: cfg.tasks.expirySweepSeconds * 1000, ledger: new DynamoBudgetLedger(dynamo, sfnCfg.tableName), slots: new DynamoSlotLedger(dynamo, sfnCfg.tableName) } };
      })() : {}),
    });
    closers.push(() => tasks.close());
    // A task of a fleet: its tag goes into the PostgreSQL cancel keys it issues (ports/fleet.ts).
    // With several processes per task the supervisor holds the tag (opts.process.fleetTag) and forwards.
    let fleet: EnginePorts['fleet'];
    if (cfg.fleet && !opts.process) {
      const membership = await joinConfiguredFleet(cfg.fleet, log);
      closers.push(() => membership.close());
      fleet = membership;
    }

    const ports: EnginePorts = {
      log,
      verifier: tasks.verifier,
      sessions: tasks.sessions,
      tasks: tasks.service,
      policy: () => policy,
      secrets,
      audit: sessionAudit,
      masking: cfg.masking,
      responseCapture: cfg.audit.responseCapBytes > 0 ? () => audit.newResponseCapture() : undefined,
      approvals,
      targets: cfg.targets,
      dataDir: cfg.dataDir,
      fleet,
      siblings: opts.process,
    };

    // Every protocol is an engine: gateway.ts starts the configured ones and knows none of their insides.
    const engines: Engine[] = [];
    const liveSessions = () => engines.reduce((n, e) => n + (e.liveSessions?.() ?? 0), 0);
    let draining = false;
    const drain = async (timeoutMs: number) => {
      draining = true;
      for (const e of engines) e.stopAccepting();
      const deadline = Date.now() + timeoutMs;
      log.info({ sessions: liveSessions(), timeoutMs }, 'draining: no new sessions; waiting for live ones to end');
      while (liveSessions() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      if (liveSessions() > 0) log.warn({ sessions: liveSessions() }, 'drain deadline reached; closing the remaining sessions');
    };
    const running: RunningGateway = { config: cfg, log, issuer, tokenEndpoint, memorySecrets, drain, close, tasks: tasks.service };

    const starters: [keyof RunningGateway & ('postgres' | 'ssh' | 'http' | 'kubernetes'), () => Promise<Engine> | undefined][] = [
      ['postgres', () => cfg.listeners.postgres && startPostgresEngine(ports, cfg.listeners.postgres)],
      ['ssh', () => cfg.listeners.ssh && startSshEngine(ports, cfg.listeners.ssh)],
      ['http', () => cfg.listeners.http && startHttpEngine(ports, cfg.listeners.http, { approvalLifetimeMs: cfg.approvals.timeoutSeconds * 1000 })],
      ['kubernetes', () => cfg.listeners.kubernetes && startKubernetesEngine(ports, cfg.listeners.kubernetes, { approvalLifetimeMs: cfg.approvals.timeoutSeconds * 1000, eksTokens: eksTokenSources })],
    ];
    for (const [name, start] of starters) {
      const engine = await start();
      if (!engine) continue;
      engines.push(engine);
      closers.push(() => engine.close());
      running[name] = engine.address;
    }
    // --- mcp (issue 32): the MCP server's HTTP transport, a client of the listeners started above ---
    if (cfg.listeners.mcp) {
      const endpoints = gatewayEndpoints(cfg, running);
      const mcp = await startMcpListener({
        ports,
        cfg: cfg.listeners.mcp,
        endpoints: () => endpoints,
        issuer,
        tasks: tasks.service,
        maxApprovalWaitMs: cfg.approvals.timeoutSeconds * 1000,
        version: airlockVersion(),
      });
      engines.push(mcp);
      closers.push(() => mcp.close());
      running.mcpUrl = mcp.url;
    }
    // --- end mcp ---

    // A task holding sessions is not chosen for scale-in (ECS agent endpoint); released when idle.
    // With several processes the supervisor does it for the task, from every process's count.
    opts.process?.reportSessions(liveSessions);
    const protection = cfg.fleet?.scaleInProtection;
    const agentUri = protection && (protection.agentUri ?? process.env.ECS_AGENT_URI);
    if (protection && agentUri && !opts.process) {
      const guard = startTaskProtection({ agentUri, liveSessions, checkMs: protection.checkSeconds * 1000, expiresInMinutes: protection.expiresInMinutes, log });
      closers.push(() => guard.close());
    }

    // Load balancer health check: unhealthy (503) while the audit trail refuses events, so a task
    // that would refuse every statement is taken out of service, and while draining.
    const healthz: ConsoleRoute['handler'] = ({ res }) => {
      if (draining) return sendJson(res, 503, { ok: false, reason: 'draining' });
      const health = audit.health();
      sendJson(res, health.ok ? 200 : 503, health.ok ? { ok: true, policyVersion: policy.version, sessions: liveSessions() } : { ok: false, reason: health.reason });
    };
    const onConsoleError = (err: unknown) => log.error({ err: (err as Error)?.message }, 'console error');

    const consoleCfg = cfg.listeners.console;
    if (consoleCfg) {
      const verifyToken = (token: string) => verifier.verify(token);
      const signInClient = consoleCfg.signIn ?? (local ? { clientId: LOCAL_SIGN_IN_CLIENT, scope: 'openid' } : undefined);
      consoleRef = await startConsole({
        host: consoleCfg.host,
        port: consoleCfg.port,
        // The embedded issuer keeps an SSO session; asking for a login each time keeps the secret the proof.
        ...(signInClient ? { signIn: createSignIn({ issuer, clientId: signInClient.clientId, scope: signInClient.scope, alwaysLogin: Boolean(local && !consoleCfg.signIn) }) } : {}),
        tls: consoleCfg.tls && { cert: readFileSync(consoleCfg.tls.certFile), key: readFileSync(consoleCfg.tls.keyFile) },
        approvals: localApprovals,
        verifyReviewer: verifyToken,
        routes: [
          // Sessions and replay, read from the local audit files (the spool every task keeps).
          ...sessionRoutes({ reader: createLocalAuditReader(auditDir), verifyViewer: verifyToken, viewerGroups: cfg.audit.viewerGroups }),
          // Held statements live in the workflow's store, not on this task's local desk.
          ...(approvals === localApprovals ? [] : remoteApprovalRoutes(sfnCfg?.reviewBaseUrl, verifyToken)),
          { method: 'GET', path: '/healthz', handler: healthz },
          ...taskRoutes({ tasks: tasks.service, sessions: tasks.sessions, verify: (t) => tasks.verifier.verify(t), reviewerGroups: cfg.approvals.reviewerGroups, kill: tasks.kill, events: (id) => readTaskEvents(createLocalAuditReader(join(cfg.dataDir, 'audit')), id) }),
        ],
        onError: onConsoleError,
      });
      running.consoleUrl = consoleRef.url;
      closers.push(() => consoleRef!.close());
      log.info({ url: consoleRef.url, tls: Boolean(consoleCfg.tls) }, 'console listener ready');
    }

    const healthCfg = cfg.listeners.health;
    if (healthCfg) {
      const health = await startHealthListener({ host: healthCfg.host, port: healthCfg.port, healthz, onError: onConsoleError });
      running.healthUrl = `${health.url}/healthz`;
      closers.push(() => health.close());
      log.info({ url: running.healthUrl }, 'health listener ready');
    }

    if (counted) {
      const publisher = startMetricsPublisher({
        namespace: cfg.metrics.namespace,
        intervalMs: cfg.metrics.intervalSeconds * 1000,
        write: opts.metricsOut,
        sources: {
          takeActivity: () => counted.takeActivity(),
          // SSH exposes no live count; its sessions are those the audit trail shows open.
          activeSessions: () => liveSessions() + counted.openSessions('ssh'),
          // With Step Functions the pending approvals live in DynamoDB, shared by the fleet: one task
          // counting them would repeat the fleet-wide figure per task, so the AWS desk reports 0 here.
          approvalsPending: async () => (approvals === localApprovals ? (await localApprovals.listPending()).length : 0),
          auditLagMs: () => {
            const oldest = audit.oldestUnshippedAt();
            return oldest === undefined ? 0 : Date.now() - oldest;
          },
        },
        onError: (err) => log.warn({ error: (err as Error)?.message }, 'metrics emission failed'),
      });
      // Registered last so it runs first on close: the final line is written while sessions still count.
      closers.push(() => publisher.close());
    }
    return running;
  } catch (err) {
    await close();
    throw err;
  }
}
