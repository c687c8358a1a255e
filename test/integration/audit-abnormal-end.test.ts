// Sessions that end abnormally through the real gateway — a query over the size limit, an invalid
// protocol byte after login, a gateway shutdown while a statement waits for approval — leave a
// trail that verifies: one chain per session, from seq 1 to its session.end.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { rmSync } from 'node:fs';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { Parser } from 'pg-protocol/dist/parser.js';
import { startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { auditDirOf, expectAuditVerifies } from '../support/audit-trail.js';
import { createLocalAuditReader } from '../../fargate-proxy/src/adapters/local/audit-file-reader.js';
import type { AuditRecord } from '../../core/audit/events.js';

let server: RunningPostgres;
before(async () => {
  server = await startPostgres();
});
after(async () => server?.stop());

const withLimit = (raw: Record<string, unknown>) => {
  (raw.listeners as { postgres: Record<string, unknown> }).postgres.maxMessageBytes = 4096;
};

/** Logs in over a raw socket (cleartext token) and resolves at the first ReadyForQuery. */
async function rawSession(gw: TestGateway): Promise<net.Socket> {
  const token = await gw.token();
  const s = net.connect(gw.port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    const parser = new Parser();
    const onData = (d: Buffer) =>
      parser.parse(d, (m) => {
        if (m.name === 'authenticationCleartextPassword') s.write(serialize.password(token));
        else if (m.name === 'error') reject(new Error('login failed'));
        else if (m.name === 'readyForQuery') {
          s.off('data', onData);
          resolve();
        }
      });
    s.on('data', onData);
    s.once('error', reject);
    s.write(serialize.startup({ user: 'agent', database: 'app' }));
  });
  return s;
}

/** Sends bytes and waits for the gateway to close the connection. */
function sendUntilClosed(s: net.Socket, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    s.on('error', () => undefined);
    s.on('close', () => resolve());
    s.resume();
    s.write(bytes);
  });
}

async function sessionEvents(gw: TestGateway): Promise<AuditRecord[][]> {
  const reader = createLocalAuditReader(auditDirOf(gw));
  const out: AuditRecord[][] = [];
  for (const id of await reader.sessionIds()) out.push(((await reader.readSession(id)) ?? []) as AuditRecord[]);
  return out;
}

/** session.end is appended as the connection closes: wait until every session has one. */
async function untilEnded(gw: TestGateway): Promise<AuditRecord[][]> {
  for (let i = 0; ; i++) {
    const sessions = await sessionEvents(gw);
    if (sessions.length > 0 && sessions.every((s) => s.some((e) => e.type === 'session.end'))) return sessions;
    if (i > 100) assert.fail('a session never got its session.end');
    await new Promise((r) => setTimeout(r, 50));
  }
}

function assertOneChain(events: AuditRecord[]): void {
  assert.deepEqual(
    events.map((e) => e.seq),
    events.map((_, i) => i + 1),
    `one chain from seq 1: ${events.map((e) => `${e.seq}:${e.type}`).join(' ')}`,
  );
  assert.equal(events.filter((e) => e.type === 'session.end').length, 1);
}

test('a query over the size limit ends the session with a trail that verifies', async (t) => {
  const gw = await startTestGateway(server, { config: withLimit });
  t.after(() => gw.stop());
  const s = await rawSession(gw);
  await sendUntilClosed(s, serialize.query(`SELECT '${'x'.repeat(10_000)}'`));
  const [events] = await untilEnded(gw);
  assertOneChain(events!);
  await expectAuditVerifies(gw);
});

test('an invalid protocol byte after login ends the session with a trail that verifies', async (t) => {
  const gw = await startTestGateway(server);
  t.after(() => gw.stop());
  const s = await rawSession(gw);
  await sendUntilClosed(s, Buffer.from([0x21, 0, 0, 0, 4]));
  const [events] = await untilEnded(gw);
  assertOneChain(events!);
  await expectAuditVerifies(gw);
});

test('a gateway shut down while a statement waits for approval leaves a trail that verifies', async () => {
  const gw = await startTestGateway(server);
  const c = new pg.Client(gw.pgOptions(await gw.token()));
  c.on('error', () => undefined);
  await c.connect();
  const held = new Promise<void>((resolve) => c.on('notice', () => resolve()));
  const ddl = c.query('CREATE TABLE held_during_shutdown (a int)').catch((e: Error) => e);
  await held;
  await gw.gw.close();
  assert.ok((await ddl) instanceof Error, 'the held statement did not run');
  try {
    const [events] = await untilEnded(gw);
    assertOneChain(events!);
    await expectAuditVerifies(gw);
  } finally {
    rmSync(gw.dir, { recursive: true, force: true });
  }
});
