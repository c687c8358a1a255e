// WebSockets over HTTP/2 (RFC 8441 extended CONNECT) from a real node:http2 client, through the
// gateway's TLS listener, to a real upstream WebSocket server reached by HTTP/1.1 Upgrade: the same
// decision, credential injection, masking and recording as an HTTP/1.1 WebSocket; refusals as HTTP/2
// statuses with problem+json; every stream and upstream socket released.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { once } from 'node:events';
import tls from 'node:tls';
import { rmSync } from 'node:fs';
import WebSocket from 'ws';
import { auditRecords, h2WebSocket, startHttpTestGateway, type HttpTestGateway } from '../support/http-gateway.js';
import { CUSTOMERS, makeTestCertificate, startHttpUpstream, UPSTREAM_TOKEN, type RunningUpstream } from '../support/http-upstream.js';

let up: RunningUpstream;
let gw: HttpTestGateway;
let cert: ReturnType<typeof makeTestCertificate>;
let token: string;

before(async () => {
  up = await startHttpUpstream();
  cert = makeTestCertificate();
  gw = await startHttpTestGateway({
    targets: [{ kind: 'http', environment: 'test', name: 'crm', baseUrl: `${up.url}/api`, credential: { type: 'bearer', secret: 'memory:crm-token' } }],
    memorySecrets: { 'crm-token': UPSTREAM_TOKEN },
    listener: { allowPlaintext: false, tls: { certFile: cert.certFile, keyFile: cert.keyFile } },
  });
  token = await gw.token();
});
after(async () => {
  await gw?.stop();
  await up?.stop();
  if (cert) rmSync(cert.dir, { recursive: true, force: true });
});

const connect = () => http2.connect(gw.base, { ca: cert.ca });
const auth = () => ({ authorization: `Bearer ${token}` });
const nextMessage = (ws: WebSocket) => new Promise<{ data: Buffer; isBinary: boolean }>((resolve) => ws.once('message', (data: Buffer, isBinary: boolean) => resolve({ data, isBinary })));
/** Waits for a condition the gateway reaches asynchronously (a socket closed on the far side). */
async function eventually(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !ok(); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(ok(), what);
}

