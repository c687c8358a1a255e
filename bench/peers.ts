// The things pgbench talks to: PostgreSQL itself, PgBouncer, the bare relay and Airlock.
// Each peer runs as its own process so its CPU time and memory can be read from /proc.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { configSchema } from '../fargate-proxy/src/config/schema.js';
import { compiledScript } from './build.js';
import type { Endpoint } from './pgbench.js';
import type { RunningPostgres } from '../test/support/pg-server.js';

const execFileAsync = promisify(execFile);

export interface Peer {
  name: string;
  endpoint: Endpoint;
  /** Process to measure; absent when the peer is PostgreSQL itself. */
  pid?: number;
  /** What the peer does or lacks that a reader of the results must know (e.g. masking off). */
  note?: string;
  /** Date.now() when the process was spawned: lines profile samples up with what the bench did. */
  spawnedAt?: number;
  /** `pid` supervises the processes that do the work (Airlock with `processes` > 1): count theirs too. */
  countChildren?: boolean;
  stop(): Promise<void>;
}

const ROOT = new URL('..', import.meta.url).pathname;

export function direct(pg: RunningPostgres): Peer {
  return {
    name: 'postgres',
    endpoint: { host: pg.host, port: pg.port, database: pg.database, ...pg.roles.app },
    stop: async () => undefined,
  };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function postgresIds(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const [, , uid, gid] = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'))!.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** PgBouncer in session mode: one server connection per client, like Airlock. */
export async function pgbouncer(pg: RunningPostgres, maxClients: number): Promise<Peer> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-pgbouncer-'));
  const owner = postgresIds();
  const port = await freePort();
  const { user, password } = pg.roles.app;
  const ini = `[databases]
${pg.database} = host=${pg.host} port=${pg.port} dbname=${pg.database}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = ${join(dir, 'userlist.txt')}
pidfile = ${join(dir, 'pgbouncer.pid')}
logfile = ${join(dir, 'pgbouncer.log')}
pool_mode = session
max_client_conn = ${maxClients + 50}
default_pool_size = ${maxClients + 20}
; Server connections left idle by one scenario must not hold PostgreSQL's slots through the next.
server_idle_timeout = 2
`;
  writeFileSync(join(dir, 'pgbouncer.ini'), ini);
  writeFileSync(join(dir, 'userlist.txt'), `"${user}" "${password}"\n`, { mode: 0o600 });
  if (owner) for (const f of ['', 'pgbouncer.ini', 'userlist.txt']) chownSync(join(dir, f), owner.uid, owner.gid);
  // Each session holds a client and a server descriptor: the usual soft limit of 1024 stops PgBouncer
  // near 500 sessions ("accept() failed: Too many open files"), so raise it for the idle-session probe.
  const files = 2 * maxClients + 200;
  const start = `ulimit -n ${files} && exec pgbouncer "$0"`;
  const [cmd, args] = owner
    ? ['runuser', ['-u', 'postgres', '--', 'sh', '-c', start, join(dir, 'pgbouncer.ini')]]
    : ['sh', ['-c', start, join(dir, 'pgbouncer.ini')]];
  const child = spawn(cmd, args, { stdio: 'ignore' });
  await waitForPort(port, 10_000);
  const pid = Number(readFileSync(join(dir, 'pgbouncer.pid'), 'utf8').trim());
  return {
    name: 'pgbouncer',
    endpoint: { host: '127.0.0.1', port, database: pg.database, user, password },
    pid,
    stop: async () => {
      try {
        process.kill(pid, 'SIGINT');
      } catch {
        /* gone */
      }
      await exited(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Spawns a repository program, compiled as deployed (bench/build.ts), and resolves with the port it announces on stdout. */
function spawnAnnouncing(script: string, args: string[], pattern: RegExp, timeoutMs: number, env: NodeJS.ProcessEnv = process.env, nodeArgs: string[] = []): Promise<{ child: ChildProcess; port: number; spawnedAt: number }> {
  const spawnedAt = Date.now();
  const child = spawn(process.execPath, [...nodeArgs, compiledScript(script), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, NODE_ENV: 'production' } });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not announce a port within ${timeoutMs} ms: ${output.slice(-400)}`));
    }, timeoutMs);
    const onData = (d: Buffer): void => {
      output += d.toString();
      const m = pattern.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), spawnedAt });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited (${code}): ${output.split('\n').find((l) => /Error/.test(l)) ?? output.slice(-400)}`));
    });
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited(child);
  clearTimeout(timer);
}

