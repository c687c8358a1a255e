// The demo target on a real PostgreSQL server, when one is installed: concurrent sessions, real
// locks and the real server's behaviour, in a throw-away cluster that lives as long as `npm start`.
// PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` system user.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { DemoDatabase } from './demo-database.js';
import { demoSeed } from './seed.js';
import { processAlive as alive } from '../process-alive.js';

export interface DemoPostgresOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Where `initdb` and `postgres` live. Default: $AIRLOCK_PG_BIN, else the newest /usr/lib/postgresql/N/bin, else `pg_config --bindir`. */
  binDir?: string;
  seed?: number;
}

const DEMO_ROLE = 'shop';
const DEMO_DATABASE = 'shop';
const READY_WITHIN_MS = 30_000;

/** The directory holding `initdb` and `postgres`, or undefined when PostgreSQL is not installed. */
export function findPostgresBin(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const has = (dir: string) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres'));
  if (env.AIRLOCK_PG_BIN) return has(env.AIRLOCK_PG_BIN) ? env.AIRLOCK_PG_BIN : undefined;
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (has(join(debian, v, 'bin'))) return join(debian, v, 'bin');
  }
  const pgConfig = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  const dir = pgConfig.status === 0 ? pgConfig.stdout.trim() : '';
  return dir && has(dir) ? dir : undefined;
}

/** As root, the uid/gid of the `postgres` system user (PostgreSQL will not run as root). */
function postgresOwner(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root and there is no `postgres` system user to run PostgreSQL as');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer().on('error', reject);
    srv.listen(0, host, () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

function postmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export async function startDemoPostgres(opts: DemoPostgresOptions = {}): Promise<DemoDatabase> {
  const bin = opts.binDir ?? findPostgresBin();
  if (!bin) throw new Error('PostgreSQL is not installed (no initdb/postgres found)');
  const host = opts.host ?? '127.0.0.1';
  const owner = postgresOwner();
  const as = (cmd: string, args: string[]): [string, string[]] => (owner ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args]);
  const superPassword = randomBytes(18).toString('base64url');
  const password = randomBytes(18).toString('base64url');

  const dir = mkdtempSync(join(tmpdir(), 'airlock-demo-pg-'));
  const dataDir = join(dir, 'data');
  let postmaster: ChildProcess | undefined;
  let watchdog: ChildProcess | undefined;
  const removeNow = () => {
    const pid = postmasterPid(dataDir);
    if (pid) {
      try {
        process.kill(pid, 'SIGQUIT');
      } catch {
        /* gone */
      }
    }
    watchdog?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', removeNow);
  try {
    if (owner) chownSync(dir, owner.uid, owner.gid);
    const pwfile = join(dir, 'pwfile');
    writeFileSync(pwfile, `${superPassword}\n`, { mode: 0o600 });
    if (owner) chownSync(pwfile, owner.uid, owner.gid);
    const init = spawnSync(
      ...as(join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', `--pwfile=${pwfile}`, '--auth-local=peer', '--auth-host=scram-sha-256', '--no-sync', '--no-instructions', '--encoding=UTF8', '--locale=C']),
      { encoding: 'utf8' },
    );
    rmSync(pwfile);
    if (init.status !== 0) throw new Error(`initdb failed: ${(init.stderr || init.error?.message || '').trim()}`);

    let port = opts.port ?? 0;
    for (let attempt = 0; ; attempt++) {
      const listenPort = port || (await freePort(host));
      const [cmd, args] = as(join(bin, 'postgres'), [
        '-D', dataDir, '-p', String(listenPort), '-c', `listen_addresses=${host}`, '-c', `unix_socket_directories=${dir}`,
        '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'logging_collector=off',
      ]);
      // Its own process group: the terminal's Ctrl-C goes to the gateway, which drains first and stops the server after.
      postmaster = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
      let log = '';
      postmaster.stderr!.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-4000)));
      const ok = await whenReady({ host, port: listenPort, user: 'postgres', password: superPassword, database: 'postgres' }, postmaster);
      if (ok) {
        port = listenPort;
        break;
      }
      postmaster.kill('SIGKILL');
      if (opts.port || attempt >= 3 || !/could not bind|already in use/i.test(log)) throw new Error(`postgres did not start: ${log.trim().split('\n').slice(-3).join(' | ')}`);
    }
    postmaster.stderr!.resume();
    postmaster.unref();
    (postmaster.stderr as unknown as { unref?: () => void }).unref?.();
    watchdog = startWatchdog(dir, dataDir);

    // The demo data belongs to an ordinary role: the gateway's upstream login is not a superuser
    // (a superuser could, say, run programs on this machine through COPY … PROGRAM).
    const admin = new pg.Client({ host, port, user: 'postgres', password: superPassword, database: 'postgres' });
    await admin.connect();
    try {
      await admin.query(`CREATE ROLE ${DEMO_ROLE} LOGIN PASSWORD '${password}'`);
      await admin.query(`CREATE DATABASE ${DEMO_DATABASE} OWNER ${DEMO_ROLE}`);
    } finally {
      await admin.end();
    }
    const shop = new pg.Client({ host, port, user: DEMO_ROLE, password, database: DEMO_DATABASE });
    await shop.connect();
    try {
      await shop.query(demoSeed(opts.seed).sql);
    } finally {
      await shop.end();
    }

    let closing: Promise<void> | undefined;
    const close = async () => {
      const pid = postmasterPid(dataDir);
      if (pid) {
        try {
          process.kill(pid, 'SIGINT'); // fast shutdown: roll back open transactions, exit
        } catch {
          /* gone */
        }
        const deadline = Date.now() + 10_000;
        while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      }
      process.removeListener('exit', removeNow);
      removeNow();
    };
    return { host, port, database: DEMO_DATABASE, user: DEMO_ROLE, password, engine: 'postgres', close: () => (closing ??= close()) };
  } catch (err) {
    postmaster?.kill('SIGKILL');
    process.removeListener('exit', removeNow);
    removeNow();
    throw err;
  }
}

/** Resolves true once the server accepts a login, false if it exits or does not come up in time. */
async function whenReady(login: pg.ClientConfig, child: ChildProcess): Promise<boolean> {
  let exited = child.exitCode !== null;
  child.once('exit', () => (exited = true));
  const deadline = Date.now() + READY_WITHIN_MS;
  while (!exited && Date.now() < deadline) {
    const c = new pg.Client({ ...login, connectionTimeoutMillis: 1000 });
    c.on('error', () => undefined);
    try {
      await c.connect();
      await c.end();
      return true;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return false;
}

/** Stops the server and removes its files if this process dies without closing it (even SIGKILL). */
function startWatchdog(dir: string, dataDir: string): ChildProcess {
  const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; p=$(head -1 "${join(dataDir, 'postmaster.pid')}" 2>/dev/null); [ -n "$p" ] && kill -QUIT "$p"; sleep 1; rm -rf "${dir}"`;
  const w = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' });
  w.unref();
  return w;
}