test('a WebSocket over HTTP/2: decided, the credential injected, messages masked both ways in the record, the upstream\'s subprotocol answered', async () => {
  const session = connect();
  try {
    const a = await h2WebSocket(session, '/crm/ws', { ...auth(), 'sec-websocket-protocol': 'chat, airlock.v2' });
    assert.equal(a.status, 200, a.body);
    assert.equal(a.headers['sec-websocket-protocol'], 'airlock.v2', 'the agent is answered with the subprotocol the upstream chose');
    assert.ok(session.remoteSettings.enableConnectProtocol, 'the listener advertises SETTINGS_ENABLE_CONNECT_PROTOCOL');
    const ws = a.ws!;
    const first = await nextMessage(ws);
    const hello = JSON.parse(first.data.toString()) as { hello: string; auth: string };
    assert.notEqual(hello.hello, CUSTOMERS[0]!.email, "the upstream's PII is masked");
    assert.ok(!first.data.includes(UPSTREAM_TOKEN), 'the credential the upstream reflects is scrubbed');
    assert.match(hello.auth, /\[airlock:credential\]/);

    const echo = nextMessage(ws);
    ws.send('card 4111 1111 1111 1111 please');
    const back = await echo;
    assert.equal(back.isBinary, false);
    assert.ok(back.data.toString().includes('please') && !back.data.includes('4111 1111 1111 1111'), back.data.toString());
    const bin = nextMessage(ws);
    ws.send(Buffer.from([1, 2, 3]));
    const b = await bin;
    assert.equal(b.isBinary, true);
    assert.deepEqual([...b.data], [1, 2, 3]);
    // A message larger than the stream's initial flow-control window (64 KiB) crosses intact.
    const big = nextMessage(ws);
    ws.send(Buffer.alloc(300 * 1024, 7));
    assert.equal((await big).data.length, 300 * 1024);

    ws.close(1000, 'done');
    const [code] = (await once(ws, 'close')) as [number];
    assert.equal(code, 1000);
    const received = up.requests.filter((r) => r.routedPath === '/api/ws').at(-1)!;
    assert.equal(received.headers.authorization, `Bearer ${UPSTREAM_TOKEN}`, 'the upstream leg carries its own credential');
    assert.ok(!JSON.stringify(received.headers).includes(token), 'the agent token stops at the gateway');
    assert.ok(a.stream.closed, 'the WebSocket closes with its stream');
    assert.equal(a.stream.rstCode, http2.constants.NGHTTP2_NO_ERROR, 'the stream ends cleanly');
  } finally {
    session.close();
  }

  // The audit: the opening decided as a GET upgrade over HTTP/2, and both directions recorded masked.
  await eventually('the outcome is written', () => auditRecords(gw.dir).some((r) => r.type === 'statement.outcome' && (r as { http?: { status: number } }).http?.status === 101));
  const records = auditRecords(gw.dir);
  const opened = records.find((r) => r.type === 'statement' && r.text === 'GET /ws (websocket)') as { statementId: string; http: { version: string }; decision: { effect: string; policyIds: string[] } };
  assert.equal(opened.http.version, 'HTTP/2');
  assert.equal(opened.decision.effect, 'allow');
  assert.deepEqual(opened.decision.policyIds, ['websocket-echo']);
  type Captured = { chunks: string[]; encoding?: 'utf8' | 'base64'; totalChunks: number };
  const outcome = records.find((r) => r.type === 'statement.outcome' && r.statementId === opened.statementId) as { status: string; http: { sent: Captured }; response: Captured };
  assert.equal(outcome.status, 'ok');
  assert.equal(outcome.http.sent.totalChunks, 3, 'three messages from the agent');
  assert.equal(outcome.response.totalChunks, 4, 'the greeting and three echoes');
  const messages = (c: Captured) => c.chunks.map((x) => Buffer.from(x, c.encoding === 'base64' ? 'base64' : 'utf8').toString('utf8'));
  const sentText = messages(outcome.http.sent)[0]!;
  assert.match(sentText, /^card .+ please$/);
  assert.ok(!sentText.includes('4111 1111 1111 1111'), `the card number the agent sent is masked in the record too: ${sentText}`);
  assert.ok(!messages(outcome.response)[0]!.includes(CUSTOMERS[0]!.email));
  const written = JSON.stringify(records);
  assert.ok(!written.includes(UPSTREAM_TOKEN) && !written.includes(token));
});

