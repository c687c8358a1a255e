// What an attacker would try on the HTTP path: path evasions (decided as the upstream routes them),
// request-smuggling shapes on raw sockets, oversized headers and bodies, and HTTP/2 over TLS.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { curl, rawExchange, startHttpTestGateway, type HttpTestGateway } from '../support/http-gateway.js';
import { makeTestCertificate, startHttpUpstream, startMtlsUpstream, UPSTREAM_TOKEN, type RunningUpstream } from '../support/http-upstream.js';

let up: RunningUpstream;
let gw: HttpTestGateway;
let tlsGw: HttpTestGateway;
let cert: ReturnType<typeof makeTestCertificate>;
let token: string;

before(async () => {
  up = await startHttpUpstream();
  cert = makeTestCertificate();
  const common = { kind: 'http', environment: 'test', credential: { type: 'bearer', secret: 'memory:crm-token' }, baseUrl: `${up.url}/api` };
  const targets = [{ ...common, name: 'crm' }, { ...common, name: 'crm-ci', paths: { caseSensitive: false } }];
  const memorySecrets = { 'crm-token': UPSTREAM_TOKEN };
  gw = await startHttpTestGateway({ targets, memorySecrets, listener: { maxHeaderBytes: 8192, maxRequestBodyBytes: 4096 } });
  tlsGw = await startHttpTestGateway({ targets, memorySecrets, listener: { allowPlaintext: false, tls: { certFile: cert.certFile, keyFile: cert.keyFile } } });
  token = await gw.token();
});
after(async () => {
  await gw?.stop();
  await tlsGw?.stop();
  await up?.stop();
  if (cert) rmSync(cert.dir, { recursive: true, force: true });
});

const adminHits = () => up.requests.filter((r) => r.routedPath.toLowerCase() === '/api/admin').length;

test('path evasions of a forbidden route are decided as the upstream would route them', async () => {
  const corpus: [string, number][] = [
    ['/crm/admin', 403],
    ['/crm/%61dmin', 403],
    ['/crm/./admin', 403],
    ['/crm//admin', 403],
    ['/crm/admin/', 403],
    ['/crm/x/../admin', 403],
    ['/crm/%2e%2e/crm/admin', 400], // climbs above the base path
    ['/crm/..%2fadmin', 400],
    ['/crm/%2fadmin', 400],
    ['/crm/%c0%afadmin', 400], // overlong "/"
    ['/crm/%c0%ae%c0%ae/admin', 400], // overlong ".."
    ['/crm/admin;x=1', 400],
    ['/crm/admin%00', 400],
    ['/crm-ci/ADMIN', 403], // a case-insensitive target: /ADMIN is /admin
    ['/crm-ci/%41dmin', 403],
  ];
  const before = adminHits();
  for (const [path, status] of corpus) {
    const r = await curl(['--path-as-is', '-H', `Authorization: Bearer ${token}`, `${gw.base}${path}`]);
    assert.equal(r.status, status, `${path}: ${r.body.toString()}`);
    assert.match(r.headers, /content-type: application\/problem\+json/i, path);
  }
  assert.equal(adminHits(), before, 'no evasion reached the admin route');

  // On a case-sensitive target, /ADMIN is another route: forwarded as /ADMIN, and the upstream (which is
  // case-sensitive) does not route it to the admin area either.
  const upper = await curl(['--path-as-is', '-H', `Authorization: Bearer ${token}`, `${gw.base}/crm/ADMIN`]);
  assert.equal(upper.status, 404);
  assert.equal(up.requests.at(-1)!.url, '/api/ADMIN');
  // Encoded but allowed paths reach the upstream as the path that was decided.
  const encoded = await curl(['--path-as-is', '-H', `Authorization: Bearer ${token}`, `${gw.base}/crm/./%63ustomers//`]);
  assert.equal(encoded.status, 200);
  assert.equal(up.requests.at(-1)!.url, '/api/customers');
});

