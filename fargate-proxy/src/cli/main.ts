#!/usr/bin/env node
// The `airlock` command line.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { stringify as toYaml } from 'yaml';
import { checkPolicy } from '../../../core/policy/index.js';
import { loadConfigFile, parseConfig, ConfigError } from '../config/load.js';
import { startGateway, type RunningGateway } from '../gateway.js';
import { requestClientCredentialsToken } from '../adapters/local/oidc-issuer.js';
import { approvalsApprove, approvalsDeny, approvalsList } from './approval-commands.js';
import { sessionsKill, taskClose, taskList, taskOpen, taskShow } from './task-commands.js';
import { auditExportCommand, auditVerifyCommand, replayCommand, sessionsCommand } from './audit-commands.js';
import { AuditSourceError, auditSourceFrom, type AuditSourceFlags } from './audit-source.js';
import type { AuditReader } from '../../../core/audit/ports.js';
import { DEMO_PORTS, demoConfig } from './demo-config.js';
import { gatewayRecordPath, readLiveGatewayRecord, writeGatewayRecord, type GatewayAddresses } from './gateway-record.js';
import { execCredential, kubeconfigFor } from './kubeconfig.js';
import type { DemoEngineChoice } from '../demo/demo-target.js';
import cluster from 'node:cluster';
import { processCount } from '../processes/cores.js';
import { superviseProcesses } from '../processes/supervisor.js';
import { onSupervisorShutdown, reportReady, supervisedProcess } from '../processes/worker-link.js';
import { createLogger } from '../log.js';

const DEFAULT_DATA_DIR = '.airlock';
const DEFAULT_CONFIG = join(DEFAULT_DATA_DIR, 'config.yaml');

function fail(message: string, code = 2): never {
  process.stderr.write(`airlock: ${message}\n`);
  process.exit(code);
}

/**
 * Which configuration a command uses: `-c FILE`, else $AIRLOCK_CONFIG_FILE, else the one `npm start`
 * wrote in `.airlock/`. The last is never used silently: the command says so on stderr, and the
 * commands that talk to a running gateway refuse it when no gateway runs with it (a leftover from
 * an earlier `npm start` would otherwise send them to the wrong gateway).
 */
function resolveConfig(flag: string | undefined, needsRunningGateway: boolean): string {
  if (flag) return flag;
  if (process.env.AIRLOCK_CONFIG_FILE) return process.env.AIRLOCK_CONFIG_FILE;
  if (!existsSync(DEFAULT_CONFIG)) {
    fail(`no configuration: pass -c FILE (the file the gateway runs with) or set AIRLOCK_CONFIG_FILE; ${DEFAULT_CONFIG} exists only after \`npm start\``);
  }
  if (needsRunningGateway && !readLiveGatewayRecord(DEFAULT_DATA_DIR)) {
    fail(
      `${DEFAULT_CONFIG} is left from an earlier \`npm start\` and no gateway is running with it: ` +
        'pass -c FILE (or set AIRLOCK_CONFIG_FILE) for the gateway you started with `serve`, or run `npm start` again',
    );
  }
  process.stderr.write(`airlock: using ${DEFAULT_CONFIG} (written by \`npm start\`); -c FILE or AIRLOCK_CONFIG_FILE picks another\n`);
  return DEFAULT_CONFIG;
}

/** How long closing may take once draining is over: sessions are ended, the audit trail flushed. */
const CLOSE_BOUND_MS = 10_000;

/**
 * SIGTERM (a container being stopped): drain — refuse new sessions, let live ones finish for up to
 * AIRLOCK_DRAIN_SECONDS (default 30) — then close. SIGINT (Ctrl-C): close now. A second signal exits.
 */
