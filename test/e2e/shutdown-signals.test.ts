// Ctrl-C and SIGTERM on a real `airlock start` process: shutdown is bounded and every session it
// meets — logging in, held for approval, or admitted while draining — ends with an audit record.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createLocalAuditReader } from '../../fargate-proxy/src/adapters/local/audit-file-reader.js';
import { requestClientCredentialsToken } from '../../fargate-proxy/src/adapters/local/oidc-issuer.js';

const dirs: string[] = [];
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Started {
  child: ChildProcess;
  dir: string;
  pgPort: number;
  token: string;
  exited: Promise<{ code: number | null; at: number }>;
}

async function startGateway(env: NodeJS.ProcessEnv = {}): Promise<Started> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-signals-'));
  dirs.push(dir);
  // Port 0 everywhere, the real ports read back from <dataDir>/gateway.json: a port picked free here
  // could be taken by another test's process before the gateway binds it.
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'fargate-proxy/src/cli/main.ts', 'start', '--demo-db', 'postgres', '--data-dir', dir, '--pg-port', '0', '--console-port', '0', '--issuer-port', '0', '--http-port', '0', '--mcp-port', '0'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } },
  );
  children.push(child);
  const exited = new Promise<{ code: number | null; at: number }>((r) => child.once('exit', (code) => r({ code, at: Date.now() })));
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      stdout += d;
      if (stdout.includes('Stop with Ctrl-C')) resolve();
    });
    void exited.then(({ code }) => reject(new Error(`airlock start exited (${code}): ${stderr.slice(-2000)}`)));
  });
  const record = JSON.parse(readFileSync(join(dir, 'gateway.json'), 'utf8')) as { tokenEndpoint: string; postgres: { port: number } };
  const pgPort = record.postgres.port;
  // The token straight from the local issuer (what `airlock token` does; the quickstart test runs the CLI).
  const secrets = JSON.parse(readFileSync(join(dir, 'local-clients.json'), 'utf8')) as { agent: string };
  const token = await requestClientCredentialsToken({ tokenEndpoint: record.tokenEndpoint, clientId: 'agent', clientSecret: secrets.agent, audience: 'urn:airlock' });
  return { child, dir, pgPort, token, exited };
}

