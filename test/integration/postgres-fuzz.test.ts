// Malformed, truncated and oversized frontend messages: the gateway never crashes or hangs, answers
// with a protocol error where it can, and other sessions carry on.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fc from 'fast-check';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { Parser } from 'pg-protocol/dist/parser.js';
import { startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { expectAuditVerifies } from '../support/audit-trail.js';
import { loggedIn as rawSession } from '../support/pg-raw.js';

let server: RunningPostgres;
let gw: TestGateway;
let token: string;
let healthy: pg.Client;

before(async () => {
  server = await startPostgres();
  gw = await startTestGateway(server, {
    config: (raw) => {
      const listeners = raw.listeners as { postgres: Record<string, unknown> };
      listeners.postgres.maxMessageBytes = 64 * 1024;
      listeners.postgres.authTimeoutMs = 3000;
    },
  });
  token = await gw.token();
  healthy = new pg.Client(gw.pgOptions(token));
  await healthy.connect();
});

after(async () => {
  await healthy?.end().catch(() => undefined);
  await gw?.stop();
  await server?.stop();
});

interface Exchange {
  messages: { name: string; code?: string }[];
  closed: boolean;
}

/** Sends bytes, half-closes, and collects what the gateway answers until it closes (or the deadline). */
function exchange(socket: net.Socket, payload: Buffer, deadlineMs = 8000): Promise<Exchange> {
  return new Promise((resolve) => {
    const parser = new Parser();
    const messages: { name: string; code?: string }[] = [];
    let raw = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ messages, closed: false });
    }, deadlineMs);
    socket.on('data', (d: Buffer) => {
      raw = Buffer.concat([raw, d]);
      try {
        parser.parse(d, (m) => messages.push({ name: m.name, code: (m as { code?: string }).code }));
      } catch {
        /* single-byte SSL answers are not messages */
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ messages, closed: true });
    });
    socket.write(payload);
    socket.end();
  });
}

function connect(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(gw.port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

const loggedIn = (): Promise<net.Socket> => rawSession(gw.port, token);

async function stillHealthy(): Promise<void> {
  assert.equal((await healthy.query('SELECT 41 + 1 AS n')).rows[0].n, 42);
}

const frontendTypes = [...'BCdcfDEHFpPQSX'].map((c) => c.charCodeAt(0));

/** A frontend message with a real or random type byte and a body that may lie about its length. */
const hostileMessage = fc.oneof(
  fc.record({ type: fc.constantFrom(...frontendTypes), body: fc.uint8Array({ maxLength: 64 }), lie: fc.integer({ min: -8, max: 8 }) }),
  fc.record({ type: fc.integer({ min: 0, max: 255 }), body: fc.uint8Array({ maxLength: 32 }), lie: fc.constant(0) }),
  fc.record({ type: fc.constantFrom(...frontendTypes), body: fc.constant(new Uint8Array(0)), lie: fc.constantFrom(2 ** 30, 70_000, -5, 0x7fffffff) }),
);

function encode(m: { type: number; body: Uint8Array; lie: number }): Buffer {
  const b = Buffer.alloc(5 + m.body.length);
  b[0] = m.type;
  b.writeInt32BE((4 + m.body.length + m.lie) | 0, 1);
  Buffer.from(m.body).copy(b, 5);
  return b;
}

test('garbage before authentication: answered or closed, never a hang or crash', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.uint8Array({ minLength: 1, maxLength: 96 }).map((a) => Buffer.from(a)),
        // A startup packet with a plausible length but broken contents.
        fc.uint8Array({ maxLength: 64 }).map((a) => {
          const b = Buffer.alloc(8 + a.length);
          b.writeInt32BE(b.length, 0);
          b.writeInt32BE(196608, 4);
          Buffer.from(a).copy(b, 8);
          return b;
        }),
        fc.constantFrom(Buffer.from([0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0]), Buffer.from([0, 0, 0, 4]), Buffer.from([0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f])),
      ),
      async (payload) => {
        const r = await exchange(await connect(), payload);
        assert.ok(r.closed, 'the gateway kept a broken connection open past the deadline');
        for (const m of r.messages) if (m.name === 'error') assert.match(m.code ?? '', /^(08P01|54000|28P01|28000|08004|3D000)$/);
      },
    ),
    { numRuns: 60 },
  );
  await stillHealthy();
});

test('garbage after authentication: protocol errors, no crash, other sessions unaffected', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(hostileMessage, { minLength: 1, maxLength: 4 }), async (msgs) => {
      const r = await exchange(await loggedIn(), Buffer.concat(msgs.map(encode)));
      assert.ok(r.closed, 'the session did not end after the client closed');
      for (const m of r.messages) if (m.name === 'error' && m.code) assert.match(m.code, /^[0-9A-Z]{5}$/);
    }),
    { numRuns: 60 },
  );
  await stillHealthy();
  // And new sessions still open.
  const c = new pg.Client(gw.pgOptions(token));
  await c.connect();
  assert.equal((await c.query('SELECT 1 AS ok')).rows[0].ok, 1);
  await c.end();
});

test('an oversized message is refused with 54000 and the session is closed', async () => {
  const s = await loggedIn();
  const r = await exchange(s, serialize.query(`SELECT '${'x'.repeat(100_000)}'`));
  assert.ok(r.closed);
  assert.deepEqual(
    r.messages.filter((m) => m.name === 'error').map((m) => m.code),
    ['54000'],
  );
  await stillHealthy();
});

test('an unknown message type gets 08P01, as from a server', async () => {
  const s = await loggedIn();
  const r = await exchange(s, encode({ type: 0x21, body: new Uint8Array([1, 2, 3]), lie: 0 }));
  assert.ok(r.closed);
  assert.deepEqual(
    r.messages.filter((m) => m.name === 'error').map((m) => m.code),
    ['08P01'],
  );
});

test('a FunctionCall message is refused (42501) unless policy permits it, and the session stays usable', async () => {
  const s = await loggedIn();
  // FunctionCall: oid of pg_catalog.lo_unlink (964), no format codes, one int4 argument, result in text.
  const body = Buffer.alloc(4 + 2 + 2 + 4 + 4 + 2);
  let o = body.writeInt32BE(964, 0);
  o = body.writeInt16BE(0, o);
  o = body.writeInt16BE(1, o);
  o = body.writeInt32BE(4, o);
  o = body.writeInt32BE(12345, o);
  body.writeInt16BE(0, o);
  const fn = Buffer.concat([Buffer.from([0x46]), Buffer.alloc(4), body]);
  fn.writeInt32BE(4 + body.length, 1);
  const r = await exchange(s, Buffer.concat([fn, serialize.query('SELECT 1')]));
  assert.ok(r.closed);
  const names = r.messages.map((m) => (m.name === 'error' ? `error:${m.code}` : m.name));
  assert.deepEqual(names.slice(0, 2), ['error:42501', 'readyForQuery']);
  assert.ok(names.includes('dataRow'), 'the next query still ran');
});

test('the trail of every session ended by garbage, oversized or fatal messages verifies', async () => {
  await new Promise((r) => setTimeout(r, 300)); // the last sessions' ends are appended as they close
  await expectAuditVerifies(gw);
});
