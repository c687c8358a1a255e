// The HTTP path end to end: the real curl and Node's fetch → Airlock → a real upstream API started
// here. Policy, the canonical path, credential injection, masking, streaming and the audit trail.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { auditRecords, curl, dataDirBytes, startHttpTestGateway, type HttpTestGateway } from '../support/http-gateway.js';
import { join } from 'node:path';
import WebSocket from 'ws';
import { replayCommand } from '../../fargate-proxy/src/cli/audit-commands.js';
import { CUSTOMERS, startHttpUpstream, UPSTREAM_TOKEN, type RunningUpstream } from '../support/http-upstream.js';

let up: RunningUpstream;
let gw: HttpTestGateway;
let token: string;

before(async () => {
  up = await startHttpUpstream();
  const common = { kind: 'http', environment: 'test', credential: { type: 'bearer', secret: 'memory:crm-token' } };
  gw = await startHttpTestGateway({
    targets: [
      { ...common, name: 'crm', baseUrl: `${up.url}/api`, routes: [{ id: 'search-is-read', methods: ['POST'], path: '/search', action: 'read' }], contextHeaders: ['x-tenant'] },
      { ...common, name: 'crm-ci', baseUrl: `${up.url}/api`, paths: { caseSensitive: false } },
      { ...common, name: 'files', baseUrl: `${up.url}/api`, uninspectable: 'pass' },
    ],
    memorySecrets: { 'crm-token': UPSTREAM_TOKEN },
  });
  token = await gw.token();
});
after(async () => {
  await gw?.stop();
  await up?.stop();
});

const auth = () => ['-H', `Authorization: Bearer ${token}`];
const seen = (path: string) => up.requests.filter((r) => r.routedPath === path);

test('curl reads JSON through the gateway: the upstream gets its own credential, the agent gets masked PII', async () => {
  const before = up.requests.length;
  const r = await curl([...auth(), `${gw.base}/crm/customers`]);
  assert.equal(r.status, 200, r.body.toString());
  const body = JSON.parse(r.body.toString()) as { customers: typeof CUSTOMERS; count: number };
  assert.equal(body.count, 2, 'the JSON still parses and non-sensitive values pass');
  assert.equal(body.customers[0]!.plan, 'pro');
  const text = r.body.toString();
  for (const c of CUSTOMERS) {
    assert.ok(!text.includes(c.email), `${c.email} is masked`);
    assert.ok(!text.includes(c.card), `the card number is masked`);
  }
  const got = up.requests.slice(before);
  assert.equal(got.length, 1);
  assert.equal(got[0]!.url, '/api/customers');
  assert.equal(got[0]!.headers.authorization, `Bearer ${UPSTREAM_TOKEN}`, 'the upstream credential is injected');
  assert.ok(!JSON.stringify(got[0]!.headers).includes(token), 'the agent token stops at the gateway');
});

test('the upstream credential never reaches the agent, even from an endpoint that echoes it', async () => {
  const res = await fetch(`${gw.base}/crm/echo`, {
    method: 'GET',
    headers: {
      authorization: `Bearer ${token}`,
      'x-original-url': '/admin',
      'x-forwarded-host': 'evil.example',
      'x-forwarded-for': '10.0.0.1',
      'x-http-method-override': 'DELETE',
      forwarded: 'for=1.2.3.4',
      cookie: 'session=agent',
      'x-tenant': 'acme',
    },
  });
  const raw = Buffer.from(await res.arrayBuffer());
  assert.equal(res.status, 200);
  const headerBytes = Buffer.from(JSON.stringify([...res.headers]));
  for (const needle of [UPSTREAM_TOKEN, token]) {
    assert.equal(raw.indexOf(needle), -1, 'not in the body');
    assert.equal(headerBytes.indexOf(needle), -1, 'not in the headers');
  }
  assert.match(res.headers.get('x-debug-auth') ?? '', /\[airlock:credential\]/);
  const received = up.requests.at(-1)!;
  for (const h of ['x-original-url', 'x-forwarded-host', 'x-forwarded-for', 'x-http-method-override', 'forwarded', 'cookie']) {
    assert.equal(received.headers[h], undefined, `${h} from the agent is stripped`);
  }
  assert.equal(received.headers['x-tenant'], 'acme', 'ordinary headers pass');
  assert.equal(received.method, 'GET');
});

