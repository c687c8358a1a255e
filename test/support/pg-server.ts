// Starts a real, throw-away PostgreSQL 15 for integration tests and the benchmark.
// PostgreSQL refuses to run as root, so when we are root the server runs as the `postgres`
// system user (runuser) in a temporary directory that user owns. A watchdog shell outlives a
// crashed test process just long enough to stop the postmaster and remove the directory.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { processAlive as alive } from '../../fargate-proxy/src/process-alive.js';

const execFileAsync = promisify(execFile);

const PG_BIN = process.env.AIRLOCK_PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface RoleCredentials {
  user: string;
  password: string;
}

export interface StartPostgresOptions {
  /** Database created for the roles (owned by the SCRAM role). Default `app`. */
  database?: string;
  /** Password of the SCRAM-SHA-256 role `app`. Default: random. */
  appPassword?: string;
  /** When set, creates role `app_md5` whose stored password and pg_hba method are md5. */
  md5Password?: string;
  /** When set, creates role `app_cleartext` authenticated with the `password` (cleartext) method. */
  cleartextPassword?: string;
  /** Log every statement (`log_statement=all`) to `logFile`. */
  logStatements?: boolean;
  /** Self-signed TLS (`ssl=on`); the certificate is its own CA, exposed as `caFile`. */
  tls?: boolean;
  /** `max_connections`. Default 100. */
  maxConnections?: number;
  /** Extra `postgresql.conf` settings. */
  settings?: Record<string, string | number>;
}

export interface RunningPostgres {
  host: '127.0.0.1';
  port: number;
  database: string;
  /** Trusted superuser access over the unix socket only (never over TCP). */
  superuser: { host: string; port: number; user: 'postgres'; database: string; url: string };
  roles: { app: RoleCredentials; md5?: RoleCredentials; cleartext?: RoleCredentials };
  /** Server log (statements included when `logStatements`). Always present; lines are PostgreSQL's stderr. */
  logFile: string;
  /** CA certificate to verify the server with, when `tls`. */
  caFile?: string;
  /** Postmaster PID, for CPU/memory measurements. */
  pid: number;
  /** Runs SQL as the superuser through psql; resolves with psql's unaligned, tuples-only output. */
  psqlDirect(sql: string, database?: string): Promise<string>;
  stop(): Promise<void>;
}

interface Live {
  dir: string;
  pidFile: string;
  watchdog?: ChildProcess;
}

const live = new Set<Live>();
let exitHooksInstalled = false;

/** Synchronous: runs from process 'exit' and signal handlers. */
function killNow(l: Live): void {
  const pid = readPostmasterPid(l.pidFile);
  if (pid) {
    try {
      process.kill(pid, 'SIGQUIT'); // immediate shutdown: nothing here is worth a checkpoint
    } catch {
      /* already gone */
    }
  }
  l.watchdog?.kill('SIGKILL');
  rmSync(l.dir, { recursive: true, force: true });
  live.delete(l);
}

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', () => {
    for (const l of [...live]) killNow(l);
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      for (const l of [...live]) killNow(l);
      process.kill(process.pid, signal); // listener removed by once(): default action now applies
    });
  }
}

function readPostmasterPid(pidFile: string): number | undefined {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root but there is no postgres system user');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** Quotes a value for postgresql.conf. */
function confValue(v: string | number): string {
  return typeof v === 'number' ? String(v) : `'${v.replace(/'/g, "''")}'`;
}

function sqlLiteral(v: string): string {
  return `'${v.replace(/'/g, "''")}'`;
}

function randomPassword(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(18))).toString('base64url');
}