test('refused openings get an HTTP/2 status with problem+json, and the connection stays usable', async () => {
  const session = connect();
  try {
    const hitsBefore = up.requests.length;
    const refusals: [string, Record<string, string>, number, string][] = [
      ['/crm/admin', auth(), 403, 'policy_denied'],
      ['/crm/customers', auth(), 403, 'policy_denied'], // reads are allowed; a socket is a write
      ['/crm/ws', {}, 401, 'token_missing'],
      ['/crm/ws', { authorization: 'Bearer not-a-token' }, 401, 'token_invalid'],
      ['/nope/ws', auth(), 404, 'unknown_target'],
      ['/crm/ws', { ...auth(), 'sec-websocket-version': '8' }, 400, 'websocket_version'],
    ];
    for (const [path, headers, status, code] of refusals) {
      const r = await h2WebSocket(session, path, headers);
      assert.equal(r.status, status, `${path} ${JSON.stringify(headers)}: ${r.body}`);
      assert.equal(r.headers['content-type'], 'application/problem+json');
      assert.equal((JSON.parse(r.body) as { code: string }).code, code, path);
    }
    // Another :protocol, and a plain CONNECT (a tunnel): refused the same way.
    const other = session.request({ ':method': 'CONNECT', ':protocol': 'webtransport', ':path': '/crm/ws', ...auth() });
    const [otherHeaders] = (await once(other, 'response')) as [http2.IncomingHttpHeaders];
    assert.equal(otherHeaders[':status'], 400);
    other.close();
    const tunnel = session.request({ ':method': 'CONNECT', ':authority': 'db.internal:5432', ...auth() });
    const [tunnelHeaders] = (await once(tunnel, 'response')) as [http2.IncomingHttpHeaders];
    assert.equal(tunnelHeaders[':status'], 405);
    assert.equal(tunnelHeaders['content-type'], 'application/problem+json');
    tunnel.close();
    assert.equal(up.requests.length, hitsBefore, 'no refused opening reached the upstream');

    const ok = await h2WebSocket(session, '/crm/ws', auth());
    assert.equal(ok.status, 200, 'the same connection still opens an allowed WebSocket');
    await nextMessage(ok.ws!);
    ok.ws!.close();
    await once(ok.ws!, 'close');
  } finally {
    session.close();
  }
  const denied = auditRecords(gw.dir).filter((r) => r.type === 'statement' && r.text === 'GET /admin (websocket)') as { decision: { effect: string }; http: { version: string } }[];
  assert.equal(denied.length, 1, 'a policy refusal is audited');
  assert.equal(denied[0]!.decision.effect, 'deny');
  assert.equal(denied[0]!.http.version, 'HTTP/2');
});

test('no stream leaks: more WebSockets than the concurrent-stream limit, opened and ended in turn on one connection', async () => {
  const session = connect();
  try {
    const first = await h2WebSocket(session, '/crm/ws', auth());
    const limit = session.remoteSettings.maxConcurrentStreams!;
    assert.ok(limit > 0 && limit < 1000, `the listener limits concurrent streams (${limit})`);
    await nextMessage(first.ws!);
    first.ws!.close();
    await once(first.ws!, 'close');
    // Each ends a different way: a clean close from the agent, the agent resetting its stream
    // mid-conversation, and a refusal. A stream the gateway did not release would count against the
    // limit, and opening number limit+1 would be refused.
    for (let i = 0; i < limit + 8; i++) {
      const way = i % 3;
      if (way === 2) {
        const r = await h2WebSocket(session, '/crm/admin', auth());
        assert.equal(r.status, 403);
        continue;
      }
      const r = await h2WebSocket(session, '/crm/ws', auth());
      assert.equal(r.status, 200, `opening ${i}: ${r.body}`);
      await nextMessage(r.ws!);
      const closed = once(r.ws!, 'close');
      if (way === 0) r.ws!.close(1000);
      else r.stream.close(http2.constants.NGHTTP2_CANCEL);
      await closed;
    }
    await eventually(`every upstream socket is closed (${up.openSockets()} open)`, () => up.openSockets() === 0);
  } finally {
    session.close();
  }
});

test('HTTP/1.1 on the same port: the upstream\'s subprotocol is the one answered, and CONNECT is refused with a problem', async () => {
  const ws = new WebSocket(`${gw.base.replace('https', 'wss')}/crm/ws`, ['chat', 'airlock.v2'], { ca: cert.ca, headers: auth() });
  await once(ws, 'open');
  assert.equal(ws.protocol, 'airlock.v2');
  ws.close();
  await once(ws, 'close');
  const answer = await new Promise<string>((resolve) => {
    const s = tls.connect({ port: gw.httpPort, host: '127.0.0.1', ca: cert.ca, ALPNProtocols: ['http/1.1'] }, () => s.write(`CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\nAuthorization: Bearer ${token}\r\n\r\n`));
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.on('close', () => resolve(got));
    s.on('error', () => resolve(got));
  });
  assert.match(answer, /^HTTP\/1\.1 405 /);
  assert.match(answer, /"code":"method_not_allowed"/);
});