test('request-smuggling shapes are refused by the parser and never reach the upstream', async () => {
  const auth = `Authorization: Bearer ${token}\r\n`;
  const host = 'Host: gw\r\n';
  const corpus: [string, string][] = [
    ['CL and TE', `POST /crm/search HTTP/1.1\r\n${host}${auth}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /crm/admin HTTP/1.1\r\n${host}${auth}\r\n`],
    ['two different Content-Lengths', `POST /crm/search HTTP/1.1\r\n${host}${auth}Content-Length: 4\r\nContent-Length: 40\r\n\r\nabcd`],
    ['obs-fold', `GET /crm/customers HTTP/1.1\r\n${host}${auth}X-Folded: a\r\n b\r\n\r\n`],
    ['space before the colon', `POST /crm/search HTTP/1.1\r\n${host}${auth}Content-Length : 4\r\n\r\nabcd`],
    ['NUL in a header value', `GET /crm/customers HTTP/1.1\r\n${host}${auth}X-Bad: a\u0000b\r\n\r\n`],
    ['an unknown transfer coding', `POST /crm/search HTTP/1.1\r\n${host}${auth}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`],
    ['chunked not last', `POST /crm/search HTTP/1.1\r\n${host}${auth}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`],
    ['bad chunk size', `POST /crm/search HTTP/1.1\r\n${host}${auth}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`],
    ['absolute-form (proxy style) target', `GET http://127.0.0.1/crm/admin HTTP/1.1\r\n${host}${auth}\r\n`],
    ['header block over the limit', `GET /crm/customers HTTP/1.1\r\n${host}${auth}X-Big: ${'a'.repeat(10_000)}\r\n\r\n`],
  ];
  const before = up.requests.length;
  for (const [name, bytes] of corpus) {
    const answer = await rawExchange(gw.httpPort, bytes);
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
    assert.ok(status === 400 || status === 431 || status === 501, `${name}: answered ${JSON.stringify(answer.slice(0, 80))}`);
    assert.equal((answer.match(/^HTTP\/1\.1 /gm) ?? []).length, 1, `${name}: exactly one answer (no second request smuggled)`);
  }
  assert.equal(up.requests.length, before, 'none of them reached the upstream');
  // The listener is unharmed.
  const ok = await curl(['-H', `Authorization: Bearer ${token}`, `${gw.base}/crm/customers`]);
  assert.equal(ok.status, 200);
});

test('bodies over the limit are refused before anything is forwarded', async () => {
  const before = up.requests.length;
  const big = await curl(['-H', `Authorization: Bearer ${token}`, '-X', 'POST', '--data-binary', 'x'.repeat(5000), `${gw.base}/crm/search`]);
  assert.equal(big.status, 413);
  assert.equal((JSON.parse(big.body.toString()) as { code: string }).code, 'body_too_large');
  assert.equal(up.requests.length, before);
});

test('HTTP/2 over TLS: the real curl and node:http2, several requests on one connection', async () => {
  const token = await tlsGw.token(); // each test gateway runs its own issuer
  const r = await curl(['--http2', '--cacert', `${cert.dir}/ca.crt`, '-H', `Authorization: Bearer ${token}`, `${tlsGw.base}/crm/customers`]);
  assert.equal(r.status, 200, r.stderr);
  assert.match(r.headers, /^HTTP\/2 200/);
  assert.ok(!r.body.toString().includes('ada@example.com'));

  const session = http2.connect(tlsGw.base, { ca: cert.ca });
  const get = (path: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const s = session.request({ ':path': path, authorization: `Bearer ${token}` });
      let body = '';
      let status = 0;
      s.on('response', (h) => (status = Number(h[':status'])));
      s.on('data', (d: Buffer) => (body += d));
      s.on('end', () => resolve({ status, body }));
      s.on('error', reject);
      s.end();
    });
  try {
    const [a, b, c] = await Promise.all([get('/crm/customers'), get('/crm/admin'), get('/crm-ci/search')]);
    assert.equal(a.status, 200);
    assert.equal(b.status, 403);
    assert.equal((JSON.parse(b.body) as { code: string }).code, 'policy_denied');
    assert.equal(c.status, 200, 'two targets on one HTTP/2 connection, each decided on its own');
  } finally {
    session.close();
  }
  // Plain HTTP is not served on a TLS listener.
  const plain = await rawExchange(tlsGw.httpPort, `GET /crm/customers HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${token}\r\n\r\n`, 800);
  assert.ok(!plain.startsWith('HTTP/1.1 200'));
});