export async function startPostgres(opts: StartPostgresOptions = {}): Promise<RunningPostgres> {
  installExitHooks();
  const owner = postgresUser();
  const asPostgres = (cmd: string, args: string[]): [string, string[]] =>
    owner ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];

  const dir = mkdtempSync(join(tmpdir(), 'airlock-pg-'));
  const dataDir = join(dir, 'data');
  const sockDir = join(dir, 'sock');
  const l: Live = { dir, pidFile: join(dataDir, 'postmaster.pid') };
  live.add(l);
  try {
    chmodSync(dir, 0o700);
    if (owner) chownSync(dir, owner.uid, owner.gid);
    await run(...asPostgres('mkdir', ['-m', '700', sockDir]));
    await run(
      ...asPostgres(join(PG_BIN, 'initdb'), [
        '-D', dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '--no-instructions',
        '--encoding=UTF8', '--locale=C',
      ]),
    );

    const database = opts.database ?? 'app';
    const roles: RunningPostgres['roles'] = { app: { user: 'app', password: opts.appPassword ?? randomPassword() } };
    if (opts.md5Password !== undefined) roles.md5 = { user: 'app_md5', password: opts.md5Password };
    if (opts.cleartextPassword !== undefined) roles.cleartext = { user: 'app_cleartext', password: opts.cleartextPassword };

    let caFile: string | undefined;
    if (opts.tls) caFile = await makeCertificate(dataDir, asPostgres);

    const logFile = join(dir, 'postgres.log');
    const settings: Record<string, string | number> = {
      listen_addresses: '127.0.0.1',
      unix_socket_directories: sockDir,
      password_encryption: 'scram-sha-256',
      max_connections: opts.maxConnections ?? 100,
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      logging_collector: 'off',
      log_line_prefix: '%m [%p] %q%u@%d ',
      ...(opts.logStatements ? { log_statement: 'all' } : {}),
      ...(caFile ? { ssl: 'on', ssl_cert_file: 'server.crt', ssl_key_file: 'server.key' } : {}),
      ...opts.settings,
    };
    const conf = Object.entries(settings).map(([k, v]) => `${k} = ${confValue(v)}`).join('\n');
    // Appended as root, then handed back: the files stay the postgres user's.
    appendAsOwner(join(dataDir, 'postgresql.conf'), `\n# airlock test server\n${conf}\n`, owner);
    const hba = [
      'local all postgres trust',
      `host all ${roles.app.user} 127.0.0.1/32 scram-sha-256`,
      roles.md5 ? `host all ${roles.md5.user} 127.0.0.1/32 md5` : '',
      roles.cleartext ? `host all ${roles.cleartext.user} 127.0.0.1/32 password` : '',
      'host all all 0.0.0.0/0 reject',
      'host all all ::/0 reject',
    ].filter(Boolean).join('\n');
    writeAsOwner(join(dataDir, 'pg_hba.conf'), `${hba}\n`, owner);

    const { port, pid } = await launch(dataDir, sockDir, logFile, l, asPostgres, owner);
    l.watchdog = startWatchdog(dir, l.pidFile);

    const psql = async (sql: string, db = database): Promise<string> => {
      try {
        const { stdout } = await execFileAsync(
          join(PG_BIN, 'psql'),
          ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', sockDir, '-p', String(port), '-U', 'postgres', '-d', db, '-c', sql],
          { env: { ...process.env, PGPASSWORD: '', PGSSLMODE: 'disable' }, maxBuffer: 64 * 1024 * 1024 },
        );
        return stdout.trim();
      } catch (err) {
        const stderr = (err as { stderr?: string }).stderr ?? String(err);
        throw new Error(`psql failed: ${stderr.trim()}`);
      }
    };

    await psql(`CREATE ROLE ${roles.app.user} LOGIN PASSWORD ${sqlLiteral(roles.app.password)}`, 'postgres');
    if (roles.md5) {
      await psql(`SET password_encryption = 'md5'; CREATE ROLE ${roles.md5.user} LOGIN PASSWORD ${sqlLiteral(roles.md5.password)}`, 'postgres');
    }
    if (roles.cleartext) {
      await psql(`CREATE ROLE ${roles.cleartext.user} LOGIN PASSWORD ${sqlLiteral(roles.cleartext.password)}`, 'postgres');
    }
    if (database !== 'postgres') await psql(`CREATE DATABASE ${database} OWNER ${roles.app.user}`, 'postgres');
    const others = [roles.md5, roles.cleartext].filter((r): r is RoleCredentials => !!r).map((r) => r.user);
    if (others.length) await psql(`GRANT ALL ON SCHEMA public TO ${others.join(', ')}`);

    let stopped: Promise<void> | undefined;
    return {
      host: '127.0.0.1',
      port,
      database,
      superuser: {
        host: sockDir,
        port,
        user: 'postgres',
        database,
        url: `postgresql://postgres@/${database}?host=${encodeURIComponent(sockDir)}&port=${port}`,
      },
      roles,
      logFile,
      caFile,
      pid,
      psqlDirect: psql,
      stop: () => (stopped ??= stop(l, pid)),
    };
  } catch (err) {
    killNow(l);
    throw err;
  }
}