function onSignals(gw: RunningGateway, supervised = false): void {
  let closing = false;
  const stop = (drainMs: number, again: 'exit' | 'ignore' = 'exit') => () => {
    if (closing) return again === 'exit' ? process.exit(1) : undefined;
    closing = true;
    void gw
      .drain(drainMs)
      .then(() => {
        // Closing ends every session (each audited); should anything still hang, the process does not.
        setTimeout(() => {
          gw.log.error({ afterMs: CLOSE_BOUND_MS }, 'shutdown did not complete in time; exiting');
          process.exit(1);
        }, CLOSE_BOUND_MS).unref();
        return gw.close();
      })
      .then(() => process.exit(0));
  };
  process.on('SIGINT', stop(0));
  process.on('SIGTERM', stop(drainMsFromEnv()));
  // Under a supervisor the order comes over IPC (Ctrl-C in a terminal also signals every process at once).
  if (supervised) onSupervisorShutdown((drainMs) => stop(drainMs, 'ignore')());
}

function drainMsFromEnv(): number {
  const drainSeconds = Number(process.env.AIRLOCK_DRAIN_SECONDS ?? 30);
  return Number.isFinite(drainSeconds) && drainSeconds >= 0 ? drainSeconds * 1000 : 30_000;
}

function announce(gw: GatewayAddresses): void {
  // Machine-readable readiness lines on stdout (scripts and the benchmark wait for them).
  if (gw.postgres) process.stdout.write(`airlock: postgres listening on ${gw.postgres.host}:${gw.postgres.port}\n`);
  if (gw.ssh) process.stdout.write(`airlock: ssh listening on ${gw.ssh.host}:${gw.ssh.port}\n`);
  if (gw.http) process.stdout.write(`airlock: http listening on ${gw.http.host}:${gw.http.port}\n`);
  if (gw.mcpUrl) process.stdout.write(`airlock: mcp at ${gw.mcpUrl}\n`);
  if (gw.consoleUrl) process.stdout.write(`airlock: console at ${gw.consoleUrl}\n`);
  if (gw.healthUrl) process.stdout.write(`airlock: health at ${gw.healthUrl}\n`);
  if (gw.tokenEndpoint) process.stdout.write(`airlock: local issuer at ${gw.issuer}\n`);
}

const program = new Command('airlock').description('Airlock: the gateway between AI agents and production systems').showHelpAfterError().enablePositionalOptions();

program
  .command('serve')
  .description('run the gateway with a configuration file')
  .option('-c, --config <file>', 'configuration file (YAML or JSON); default $AIRLOCK_CONFIG_FILE')
  .action(async (o: { config?: string }) => {
    const file = o.config ?? process.env.AIRLOCK_CONFIG_FILE;
    if (!file) fail('serve needs a configuration file: -c FILE (or set AIRLOCK_CONFIG_FILE)');
    const cfg = loadConfigFile(file);
    // Several processes (`processes`): this one supervises, each forked one runs the gateway.
    const count = processCount(cfg.processes);
    if (count > 1 && cluster.isPrimary) {
      const log = createLogger(cfg.logLevel);
      await superviseProcesses({ cfg, count, configFile: resolve(file), log, drainMs: drainMsFromEnv(), onReady: announce });
      return;
    }
    const siblings = supervisedProcess();
    const gw = await startGateway(cfg, { process: siblings });
    onSignals(gw, Boolean(siblings));
    if (siblings) return reportReady(gw);
    writeGatewayRecord(cfg.dataDir, gw, resolve(file));
    announce(gw);
  });