test('mTLS to the upstream: the gateway presents the target\'s client certificate', async () => {
  const mtls = await startMtlsUpstream(cert);
  const common = { kind: 'http', environment: 'test', credential: { type: 'bearer', secret: 'memory:t' }, baseUrl: `${mtls.url}/api` };
  const g = await startHttpTestGateway({
    targets: [
      { ...common, name: 'with-cert', tls: { caFile: `${cert.dir}/ca.crt`, clientCertFile: cert.clientCertFile, clientKeyFile: cert.clientKeyFile } },
      { ...common, name: 'without-cert', tls: { caFile: `${cert.dir}/ca.crt` } },
    ],
    memorySecrets: { t: UPSTREAM_TOKEN },
  });
  try {
    const token = await g.token();
    const ok = await curl(['-H', `Authorization: Bearer ${token}`, `${g.base}/with-cert/things`]);
    assert.equal(ok.status, 200, ok.body.toString());
    assert.deepEqual(JSON.parse(ok.body.toString()), { client: 'airlock-gateway', path: '/api/things', auth: true });
    const refused = await curl(['-H', `Authorization: Bearer ${token}`, `${g.base}/without-cert/things`]);
    assert.equal(refused.status, 502);
    assert.equal((JSON.parse(refused.body.toString()) as { code: string }).code, 'upstream_unreachable');
  } finally {
    await g.stop();
    await mtls.stop();
  }
});

test('when the audit trail cannot accept events, requests are refused with 503 and nothing is forwarded', async () => {
  const g = await startHttpTestGateway({
    targets: [{ kind: 'http', name: 'crm', environment: 'test', credential: { type: 'bearer', secret: 'memory:t' }, baseUrl: `${up.url}/api` }],
    memorySecrets: { t: UPSTREAM_TOKEN },
  });
  try {
    const token = await g.token();
    const ok = await curl(['-H', `Authorization: Bearer ${token}`, `${g.base}/crm/customers`]);
    assert.equal(ok.status, 200);
    const audit = join(g.dir, 'data', 'audit');
    renameSync(audit, `${audit}.moved`);
    const before = up.requests.length;
    for (const path of ['/crm/customers', '/crm/search']) {
      const r = await curl(['-H', `Authorization: Bearer ${token}`, `${g.base}${path}`]);
      assert.equal(r.status, 503, r.body.toString());
      assert.equal((JSON.parse(r.body.toString()) as { code: string }).code, 'audit_unavailable');
    }
    assert.equal(up.requests.length, before, 'no audit, no forward');
  } finally {
    await g.stop();
  }
});

test('an agent that leaves before the upstream answers: the upstream request is given up, not left open', async () => {
  const token = await gw.token();
  const before = up.slowAbandoned();
  const asked = up.requests.filter((r) => r.routedPath === '/api/slow').length;
  const agent = new AbortController();
  const pending = fetch(`${gw.base}/crm/slow`, { headers: { authorization: `Bearer ${token}` }, signal: agent.signal }).catch((e: Error) => e);
  for (let i = 0; i < 500 && up.requests.filter((r) => r.routedPath === '/api/slow').length === asked; i++) await new Promise((r) => setTimeout(r, 20));
  agent.abort();
  assert.equal(((await pending) as Error).name, 'AbortError');
  for (let i = 0; i < 500 && up.slowAbandoned() === before; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(up.slowAbandoned(), before + 1, 'the gateway closed its upstream request');
});