test('refusals are RFC 9457 problem+json with a stable code and the deciding policy', async () => {
  const before = seen('/api/admin').length;
  const denied = await curl([...auth(), `${gw.base}/crm/admin`]);
  assert.equal(denied.status, 403);
  assert.match(denied.headers, /content-type: application\/problem\+json/i);
  const p = JSON.parse(denied.body.toString()) as Record<string, unknown>;
  assert.equal(p.code, 'policy_denied');
  assert.deepEqual(p.policyIds, ['no-admin']);
  assert.equal(p.status, 403);
  assert.match(String(p.requestId), /^[0-9a-f-]{36}$/);
  assert.equal(seen('/api/admin').length, before, 'nothing reached the upstream');

  const missing = await curl([`${gw.base}/crm/customers`]);
  assert.equal(missing.status, 401);
  assert.equal((JSON.parse(missing.body.toString()) as { code: string }).code, 'token_missing');
  assert.match(missing.headers, /www-authenticate: Bearer/i);
  const bad = await curl(['-H', `Authorization: Bearer ${token.slice(0, -4)}AAAA`, `${gw.base}/crm/customers`]);
  assert.equal(bad.status, 401);
  assert.equal((JSON.parse(bad.body.toString()) as { code: string }).code, 'token_invalid');
  const proxyAuth = await curl(['-H', `Proxy-Authorization: Bearer ${token}`, `${gw.base}/crm/search`]);
  assert.equal(proxyAuth.status, 200, 'Proxy-Authorization carries the token too');

  const del = await curl([...auth(), '-X', 'DELETE', `${gw.base}/crm/customers`]);
  assert.equal(del.status, 403);
  assert.deepEqual((JSON.parse(del.body.toString()) as { policyIds: string[] }).policyIds, ['no-delete']);
  const trace = await curl([...auth(), '-X', 'TRACE', `${gw.base}/crm/echo`]);
  assert.equal(trace.status, 405, 'TRACE would reflect the injected credential: never forwarded');
  const unknown = await curl([...auth(), `${gw.base}/nope/x`]);
  assert.equal(unknown.status, 404);
  const anonymous = await curl([`${gw.base}/nope/x`]);
  assert.equal(anonymous.status, 401, 'without a token, whether a target exists is not told');
  assert.equal((JSON.parse(unknown.body.toString()) as { code: string }).code, 'unknown_target');
});

test('route rules reclassify: POST /search is a read, POST elsewhere is a write', async () => {
  const search = await curl([...auth(), '-X', 'POST', '-H', 'content-type: application/json', '--data', '{"q":"ada"}', `${gw.base}/crm/search`]);
  assert.equal(search.status, 200, search.body.toString());
  const write = await curl([...auth(), '-X', 'POST', '-H', 'content-type: application/json', '--data', '{"q":"ada"}', `${gw.base}/crm/customers`]);
  assert.equal(write.status, 403, 'no policy permits this write');
});

test('redirects are handed to the agent, never followed', async () => {
  const before = seen('/api/admin').length;
  const r = await curl([...auth(), `${gw.base}/crm/redirect`]);
  assert.equal(r.status, 302);
  assert.match(r.headers, /location: \/api\/admin/i);
  assert.equal(seen('/api/admin').length, before);
});

test('server-sent events arrive event by event, masked', async () => {
  const res = await fetch(`${gw.base}/crm/events`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.headers.get('content-type'), 'text/event-stream');
  const reader = res.body!.getReader();
  const started = Date.now();
  const first = await reader.read();
  const firstAt = Date.now() - started;
  let text = Buffer.from(first.value!).toString();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += Buffer.from(value).toString();
  }
  assert.ok(firstAt < 250, `the first event came before the stream ended (${firstAt} ms; the stream takes 300 ms)`);
  assert.equal(text.match(/^event: customer$/gm)?.length, 3);
  assert.ok(!text.includes('ada@example.com') && !text.includes('bo.example@example.org'), text);
  assert.match(text, /"plan":"pro"/);
});

test('NDJSON and gzip/brotli answers are decoded and masked', async () => {
  const nd = await curl([...auth(), `${gw.base}/crm/customers.ndjson`]);
  const lines = nd.body.toString().trim().split('\n');
  assert.equal(lines.length, 2);
  for (const l of lines) JSON.parse(l);
  assert.ok(!nd.body.toString().includes('ada@example.com'));
  for (const enc of ['gzip', 'br']) {
    const r = await curl([...auth(), '-H', `accept-encoding: ${enc}`, '--compressed', `${gw.base}/crm/customers.gz`]);
    assert.equal(r.status, 200);
    const body = r.body.toString();
    assert.equal((JSON.parse(body) as { customers: unknown[] }).customers.length, 2);
    assert.ok(!body.includes('ada@example.com'), `${enc}: masked after decoding`);
  }
  assert.ok(up.requests.filter((q) => q.routedPath === '/api/customers.gz').every((q) => q.headers['accept-encoding'] === 'gzip, deflate, br'));
});