function writeAsOwner(path: string, text: string, owner?: { uid: number; gid: number }): void {
  writeFileSync(path, text);
  if (owner) chownSync(path, owner.uid, owner.gid);
}

function appendAsOwner(path: string, text: string, owner?: { uid: number; gid: number }): void {
  writeAsOwner(path, readFileSync(path, 'utf8') + text, owner);
}

async function run(cmd: string, args: string[]): Promise<void> {
  try {
    await execFileAsync(cmd, args);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.slice(0, 4).join(' ')} failed: ${(e.stderr ?? e.message).trim()}`);
  }
}

async function makeCertificate(
  dataDir: string,
  asPostgres: (cmd: string, args: string[]) => [string, string[]],
): Promise<string> {
  await run(
    ...asPostgres('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', join(dataDir, 'server.key'), '-out', join(dataDir, 'server.crt'), '-days', '2',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ]),
  );
  await run(...asPostgres('chmod', ['600', join(dataDir, 'server.key')]));
  return join(dataDir, 'server.crt');
}

/** Starts the postmaster on a free port, retrying when another process grabbed the port first. */
async function launch(
  dataDir: string,
  sockDir: string,
  logFile: string,
  l: Live,
  asPostgres: (cmd: string, args: string[]) => [string, string[]],
  owner?: { uid: number; gid: number },
): Promise<{ port: number; pid: number }> {
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const fd = openSync(logFile, 'a');
    if (owner) chownSync(logFile, owner.uid, owner.gid);
    const [cmd, args] = asPostgres(join(PG_BIN, 'postgres'), ['-D', dataDir, '-p', String(port)]);
    const child = spawn(cmd, args, { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    child.unref();
    let exited = false;
    child.on('exit', () => (exited = true));
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !exited) {
      if (await ready(sockDir, port)) {
        const pid = readPostmasterPid(l.pidFile);
        if (pid) return { port, pid };
      }
      await new Promise((r) => setTimeout(r, 40));
    }
    const log = readFileSync(logFile, 'utf8').split('\n').slice(-8).join('\n');
    lastError = new Error(`postgres did not start on port ${port}:\n${log}`);
    if (!exited) child.kill('SIGKILL');
    if (!/could not bind|Address already in use/.test(log)) break;
  }
  throw lastError ?? new Error('postgres did not start');
}

async function ready(sockDir: string, port: number): Promise<boolean> {
  try {
    await execFileAsync(join(PG_BIN, 'pg_isready'), ['-q', '-h', sockDir, '-p', String(port), '-U', 'postgres']);
    return true;
  } catch {
    return false;
  }
}

/** Stops the postmaster if this process dies without calling stop() (even on SIGKILL). */
function startWatchdog(dir: string, pidFile: string): ChildProcess {
  const script =
    `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; ` +
    `p=$(head -1 "${pidFile}" 2>/dev/null); [ -n "$p" ] && kill -QUIT "$p" 2>/dev/null; sleep 1; rm -rf "${dir}"`;
  const w = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' });
  w.unref();
  return w;
}

async function stop(l: Live, pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGINT'); // fast shutdown: roll back sessions, checkpoint, exit
  } catch {
    /* already gone */
  }
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && alive(pid)) await new Promise((r) => setTimeout(r, 25));
  if (alive(pid)) process.kill(pid, 'SIGQUIT');
  l.watchdog?.kill('SIGKILL');
  rmSync(l.dir, { recursive: true, force: true });
  live.delete(l);
}

/** Resolves once exactly one backend runs `sql` (its text as sent): a statement a test will cancel is under way. */
export async function waitForActiveQuery(pg: RunningPostgres, sql: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const n = await pg.psqlDirect(`SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query = '${sql}'`);
    if (n.trim() === '1') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`"${sql}" never became active`);
}

/** Connection options for the app role straight to the server over TCP, not through a gateway. */
export function appClientOptions(server: RunningPostgres): pg.ClientConfig {
  return { host: server.host, port: server.port, database: server.database, user: server.roles.app.user, password: server.roles.app.password };
}

/** One query as the app role on a connection of its own, straight to the server: what a test checks or sets up behind the gateway's back. */
export async function queryAsApp(server: RunningPostgres, sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const c = new pg.Client(appClientOptions(server));
  await c.connect();
  try {
    return await c.query(sql, params);
  } finally {
    await c.end();
  }
}