export async function relay(pg: RunningPostgres): Promise<Peer> {
  const { child, port } = await spawnAnnouncing('bench/relay.ts', ['--upstream', `${pg.host}:${pg.port}`], /relay listening on 127\.0\.0\.1:(\d+)/, 30_000);
  return {
    name: 'node-relay',
    endpoint: { host: '127.0.0.1', port, database: pg.database, ...pg.roles.app },
    pid: child.pid!,
    stop: () => stopChild(child),
  };
}

export type AirlockMode = 'full' | 'pass-through';

// Every action permitted for the bench principal, unmasked results included: measures the
// gateway's fixed costs (token check, parsing, inspection, one policy call, audit).
const PASS_THROUGH_POLICY = `@id("bench-permit-all")
permit (principal in Airlock::Group::"bench", action, resource == Airlock::Target::"bench");
`;
// A realistic policy: reads and writes allowed, schema changes held for approval, destructive,
// privileged and uninspectable statements forbidden, results masked (no view_unmasked permit).
const FULL_POLICY = `@id("bench-connect")
permit (principal in Airlock::Group::"bench", action == Airlock::Action::"connect", resource == Airlock::Target::"bench");

@id("bench-read-write")
permit (
  principal in Airlock::Group::"bench",
  action in [Airlock::Action::"read", Airlock::Action::"write"],
  resource == Airlock::Target::"bench"
);

@id("bench-no-unbounded-dml")
forbid (principal, action == Airlock::Action::"write", resource) when { context.dmlWithoutWhere };

@id("bench-ddl-approval")
@approval("required")
permit (principal in Airlock::Group::"bench", action == Airlock::Action::"ddl", resource == Airlock::Target::"bench");

@id("bench-no-destructive")
forbid (
  principal,
  action in [Airlock::Action::"destructive", Airlock::Action::"privileged", Airlock::Action::"opaque", Airlock::Action::"function_call"],
  resource
);
`;

/**
 * Whether the gateway's configuration validates a masking section (and so, presumably, applies it).
 * Until it does, `masking` is an unchecked placeholder and the key is left out of the bench config.
 */
function maskingConfigured(config: object): boolean {
  return !configSchema.safeParse({ ...config, masking: { enabled: true, noSuchMaskingKey: true } }).success;
}

/**
 * Airlock as a child process, configured from the schema in fargate-proxy/src/config/schema.ts.
 * The upstream password reaches it through the environment, never the config file. `nodeArgs`
 * go to node itself (the profiler passes `--cpu-prof`).
 */