/** A client that logs in by hand, so a test can stop between the start-up packet and the password. */
class RawClient {
  readonly socket: net.Socket;
  private buffered = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  closed = false;

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('data', (d: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, d]);
      this.waiters.splice(0).forEach((w) => w());
    });
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => {
      this.closed = true;
      this.waiters.splice(0).forEach((w) => w());
    });
  }

  startup(params: Record<string, string>): void {
    const body = Buffer.from(Object.entries(params).map(([k, v]) => `${k}\0${v}\0`).join('') + '\0');
    const head = Buffer.alloc(8);
    head.writeInt32BE(body.length + 8, 0);
    head.writeInt32BE(196608, 4);
    this.socket.write(Buffer.concat([head, body]));
  }

  password(token: string): void {
    const body = Buffer.from(`${token}\0`);
    const head = Buffer.alloc(5);
    head.write('p');
    head.writeInt32BE(body.length + 4, 1);
    this.socket.write(Buffer.concat([head, body]));
  }

  /** The next backend message, or undefined once the connection is closed. */
  async message(): Promise<{ type: string; fields: Map<string, string> } | undefined> {
    for (;;) {
      if (this.buffered.length >= 5) {
        const len = this.buffered.readInt32BE(1);
        if (this.buffered.length >= len + 1) {
          const type = String.fromCharCode(this.buffered[0]!);
          const body = this.buffered.subarray(5, len + 1);
          this.buffered = this.buffered.subarray(len + 1);
          const fields = new Map<string, string>();
          if (type === 'E' || type === 'N') {
            for (const f of body.toString('utf8').split('\0').filter(Boolean)) fields.set(f[0]!, f.slice(1));
          }
          return { type, fields };
        }
      }
      if (this.closed) return undefined;
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  async error(): Promise<Map<string, string> | undefined> {
    for (;;) {
      const m = await this.message();
      if (!m) return undefined;
      if (m.type === 'E') return m.fields;
    }
  }
}

async function auditTypes(dir: string): Promise<{ type: string; code?: string; reason?: string; sessionId: string }[]> {
  const reader = createLocalAuditReader(join(dir, 'audit'));
  const out = [];
  for (const id of await reader.sessionIds()) {
    for (const e of (await reader.readSession(id)) ?? []) if ('type' in e) out.push(e as unknown as { type: string; code?: string; reason?: string; sessionId: string });
  }
  return out;
}

// Each test has its own gateway process: they run side by side.
describe('signals', { concurrency: true }, () => {
  test('Ctrl-C while a client is logging in: the login is refused with FATAL, audited, and the process exits at once', { timeout: 90_000 }, async () => {
    const gw = await startGateway();
    const raw = new RawClient(gw.pgPort);
    raw.startup({ user: 'agent', database: 'demo' });
    const ask = await raw.message();
    assert.equal(ask?.type, 'R', 'the gateway asks for the password');
    const signalled = Date.now();
    gw.child.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 300));
    raw.password(gw.token); // the login completes after the shutdown began
    const err = await raw.error();
    assert.ok(err, 'the client is told why before the connection closes');
    assert.match(err.get('C')!, /^57P0[13]$/);
    assert.equal(err.get('S'), 'FATAL');
    const { code, at } = await gw.exited;
    assert.equal(code, 0);
    assert.ok(at - signalled < 10_000, `exit took ${at - signalled} ms`);
    const events = await auditTypes(gw.dir);
    const refused = events.filter((e) => e.type === 'auth.refused');
    assert.equal(refused.length, 1, JSON.stringify(events));
    assert.equal(refused[0]!.code, 'shutting_down');
    assert.equal(events.filter((e) => e.type === 'session.start').length, 0, 'no session was admitted after the shutdown began');
  });

  test('Ctrl-C while a statement waits for approval: the session ends with FATAL and session.end, and the process exits', { timeout: 90_000 }, async () => {
    const gw = await startGateway();
    const client = new pg.Client({ host: '127.0.0.1', port: gw.pgPort, database: 'demo', user: 'agent', password: gw.token, ssl: false });
    client.on('error', () => undefined);
    await client.connect();
    const held = new Promise<void>((r) => client.once('notice', () => r()));
    const statement = client.query('CREATE TABLE scratch (id int)').then(
      () => assert.fail('the held statement must not run'),
      (e: pg.DatabaseError) => e,
    );
    await held;
    const signalled = Date.now();
    gw.child.kill('SIGINT');
    const e = await statement;
    assert.match(String(e.code ?? e.message), /57P01|terminated|Connection terminated/);
    const { code, at } = await gw.exited;
    assert.equal(code, 0);
    assert.ok(at - signalled < 10_000, `exit took ${at - signalled} ms`);
    const events = await auditTypes(gw.dir);
    const ends = events.filter((x) => x.type === 'session.end');
    assert.equal(ends.length, 1, JSON.stringify(events.map((x) => x.type)));
    assert.match(ends[0]!.reason!, /shutting down/);
  });

  test('SIGTERM drains: a login that completes while draining is refused with 57P03, the live session carries on', { timeout: 90_000 }, async () => {
    const gw = await startGateway({ AIRLOCK_DRAIN_SECONDS: '20' });
    const live = new pg.Client({ host: '127.0.0.1', port: gw.pgPort, database: 'demo', user: 'agent', password: gw.token, ssl: false });
    await live.connect();
    const raw = new RawClient(gw.pgPort);
    raw.startup({ user: 'agent', database: 'demo' });
    assert.equal((await raw.message())?.type, 'R');
    gw.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    raw.password(gw.token);
    const err = await raw.error();
    assert.equal(err?.get('C'), '57P03');
    assert.equal((await live.query('SELECT 1 AS n')).rows[0].n, 1);
    const ended = Date.now();
    await live.end();
    const { code, at } = await gw.exited;
    assert.equal(code, 0);
    assert.ok(at - ended < 5_000, 'the drain ends with the last session');
    const events = await auditTypes(gw.dir);
    assert.equal(events.filter((x) => x.type === 'auth.refused' && x.code === 'shutting_down').length, 1);
    assert.equal(events.filter((x) => x.type === 'session.end').length, 1);
  });
});