test('what the gateway cannot inspect is refused or passed, per target', async () => {
  const refused = await curl([...auth(), `${gw.base}/crm/binary`]);
  assert.equal(refused.status, 502);
  assert.equal((JSON.parse(refused.body.toString()) as { code: string }).code, 'uninspectable_response');
  const passed = await curl([...auth(), `${gw.base}/files/binary`]);
  assert.equal(passed.status, 200);
  assert.deepEqual([...passed.body], [0x89, 0x50, 0x4e, 0x47]);
});

test('a large download streams through intact', async () => {
  const res = await fetch(`${gw.base}/files/large`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  assert.equal(bytes, up.large.bytes);
  assert.equal(hash.digest('hex'), up.large.sha256);
});

test('WebSocket: decided by policy, then relayed with the credential injected, messages masked and recorded', async () => {
  const ws = new WebSocket(`${gw.base.replace('http', 'ws')}/crm/ws`, { headers: { authorization: `Bearer ${token}` } });
  const messages: string[] = [];
  const next = () => new Promise<string>((resolve) => ws.once('message', (d) => resolve(String(d))));
  const first = next();
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  messages.push(await first);
  const greeting = JSON.parse(messages[0]!) as { hello: string; auth: string };
  assert.notEqual(greeting.hello, CUSTOMERS[0]!.email, 'the upstream\'s PII is masked');
  assert.ok(!messages[0]!.includes(UPSTREAM_TOKEN), 'the credential the upstream reflects is scrubbed');
  assert.match(greeting.auth, /\[airlock:credential\]/);
  const echo = next();
  ws.send('card 4111 1111 1111 1111 please');
  const back = await echo;
  assert.ok(!back.includes('4111 1111 1111 1111'), back);
  const bin = next();
  ws.send(Buffer.from([1, 2, 3]));
  assert.equal((await bin).length, 3);
  ws.close();
  await new Promise((r) => ws.once('close', r));
  const received = up.requests.filter((r) => r.routedPath === '/api/ws').at(-1)!;
  assert.equal(received.headers.authorization, `Bearer ${UPSTREAM_TOKEN}`);

  const refused = new WebSocket(`${gw.base.replace('http', 'ws')}/crm/admin`, { headers: { authorization: `Bearer ${token}` } });
  const status = await new Promise<number>((resolve) => {
    refused.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    refused.once('open', () => resolve(101));
    refused.once('error', () => resolve(-1));
  });
  assert.equal(status, 403);
  const other = new WebSocket(`${gw.base.replace('http', 'ws')}/crm/customers`, { headers: { authorization: `Bearer ${token}` } });
  const otherStatus = await new Promise<number>((resolve) => {
    other.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    other.once('open', () => resolve(101));
    other.once('error', () => resolve(-1));
  });
  assert.equal(otherStatus, 403, 'an upgrade is a write: reads being allowed does not open a socket');
});

test('the audit trail records each exchange, and no credential is written anywhere', async () => {
  // Outcomes are written with the next event or within 20 ms.
  await new Promise((r) => setTimeout(r, 100));
  const records = auditRecords(gw.dir);
  const requests = records.filter((r) => r.type === 'statement' && (r as { http?: unknown }).http);
  const customers = requests.find((r) => r.text === 'GET /customers') as { http: { headers: Record<string, string>; version: string }; decision: { effect: string } } | undefined;
  assert.ok(customers, 'the request line is recorded');
  assert.equal(customers.decision.effect, 'allow');
  assert.equal(customers.http.headers.authorization, undefined);
  const denied = requests.find((r) => r.text === 'GET /admin') as { decision: { effect: string; policyIds: string[] } };
  assert.equal(denied.decision.effect, 'deny');
  const outcome = records.find((r) => r.type === 'statement.outcome' && (r as { http?: { status: number } }).http?.status === 200) as { response: { sha256: string; totalBytes: number } };
  assert.ok(outcome.response.sha256);
  const starts = records.filter((r) => r.type === 'session.start' && r.targetKind === 'http');
  assert.ok(starts.length >= 1);
  // `airlock replay` shows the exchange: request line, decision, headers, status and the masked body.
  const session = (records.find((r) => r.type === 'statement' && r.text === 'GET /customers') as { sessionId: string }).sessionId;
  let replay = '';
  const code = await replayCommand({ dir: join(gw.dir, 'data', 'audit'), sessionId: session }, { write: (t: string) => void (replay += t) } as never);
  assert.equal(code, 0);
  assert.match(replay, /GET \/customers/);
  assert.match(replay, /HTTP 200 application\/json/);
  assert.match(replay, /\[REDACTED:email\]|REDACTED/);
  assert.match(replay, /chain: intact/);
  const bytes = dataDirBytes(gw.dir);
  assert.equal(bytes.indexOf(UPSTREAM_TOKEN), -1, 'the upstream credential is in no file');
  assert.equal(bytes.indexOf(token), -1, 'nor is the agent token');
  assert.equal(bytes.indexOf('ada@example.com'), -1, 'nor unmasked PII');
});
