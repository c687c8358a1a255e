// The demo target behind `npm start`: an embedded PostgreSQL (PGlite, WASM) that needs no
// installation, seeded with a small shop full of personal data, and reachable over TCP with a
// real password login so the gateway's upstream path is exercised as against production.
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { acceptLogin, type PasswordMethod } from './password-login.js';
import { makeScramVerifier } from './scram-server.js';
import { demoSeed } from './seed.js';
import { RelaySession, Turnstile } from './turn-taking-relay.js';

export const DEFAULT_WAIT_LIMIT_MS = 60_000;

export interface DemoDatabaseOptions {
  /** Keep the data here across runs (seeded once). Default: in memory. */
  dataDir?: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Login the database demands. Defaults: user `postgres`, database `postgres`, a random password, SCRAM-SHA-256. */
  user?: string;
  database?: string;
  password?: string;
  authMethod?: PasswordMethod;
  /** Seed PRNG; the same seed gives the same data. */
  seed?: number;
  /** How long a statement may wait for another session's open transaction (PGlite runs one at a time). */
  waitLimitMs?: number;
}

export interface DemoDatabase {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  /** `pglite`: one transaction at a time, the others wait (with a NOTICE); `postgres`: a real server. */
  engine: 'pglite' | 'postgres';
  close(): Promise<void>;
}

// PGlite runs every connection as this one role in this one database, whatever the client asked.
const PGLITE_STARTUP = startupPacket({ user: 'postgres', database: 'postgres' });

export async function startDemoDatabase(opts: DemoDatabaseOptions = {}): Promise<DemoDatabase> {
  const host = opts.host ?? '127.0.0.1';
  const user = opts.user ?? 'postgres';
  const database = opts.database ?? 'postgres';
  const password = opts.password ?? randomBytes(18).toString('base64url');
  const method = opts.authMethod ?? 'scram-sha-256';

  const db = await PGlite.create(opts.dataDir ? { dataDir: opts.dataDir } : {});
  const seeded = await db.query<{ present: boolean }>("select to_regclass('public.customers') is not null as present");
  if (!seeded.rows[0]?.present) await db.exec(demoSeed(opts.seed).sql);

  // PGlite's own socket server listens only on a private unix socket: every TCP client has to
  // pass the password login below first.
  const socketDir = mkdtempSync(join(tmpdir(), 'airlock-demo-'));
  const backendPath = join(socketDir, 'pglite.sock');
  const backend = new PGLiteSocketServer({ db, path: backendPath, maxConnections: 1000 });
  await backend.start();

  const rules = { user, password, database, method };
  const verifier = makeScramVerifier(password);
  const startupReply = await bootStartupReply(backendPath);
  const relay = { startupReply, waitLimitMs: opts.waitLimitMs ?? DEFAULT_WAIT_LIMIT_MS };
  const turnstile = new Turnstile();
  const clients = new Set<Socket>();
  const front: Server = createServer((socket) => {
    clients.add(socket);
    socket.on('close', () => clients.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setNoDelay(true);
    acceptLogin(socket, rules, verifier).then(
      ({ leftover }) => new RelaySession(socket, backendPath, leftover, turnstile, relay),
      () => undefined, // the client was told why; nothing to keep
    );
  });
  await new Promise<void>((resolve, reject) => {
    front.once('error', reject);
    front.listen(opts.port ?? 0, host, () => resolve());
  });
  const address = front.address();
  if (!address || typeof address !== 'object') throw new Error('demo database has no TCP address');

  let closing: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    const stopped = new Promise<void>((resolve) => front.close(() => resolve()));
    for (const s of clients) s.destroy();
    await stopped;
    await backend.stop();
    await db.close();
    rmSync(socketDir, { recursive: true, force: true });
  };
  return { host, port: address.port, database, user, password, engine: 'pglite', close: () => (closing ??= close()) };
}

/** PGlite's reply to a start-up packet (AuthenticationOk, ParameterStatus…, ReadyForQuery), asked once at boot. */
async function bootStartupReply(backendPath: string): Promise<Buffer> {
  const socket = connect(backendPath);
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      socket.once('error', reject);
      socket.once('connect', () => socket.write(PGLITE_STARTUP));
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        const all = Buffer.concat(chunks);
        // Complete once the last message is ReadyForQuery: 'Z', length 5, status.
        if (all.length >= 6 && all[all.length - 6] === 0x5a && all.readInt32BE(all.length - 5) === 5) resolve(all);
      });
      socket.once('close', () => reject(new Error('PGlite closed the connection during start-up')));
    });
  } finally {
    socket.destroy();
  }
}

function startupPacket(params: Record<string, string>): Buffer {
  const body = Buffer.from(Object.entries(params).map(([k, v]) => `${k}\0${v}\0`).join('') + '\0');
  const head = Buffer.alloc(8);
  head.writeInt32BE(body.length + 8, 0);
  head.writeInt32BE(196608, 4);
  return Buffer.concat([head, body]);
}