program
  .command('start')
  .description('run the gateway with embedded local defaults: a local token issuer, a demo database and a demo policy')
  .option('--data-dir <dir>', 'where local state is kept', DEFAULT_DATA_DIR)
  .addOption(new Option('--pg-port <port>', 'PostgreSQL listener port').default(DEMO_PORTS.postgres).argParser(Number))
  .addOption(new Option('--console-port <port>', 'web console port').default(DEMO_PORTS.console).argParser(Number))
  .addOption(new Option('--issuer-port <port>', 'local token issuer port').default(DEMO_PORTS.issuer).argParser(Number))
  .addOption(new Option('--http-port <port>', 'HTTP gateway port (plain HTTP, local demo)').default(8443).argParser(Number))
  .addOption(new Option('--mcp-port <port>', 'MCP endpoint port (streamable HTTP at /mcp, plain HTTP, local demo)').default(8445).argParser(Number))
  .addOption(
    new Option('--demo-db <engine>', 'demo database: a real PostgreSQL when installed (concurrent sessions), else the embedded PGlite (one transaction at a time)')
      .choices(['auto', 'postgres', 'pglite'])
      .default('auto'),
  )
  .action(async (o: { dataDir: string; pgPort: number; consolePort: number; issuerPort: number; httpPort: number; mcpPort: number; demoDb: DemoEngineChoice }) => {
    const { startDemoTarget } = await import('../demo/demo-target.js');
    const dataDir = resolve(o.dataDir);
    const { db: demo, fallbackReason } = await startDemoTarget(o.demoDb, { host: '127.0.0.1', port: 0 });
    // --- http (issue 30): the demo HTTP API behind the `demo-api` target ---
    const { startDemoApi } = await import('../demo/demo-api.js');
    const api = await startDemoApi({ host: '127.0.0.1', port: 0 });
    // --- end http ---
    const raw = demoConfig(dataDir, { postgres: o.pgPort, console: o.consolePort, issuer: o.issuerPort }, demo, { url: api.url, httpPort: o.httpPort }, o.mcpPort);
    const configPath = join(dataDir, 'config.yaml');
    writeFileSync(configPath, `# Written by \`npm start\`; \`airlock token\` and \`airlock approvals\` read it.\n${toYaml(raw)}`, { mode: 0o600 });
    let gw: RunningGateway;
    try {
      gw = await startGateway(parseConfig(raw), { memorySecrets: { demo: demo.password, 'demo-api': api.apiKey } });
    } catch (err) {
      await demo.close();
      await api.close();
      throw err;
    }
    const closeGateway = gw.close;
    gw.close = async () => {
      await closeGateway();
      await demo.close();
      await api.close();
    };
    writeGatewayRecord(dataDir, gw, configPath);
    onSignals(gw);
    announce(gw);
    const pg = gw.postgres!;
    const engine =
      demo.engine === 'postgres'
        ? 'a throw-away PostgreSQL server: sessions run concurrently'
        : `the embedded PGlite${fallbackReason ? ` (${fallbackReason})` : ''}: one transaction at a time, other sessions wait with a NOTICE`;
    process.stdout.write(`
Airlock is running with a demo database (customers, orders, support tickets, API keys) and policies/demo.cedar.
The demo database is ${engine}.
It is created afresh at each start: changes are gone after Ctrl-C.

  1. Get an access token for the demo agent (client credentials at the local issuer):
       export PGPASSWORD="$(npm run -s airlock -- token --client agent)"
  2. Connect with psql through the gateway:
       psql "host=${pg.host} port=${pg.port} dbname=demo user=agent sslmode=disable"
  3. Try:
       SELECT id, full_name, email FROM customers LIMIT 5; -- allowed
       DELETE FROM orders;                                  -- refused by policy (DELETE without WHERE)
       DROP TABLE customers;                                -- refused by policy

  HTTP API through the gateway (the agent's token replaces the API key it never sees):
       curl -H "Authorization: Bearer $PGPASSWORD" http://127.0.0.1:${gw.http?.port ?? o.httpPort}/demo-api/v1/customers?limit=3   # masked
       curl -H "Authorization: Bearer $PGPASSWORD" http://127.0.0.1:${gw.http?.port ?? o.httpPort}/demo-api/admin                 # refused

  MCP for coding agents (docs/agents.md): ${gw.mcpUrl ?? '(disabled)'} with the token as bearer, or stdio: npx airlock mcp --client agent

  Reviewer console: ${gw.consoleUrl ?? '(disabled)'}  (sign in by pasting the output of: npm run -s airlock -- token --client reviewer)
  Audit trail:      ${join(dataDir, 'audit')}
  Stop with Ctrl-C.
`);
  });