export async function airlock(pg: RunningPostgres, mode: AirlockMode, nodeArgs: string[] = [], processes = 1): Promise<Peer> {
  const dir = mkdtempSync(join(tmpdir(), `airlock-bench-${mode}-`));
  const config = {
    ...(await benchConfigBase(dir, mode === 'full' ? FULL_POLICY : PASS_THROUGH_POLICY, ['bench'])),
    // Several gateway processes on one listener (`--processes N`; the peer is then airlock-<mode>-pN).
    ...(processes > 1 ? { processes } : {}),
    listeners: { postgres: { host: '127.0.0.1', port: 0, allowPlaintext: true } },
    targets: [
      { name: 'bench', kind: 'postgres', environment: 'bench', host: pg.host, port: pg.port, database: pg.database, user: pg.roles.app.user, credential: 'env:AIRLOCK_BENCH_PG_PASSWORD', tls: { mode: 'disable' } },
    ],
  };
  // Full mode masks as in production (every detector on, plus a column rule) once the gateway
  // understands masking; pass-through permits view_unmasked, so it never masks.
  const masking = mode === 'full' && maskingConfigured(config);
  if (masking) Object.assign(config, { masking: { enabled: true, columnRules: [{ pattern: 'filler', style: 'redact' }] } });
  const gw = await serveAirlock(dir, config, { AIRLOCK_BENCH_PG_PASSWORD: pg.roles.app.password }, 'postgres', nodeArgs);
  return {
    name: processes > 1 ? `airlock-${mode}-p${processes}` : `airlock-${mode}`,
    endpoint: { host: '127.0.0.1', port: gw.port, database: 'bench', user: 'bench-agent', password: gw.token },
    pid: gw.pid,
    countChildren: processes > 1,
    spawnedAt: gw.spawnedAt,
    note:
      processes > 1
        ? "CPU counts the supervisor and its processes; memory figures (peak RSS, per idle session) are the supervisor's alone"
        : mode === 'full' && !masking
          ? 'masking not measured: the configuration schema does not validate a masking section yet'
          : undefined,
    stop: gw.stop,
  };
}

/**
 * What every bench gateway's configuration shares: state under `dir`, the embedded issuer on a free
 * port with one client `bench` in `groups`, and `policy` (Cedar text, written to `dir`).
 */
export async function benchConfigBase(dir: string, policy: string, groups: string[]): Promise<object> {
  const issuerPort = await freePort();
  const clientSecret = `bench-secret-${Math.random().toString(36).slice(2)}-0123456789`;
  writeFileSync(join(dir, 'policy.cedar'), policy);
  return {
    dataDir: join(dir, 'state'),
    logLevel: 'warn',
    identity: {
      issuer: `http://127.0.0.1:${issuerPort}`,
      audience: 'urn:airlock',
      // One token serves the whole run, and a full run lasts over an hour: with the default 1 h
      // lifetime every login after it was refused (the full runs' idle-session probes opened 0).
      localIssuer: { port: issuerPort, accessTokenTtlSeconds: 6 * 3600, clients: [{ clientId: 'bench', clientSecret, groups }] },
    },
    policy: { file: join(dir, 'policy.cedar') },
  };
}

export interface ServedAirlock {
  /** The port the named listener announced. */
  port: number;
  pid: number;
  spawnedAt: number;
  /** An access token of the local issuer's client `bench`. */
  token: string;
  /** Stops the gateway and removes `dir`. */
  stop(): Promise<void>;
}

/**
 * `airlock serve` with `config` (written to `dir`, removed on stop or failure), compiled as deployed;
 * resolves once `listener` announces its port and a token of client `bench` was issued. `secrets`
 * reach the gateway through its environment only.
 */
export async function serveAirlock(dir: string, config: object, secrets: Record<string, string>, listener: 'postgres' | 'ssh', nodeArgs: string[] = []): Promise<ServedAirlock> {
  const configFile = join(dir, 'airlock.yaml');
  writeFileSync(configFile, stringify(config));
  const env = { ...process.env, ...secrets };
  let child: ChildProcess | undefined;
  try {
    const started = await spawnAnnouncing('fargate-proxy/src/cli/main.ts', ['serve', '--config', configFile], new RegExp(`airlock: ${listener} listening on 127\\.0\\.0\\.1:(\\d+)`), 60_000, env, nodeArgs);
    child = started.child;
    const { stdout } = await execFileAsync(process.execPath, [compiledScript('fargate-proxy/src/cli/main.ts'), 'token', '--config', configFile, '--client', 'bench'], { cwd: ROOT, env, timeout: 60_000 });
    const c = child;
    return {
      port: started.port,
      pid: c.pid!,
      spawnedAt: started.spawnedAt,
      token: stdout.trim().split('\n').at(-1) ?? '',
      stop: async () => {
        await stopChild(c);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    if (child) await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
