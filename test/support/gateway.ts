// Starts a real Airlock gateway in front of a real PostgreSQL for integration tests: random
// loopback ports, a temporary data directory, the embedded issuer, and a policy written per test.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import net from 'node:net';
import pino from 'pino';
import { parseConfig } from '../../fargate-proxy/src/config/load.js';
import { startGateway, type RunningGateway } from '../../fargate-proxy/src/gateway.js';
import { requestClientCredentialsToken } from '../../fargate-proxy/src/adapters/local/oidc-issuer.js';
import type { RunningPostgres } from './pg-server.js';

export const AGENT = { clientId: 'agent-1', clientSecret: 'agent-1-secret-0123456789', groups: ['agents'] };
export const OTHER_AGENT = { clientId: 'agent-2', clientSecret: 'agent-2-secret-0123456789', groups: ['agents'] };
export const OUTSIDER = { clientId: 'outsider', clientSecret: 'outsider-secret-0123456789', groups: ['contractors'] };
export const REVIEWER = { clientId: 'reviewer', clientSecret: 'reviewer-secret-0123456789', groups: ['reviewers'] };
export const AUDIENCE = 'urn:airlock';

/** Reads allowed, writes allowed except with no WHERE, DDL needs approval, the rest forbidden. */
export const TEST_POLICY = `
@id("agents-connect")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"connect", resource);
@id("agents-read")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"read", resource);
@id("agents-write")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"write", resource);
@id("no-unbounded-dml")
@reason("UPDATE and DELETE need a WHERE clause")
forbid (principal, action == Airlock::Action::"write", resource) when { context.dmlWithoutWhere };
@id("ddl-needs-approval")
@approval("required")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"ddl", resource);
@id("no-destructive")
@reason("dropping or truncating data is not allowed for agents")
forbid (principal, action == Airlock::Action::"destructive", resource);
@id("no-privileged")
@reason("role, permission and server-level changes are not allowed")
forbid (principal, action == Airlock::Action::"privileged", resource);
`;

export interface TestGateway {
  gw: RunningGateway;
  dir: string;
  port: number;
  policyFile: string;
  token(client?: { clientId: string; clientSecret: string }): Promise<string>;
  /** libpq connection string through the gateway, without the password (psql() passes the token in PGPASSWORD). */
  conninfo(extra?: string): string;
  /** Connection options for `pg` through the gateway. */
  pgOptions(token: string): { host: string; port: number; database: string; user: string; password: string };
  stop(): Promise<void>;
}

export interface TestGatewayOptions {
  targets?: Record<string, unknown>[];
  policy?: string;
  config?: (raw: Record<string, unknown>) => void;
  memorySecrets?: Record<string, string>;
}

export function pgTarget(pg: RunningPostgres, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  process.env.AIRLOCK_TEST_PG_PASSWORD = pg.roles.app.password;
  return {
    name: 'app',
    kind: 'postgres',
    environment: 'test',
    host: pg.host,
    port: pg.port,
    database: pg.database,
    user: pg.roles.app.user,
    credential: 'env:AIRLOCK_TEST_PG_PASSWORD',
    tls: { mode: 'disable' },
    ...overrides,
  };
}

export async function startTestGateway(pg: RunningPostgres | undefined, opts: TestGatewayOptions = {}): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-test-'));
  const policyFile = join(dir, 'policy.cedar');
  writeFileSync(policyFile, opts.policy ?? TEST_POLICY);
  const raw: Record<string, unknown> = {
    dataDir: join(dir, 'data'),
    logLevel: 'silent',
    listeners: { postgres: { host: '127.0.0.1', port: 0, allowPlaintext: true } },
    identity: {
      issuer: 'http://127.0.0.1',
      audience: AUDIENCE,
      localIssuer: { port: 0, clients: [AGENT, OTHER_AGENT, OUTSIDER, REVIEWER] },
    },
    targets: opts.targets ?? [pgTarget(pg!)],
    policy: { file: policyFile },
  };
  opts.config?.(raw);
  const gw = await startGateway(parseConfig(raw), { log: pino({ level: 'silent' }), memorySecrets: opts.memorySecrets });
  const port = gw.postgres!.port;
  return {
    gw,
    dir,
    port,
    policyFile,
    token: (client = AGENT) => requestClientCredentialsToken({ tokenEndpoint: gw.tokenEndpoint!, clientId: client.clientId, clientSecret: client.clientSecret, audience: AUDIENCE }),
    conninfo: (extra = '') => `host=127.0.0.1 port=${port} dbname=app user=agent sslmode=disable connect_timeout=10 ${extra}`,
    pgOptions: (token) => ({ host: '127.0.0.1', port, database: 'app', user: 'agent', password: token }),
    stop: async () => {
      await gw.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface PsqlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real psql; the token goes in PGPASSWORD so it never appears in a process listing. */
export function psql(conninfo: string, args: string[], o: { token?: string; input?: string; env?: Record<string, string> } = {}): Promise<PsqlResult> {
  const env: Record<string, string> = { ...o.env };
  if (o.token !== undefined) env.PGPASSWORD = o.token;
  const input = o.input;
  return new Promise((resolve, reject) => {
    const child = spawn('psql', [conninfo, '-X', '-v', 'ON_ERROR_STOP=0', ...args], {
      env: { ...process.env, PGCONNECT_TIMEOUT: '10', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/**
 * psql on one statement that policy holds for a reviewer: `requestId` resolves from the gateway's
 * NOTICE ("request <id> is waiting for a reviewer"), `done` with psql's result once it is decided.
 */
export function heldPsql(conninfo: string, sql: string, token: string): { requestId: Promise<string>; done: Promise<PsqlResult>; kill(): void } {
  const child = spawn('psql', [conninfo, '-X', '-c', sql], { env: { ...process.env, PGPASSWORD: token } });
  let stdout = '';
  let stderr = '';
  let found: (id: string) => void;
  const requestId = new Promise<string>((resolve) => (found = resolve));
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => {
    stderr += d;
    const m = /request (\S+) is waiting for a reviewer/.exec(stderr);
    if (m) found(m[1]!);
  });
  const done = new Promise<PsqlResult>((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr })));
  return { requestId, done, kill: () => child.kill('SIGKILL') };
}

/** Sends a CancelRequest for the session holding this key, as libpq does: on a new connection. */
export function sendCancel(port: number, key: { processID: number; secretKey: number }): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      const b = Buffer.alloc(16);
      b.writeInt32BE(16, 0);
      b.writeInt32BE(80877102, 4);
      b.writeInt32BE(key.processID, 8);
      b.writeInt32BE(key.secretKey, 12);
      s.end(b);
    });
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });
}

/** A transparent TCP tap in front of the gateway that keeps every byte sent to the client. */
export async function startTap(gatewayPort: number): Promise<{ port: number; received(): Buffer; close(): void }> {
  const chunks: Buffer[] = [];
  const tap = net.createServer((client) => {
    const upstream = net.connect(gatewayPort, '127.0.0.1');
    client.pipe(upstream);
    upstream.on('data', (d: Buffer) => chunks.push(d));
    upstream.pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((r) => tap.listen(0, '127.0.0.1', () => r()));
  return { port: (tap.address() as net.AddressInfo).port, received: () => Buffer.concat(chunks), close: () => tap.close() };
}