program
  .command('token')
  .description("print an access token from the gateway's local issuer (client credentials)")
  .requiredOption('--client <id>', 'local client id, e.g. agent or reviewer')
  .option('-c, --config <file>', `configuration file (default: $AIRLOCK_CONFIG_FILE, else ${DEFAULT_CONFIG})`)
  .option('--exec-credential', 'print a Kubernetes ExecCredential (client.authentication.k8s.io/v1), for kubeconfig exec plugins')
  .action(async (o: { client: string; config?: string; execCredential?: boolean }) => {
    const configFile = resolveConfig(o.config, true);
    const cfg = loadConfigFile(configFile);
    const local = cfg.identity.localIssuer;
    if (!local) fail(`${configFile} configures no local issuer: get tokens from ${cfg.identity.issuer}`);
    const client = local.clients.find((c) => c.clientId === o.client);
    if (!client) fail(`no local client "${o.client}" (configured: ${local.clients.map((c) => c.clientId).join(', ')})`);
    // The running gateway's record has the issuer's real address (with port 0 it is chosen at start).
    const running = readLiveGatewayRecord(cfg.dataDir);
    if (!running && local.port === 0) {
      fail(`the local issuer of ${configFile} listens on a port chosen at start (port 0), and no running gateway recorded it in ${gatewayRecordPath(cfg.dataDir)}: is the gateway running?`);
    }
    const issuer = running?.issuer ?? cfg.identity.issuer;
    const discovery = await fetch(new URL('.well-known/openid-configuration', issuer.endsWith('/') ? issuer : `${issuer}/`)).catch(() =>
      fail(`the local issuer at ${issuer} is not reachable: is the gateway running with ${configFile}?`),
    );
    const tokenEndpoint = ((await discovery.json()) as { token_endpoint: string }).token_endpoint;
    const audience = Array.isArray(cfg.identity.audience) ? cfg.identity.audience[0]! : cfg.identity.audience;
    const token = await requestClientCredentialsToken({ tokenEndpoint, clientId: client.clientId, clientSecret: client.clientSecret, audience });
    process.stdout.write(o.execCredential ? `${JSON.stringify(execCredential(token))}\n` : `${token}\n`);
  });

program
  .command('kubeconfig')
  .description("print a kubeconfig for a Kubernetes target: the gateway as server, `airlock token` as exec credential plugin")
  .requiredOption('--target <name>', 'the kubernetes target')
  .option('--client <id>', 'local client id whose tokens kubectl uses', 'agent')
  .option('-c, --config <file>', `configuration file (default: $AIRLOCK_CONFIG_FILE, else ${DEFAULT_CONFIG})`)
  .option('--server <url>', "the gateway's Kubernetes listener as agents reach it (default: from the running gateway or the config)")
  .option('--ca-file <pem>', "CA certificate of the listener's TLS certificate, embedded (default: the system's roots)")
  .option('--namespace <ns>', 'default namespace')
  .option('--command <path>', 'the airlock command kubectl runs for tokens', 'airlock')
  .action((o: { target: string; client: string; config?: string; server?: string; caFile?: string; namespace?: string; command: string }) => {
    const configFile = resolve(resolveConfig(o.config, false));
    const cfg = loadConfigFile(configFile);
    const target = cfg.targets.find((t) => t.name === o.target);
    if (!target || target.kind !== 'kubernetes') fail(`no kubernetes target "${o.target}" in ${configFile}`);
    const listener = cfg.listeners.kubernetes;
    if (!listener && !o.server) fail(`${configFile} has no listeners.kubernetes: pass --server`);
    const running = readLiveGatewayRecord(cfg.dataDir);
    const address = running?.kubernetes ?? (listener && { host: listener.host, port: listener.port });
    const server = o.server ?? `${listener?.tls ? 'https' : 'http'}://${address!.host}:${address!.port}`;
    const doc = kubeconfigFor({
      target: o.target,
      server,
      caPem: o.caFile ? readFileSync(o.caFile, 'utf8') : undefined,
      command: o.command,
      args: ['token', '--exec-credential', '--client', o.client, '--config', configFile],
      namespace: o.namespace,
    });
    process.stdout.write(toYaml(doc));
  });

// --- mcp (issue 32): the MCP server over stdio ---
program
  .command('mcp')
  .description("MCP server over stdio for an agent on this machine: tools run through the running gateway's listeners with the agent's token (docs/agents.md)")
  .option('-c, --config <file>', `the gateway's configuration file (default: $AIRLOCK_CONFIG_FILE, else ${DEFAULT_CONFIG})`)
  .option('--client <id>', 'get tokens from the local issuer as this client (default: the token in $AIRLOCK_TOKEN)')
  .action(async (o: { config?: string; client?: string }) => {
    const { mcpStdioCommand } = await import('./mcp-command.js');
    const configFile = resolveConfig(o.config, true);
    await mcpStdioCommand(loadConfigFile(configFile), configFile, o, fail);
  });
// --- end mcp ---

const policy = program.command('policy').description('policy tools');
policy
  .command('check')
  .description('validate Cedar policy sets against the Airlock schema; each file is one policy set (as policy.file loads it)')
  .argument('<files...>', 'policy files (.cedar), e.g. policies/*.cedar')
  .option('--schema <file>', 'schema file (default: the published Airlock schema)')
  .action((files: string[], o: { schema?: string }) => {
    const schema = o.schema ? readFileSync(o.schema, 'utf8') : undefined;
    let failed = 0;
    for (const file of files) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        process.stdout.write(`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
        failed++;
        continue;
      }
      const result = checkPolicy(text, schema);
      for (const w of result.warnings) process.stdout.write(`${file}: warning: ${w}\n`);
      for (const e of result.errors) process.stdout.write(`${file}: error: ${e}\n`);
      process.stdout.write(result.ok ? `${file}: valid\n` : `${file}: ${result.errors.length} error(s)\n`);
      if (!result.ok) failed++;
    }
    if (files.length > 1) process.stdout.write(failed ? `${failed} of ${files.length} files invalid\n` : `all ${files.length} files valid\n`);
    process.exitCode = failed ? 1 : 0;
  });

/** --url, else $AIRLOCK_CONSOLE_URL, else the console of the gateway running with the configuration. */
function consoleUrl(o: { url?: string; config?: string }): string | undefined {
  const given = o.url ?? process.env.AIRLOCK_CONSOLE_URL;
  if (given) return given;
  const configFile = resolveConfig(o.config, true);
  const cfg = loadConfigFile(configFile);
  const running = readLiveGatewayRecord(cfg.dataDir);
  if (running) return running.consoleUrl ?? fail(`the gateway running with ${configFile} has no console (listeners.console)`);
  const c = cfg.listeners.console;
  if (!c) fail(`${configFile} configures no console (listeners.console)`);
  if (c.port === 0) fail(`the console of ${configFile} listens on a port chosen at start (port 0) and no running gateway recorded it: is the gateway running? (or pass --url)`);
  return `${c.tls ? 'https' : 'http'}://${c.host}:${c.port}`;
}

const approvals = program.command('approvals').description('review statements held for approval (talks to the running gateway)');
const approvalOpts = (cmd: Command) =>
  cmd
    .option('--url <url>', 'console URL (default: from the config, or $AIRLOCK_CONSOLE_URL)')
    .option('-c, --config <file>', `the gateway's configuration file, to find its console (default: $AIRLOCK_CONFIG_FILE, else ${DEFAULT_CONFIG})`)
    .option('--token <token>', "reviewer's access token (default: $AIRLOCK_TOKEN)");
approvalOpts(approvals.command('list').description('list the requests waiting for a reviewer').option('--json', 'JSON output')).action(async (o: { url?: string; config?: string; token?: string; json?: boolean }) => {
  process.exitCode = await approvalsList({ url: consoleUrl(o), token: o.token, json: o.json });
});
approvalOpts(
  approvals
    .command('approve')
    .description('let a held statement run (the agent\'s session continues with its result)')
    .argument('<id>', 'request id, from `approvals list`')
    .addOption(
      new Option('--scope <scope>', 'once: this statement; shape: later statements of the same shape by this requester on this target; session: every statement needing approval in this session').choices(['once', 'shape', 'session']).default('once'),
    )
    .option('--minutes <n>', 'for shape/session scope: how long the grant lasts', Number)
    .option('--reason <text>', 'why (kept in the audit trail)'),
).action(async (id: string, o: { url?: string; config?: string; token?: string; scope: string; minutes?: number; reason?: string }) => {
  process.exitCode = await approvalsApprove({
    url: consoleUrl(o),
    token: o.token,
    id,
    scope: o.scope as 'once',
    minutes: o.minutes,
    reason: o.reason,
  } as Parameters<typeof approvalsApprove>[0]);
});
approvalOpts(
  approvals
    .command('deny')
    .description('refuse a held statement: the agent gets an error with your reason; its session stays usable')
    .argument('<id>', 'request id, from `approvals list`')
    .requiredOption('--reason <text>', 'why (shown to the agent, kept in the audit trail)'),
).action(
  async (id: string, o: { url?: string; config?: string; token?: string; reason: string }) => {
    process.exitCode = await approvalsDeny({ url: consoleUrl(o), token: o.token, id, reason: o.reason });
  },
);

// --- tasks (issue 32) ---
const task = program.command('task').description("task-scoped access: ask for it, use its token, see what it did (talks to the running gateway; your own access token in $AIRLOCK_TOKEN)");
approvalOpts(
  task
    .command('open')
    .description('ask for access for one task; prints the task token (use it as PGPASSWORD / SSH password / bearer)')
    .requiredOption('--title <text>', 'what the task is')
    .option('--ticket <id>', 'ticket reference')
    .requiredOption('--targets <a,b>', 'targets the task may open')
    .requiredOption('--scope <list>', 'read, write, write:<table> (comma-separated)')
    .requiredOption('--for <duration>', 'how long, e.g. 2h, 30m')
    .option('--max-rows <n>', 'rows the task may insert/update/delete (enforced: a statement over it is rolled back)', Number)
    .option('--max-rows-returned <n>', 'rows the task may read', Number)
    .option('--max-statements <n>', 'statements the task may run', Number)
    .option('--max-sessions <n>', 'sessions open at once', Number)
    .option('--max-commands <n>', 'SSH commands the task may run', Number)
    .option('--max-requests-per-minute <n>', 'HTTP requests the task may make a minute', Number)
    .option('--reason <text>', 'why, for the reviewer')
    .option('--wait <seconds>', 'wait this long for a reviewer', Number)
    .option('--json', 'JSON output'),
).action(async (o: Parameters<typeof taskOpen>[0] & { config?: string }) => {
  process.exitCode = await taskOpen({ ...o, url: consoleUrl(o) });
});
approvalOpts(task.command('show').description('a task: status, expiry, what it did (statements, refusals, rows), live sessions').argument('<id>').option('--json', 'JSON output').option('--token-only', 'print only a fresh token of an active task')).action(
  async (id: string, o: { url?: string; config?: string; token?: string; json?: boolean; tokenOnly?: boolean }) => {
    process.exitCode = await taskShow({ url: consoleUrl(o), token: o.token, id, json: o.json, tokenOnly: o.tokenOnly });
  },
);
approvalOpts(task.command('close').description('end a task now: its token stops working and its sessions end (task_expired)').argument('<id>').option('--reason <text>', 'why')).action(
  async (id: string, o: { url?: string; config?: string; token?: string; reason?: string }) => {
    process.exitCode = await taskClose({ url: consoleUrl(o), token: o.token, id, reason: o.reason });
  },
);
approvalOpts(task.command('list').description('your tasks (--all: everyone\'s, for reviewers)').option('--all', 'every agent\'s tasks').option('--json', 'JSON output')).action(
  async (o: { url?: string; config?: string; token?: string; all?: boolean; json?: boolean }) => {
    process.exitCode = await taskList({ url: consoleUrl(o), token: o.token, all: o.all, json: o.json });
  },
);
// --- end tasks ---

const auditSource = (cmd: Command) =>
  cmd
    .option('--dir <dir>', 'audit directory (default: <dataDir>/audit of the configuration)')
    .option('--table <name>', "the fleet's AWS audit store: its DynamoDB table (credentials and region from the AWS environment)")
    .option('--bucket <name>', "the AWS audit store's S3 bucket (with --table)")
    .option('--store', 'read the AWS audit store the configuration names (audit.store)')
    .option('-c, --config <file>', `the gateway's configuration file: its dataDir holds the trail (default: $AIRLOCK_CONFIG_FILE, else ${DEFAULT_CONFIG})`);
const sessionFilters = (cmd: Command) =>
  cmd
    .option('--principal <id>', 'only this principal')
    .option('--target <name>', 'only this target')
    .option('--from <time>', 'started at or after (ISO date or time)')
    .option('--to <time>', 'started before')
    .option('--refused-only', 'only sessions with a refusal')
    .option('--limit <n>', 'at most n sessions', Number);
type FilterOpts = AuditSourceFlags & { principal?: string; target?: string; from?: string; to?: string; refusedOnly?: boolean; limit?: number };

/** Runs an audit command against the source the flags name; the source's clients are closed after it. */
async function withAuditSource(o: Omit<AuditSourceFlags, 'config'> & { config?: string }, command: (source: { dir?: string; reader?: AuditReader }) => Promise<number>): Promise<void> {
  let source;
  // --dir, --table/--bucket name the trail themselves; otherwise the configuration does.
  const named = o.dir !== undefined || o.table !== undefined || o.bucket !== undefined;
  const config = o.config ?? (named ? DEFAULT_CONFIG : resolveConfig(undefined, false));
  try {
    source = auditSourceFrom({ ...o, config }, DEFAULT_DATA_DIR);
  } catch (e) {
    if (e instanceof AuditSourceError) fail(e.message);
    throw e;
  }
  try {
    process.exitCode = await command({ dir: source.dir, reader: source.reader });
  } finally {
    source.close();
  }
}

const sessionsCmd = program.command('sessions').description('list recorded sessions').enablePositionalOptions();
sessionFilters(auditSource(sessionsCmd))
  .option('--format <format>', 'table | json', 'table')
  .action((o: FilterOpts & { format: 'table' | 'json' }) => withAuditSource(o, (source) => sessionsCommand({ ...o, ...source }, process.stdout)));
// The kill switch (issue 32): every live session of one principal ends with session_killed.
approvalOpts(sessionsCmd.command('kill').description("end every live session of a principal now (reviewers; the client is told session_killed)").requiredOption('--principal <id>', 'the agent').option('--reason <text>', 'why (audited, shown to the client)')).action(
  async (o: { url?: string; config?: string; token?: string; principal: string; reason?: string }) => {
    process.exitCode = await sessionsKill({ url: consoleUrl(o), token: o.token, principal: o.principal, reason: o.reason });
  },
);
auditSource(program.command('replay').description('show a session as it happened: statements, decisions, approvals, responses').argument('<session>', 'session id'))
  .option('--format <format>', 'text | json', 'text')
  .option('--response-bytes <n>', 'bytes of each response to show (text format)', Number)
  .action((sessionId: string, o: AuditSourceFlags & { format: 'text' | 'json'; responseBytes?: number }) =>
    withAuditSource(o, (source) => replayCommand({ ...source, sessionId, format: o.format, responseBytes: o.responseBytes }, process.stdout)),
  );
const audit = program.command('audit').description('audit trail tools');
auditSource(audit.command('verify').description('check hash chains and signed digests: detects edited, removed or reordered events'))
  .option('--public-key <file...>', 'Ed25519 or P-256 public key(s), PEM, the digests must verify with (default: the local key)')
  .option('--signing-key <kmsKeyArn...>', 'KMS key(s) that signed the fleet\'s digests (the stack\'s AuditSigningKey output); the public key is fetched from KMS')
  .option('--session <id...>', 'only these sessions')
  .option('--from <time>', 'with a store: sessions started at or after (ISO date or time)')
  .option('--to <time>', 'with a store: sessions started before')
  .option('--format <format>', 'text | json', 'text')
  .action((o: AuditSourceFlags & { publicKey?: string[]; signingKey?: string[]; session?: string[]; from?: string; to?: string; format: 'text' | 'json' }) =>
    withAuditSource(o, (source) =>
      auditVerifyCommand({ ...source, publicKeyFiles: o.publicKey, signingKeys: o.signingKey, sessionIds: o.session, from: o.from, to: o.to, format: o.format }, process.stdout),
    ),
  );
sessionFilters(auditSource(audit.command('export').description('every event as JSON lines, for SIEM ingestion'))).action((o: FilterOpts) =>
  withAuditSource(o, (source) => auditExportCommand({ ...o, ...source }, process.stdout)),
);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof ConfigError) fail(err.message);
  fail((err as Error)?.message ?? String(err), 1);
});
