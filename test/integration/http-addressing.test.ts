// Host addressing: `https://<target>.<domain>/<path>` beside `https://<gateway>/<target>/<path>`,
// with the real curl (--resolve, HTTP/1.1 and HTTP/2), undici and node:http2. SNI and Host must name
// the same host (else 421); the two forms never shadow each other; certificates are chosen by SNI.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import tls from 'node:tls';
import { rmSync } from 'node:fs';
import { Agent, fetch as undiciFetch } from 'undici';
import { curl, rawExchange, startHttpTestGateway, type HttpTestGateway } from '../support/http-gateway.js';
import { makeHostCertificate, makeTestCertificate, startHttpUpstream, UPSTREAM_TOKEN, type RunningUpstream } from '../support/http-upstream.js';

const DOMAIN = 'airlock.test';
let up: RunningUpstream;
let gw: HttpTestGateway;
let plain: HttpTestGateway;
let cert: ReturnType<typeof makeTestCertificate>;
let token: string;
let plainToken: string;

before(async () => {
  up = await startHttpUpstream();
  cert = makeTestCertificate();
  // The default certificate covers the gateway's own name and every target under the domain;
  // `crm` has a certificate of its own, chosen by SNI.
  const wildcard = makeHostCertificate(cert, 'airlock-wildcard', [DOMAIN, `*.${DOMAIN}`, '127.0.0.1']);
  const crmOwn = makeHostCertificate(cert, 'crm-own-cert', [`crm.${DOMAIN}`]);
  const common = { kind: 'http', environment: 'test', credential: { type: 'bearer', secret: 'memory:t' } };
  const targets = [
    { ...common, name: 'crm', baseUrl: `${up.url}/api` },
    { ...common, name: 'billing', baseUrl: `${up.url}/api` },
    // Not a DNS label: reachable by path only.
    { ...common, name: 'Legacy_Api', baseUrl: `${up.url}/api` },
  ];
  gw = await startHttpTestGateway({
    targets,
    memorySecrets: { t: UPSTREAM_TOKEN },
    listener: { allowPlaintext: false, domain: DOMAIN, tls: { ...wildcard, sni: [{ hosts: [`crm.${DOMAIN}`], ...crmOwn }] } },
  });
  plain = await startHttpTestGateway({ targets, memorySecrets: { t: UPSTREAM_TOKEN }, listener: { domain: DOMAIN } });
  token = await gw.token();
  plainToken = await plain.token();
});
after(async () => {
  await gw?.stop();
  await plain?.stop();
  await up?.stop();
  if (cert) rmSync(cert.dir, { recursive: true, force: true });
});

const url = (host: string, path: string) => `https://${host}:${gw.httpPort}${path}`;
const resolve = (host: string) => ['--resolve', `${host}:${gw.httpPort}:127.0.0.1`, '--cacert', `${cert.dir}/ca.crt`];
const auth = () => ['-H', `Authorization: Bearer ${token}`];
const seen = (path: string) => up.requests.filter((r) => r.routedPath === path).length;

for (const version of ['--http1.1', '--http2'] as const) {
  test(`curl ${version}: a target by host name and by path; neither form shadows the other`, async () => {
    const byHost = await curl([version, ...resolve(`billing.${DOMAIN}`), ...auth(), url(`billing.${DOMAIN}`, '/customers')]);
    assert.equal(byHost.status, 200, byHost.body.toString());
    assert.match(byHost.headers, version === '--http2' ? /^HTTP\/2 200/ : /^HTTP\/1\.1 200/);
    assert.doesNotMatch(byHost.body.toString(), /ada@example\.com/, 'masked as on the path form');

    const byPath = await curl([version, ...resolve(DOMAIN), ...auth(), url(DOMAIN, '/billing/customers')]);
    assert.equal(byPath.status, 200);

    // On a target's host, the first segment is the target's own path, never another target's name.
    const before = seen('/api/billing/customers');
    const inside = await curl([version, ...resolve(`crm.${DOMAIN}`), ...auth(), url(`crm.${DOMAIN}`, '/billing/customers')]);
    assert.equal(inside.status, 404);
    assert.equal(JSON.parse(inside.body.toString()).path, '/api/billing/customers', "crm's upstream answered for its own path");
    assert.equal(seen('/api/billing/customers'), before + 1);

    // The canonical path and policy apply the same way by host.
    const admin = await curl([version, ...resolve(`crm.${DOMAIN}`), ...auth(), url(`crm.${DOMAIN}`, '/%61dmin')]);
    assert.equal(admin.status, 403);
    assert.equal(JSON.parse(admin.body.toString()).code, 'policy_denied');

    // Unknown names under the domain are refused, never read as path addressing.
    for (const host of [`nope.${DOMAIN}`, `crm.nested.${DOMAIN}`, `legacy-api.${DOMAIN}`]) {
      const r = await curl([version, '--resolve', `${host}:${gw.httpPort}:127.0.0.1`, '-k', ...auth(), url(host, '/crm/customers')]);
      assert.equal(r.status, 404, host);
      assert.equal(JSON.parse(r.body.toString()).code, 'unknown_target');
    }
    // A target whose name is no DNS label is still reachable by path.
    assert.equal((await curl([version, ...resolve(DOMAIN), ...auth(), url(DOMAIN, '/Legacy_Api/customers')])).status, 200);
  });

  test(`curl ${version}: SNI and Host naming different hosts get 421, and nothing is forwarded`, async () => {
    const before = up.requests.length;
    const r = await curl([version, ...resolve(`crm.${DOMAIN}`), ...auth(), '-H', `Host: billing.${DOMAIN}`, url(`crm.${DOMAIN}`, '/customers')]);
    assert.equal(r.status, 421, r.body.toString());
    const p = JSON.parse(r.body.toString());
    assert.equal(p.code, 'misdirected_request');
    assert.match(r.headers, /content-type: application\/problem\+json/i);
    // The gateway's own name in SNI and a target's in Host: also two readings.
    const r2 = await curl([version, ...resolve(DOMAIN), ...auth(), '-H', `Host: crm.${DOMAIN}`, url(DOMAIN, '/crm/customers')]);
    assert.equal(r2.status, 421);
    assert.equal(up.requests.length, before, 'the upstream saw nothing');
  });
}

test('the certificate is chosen by SNI: a host of its own, else the wildcard', async () => {
  const subject = (servername: string) =>
    new Promise<string>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: gw.httpPort, servername, ca: cert.ca, ALPNProtocols: ['http/1.1'] }, () => {
        resolve(String(s.getPeerCertificate().subject.CN));
        s.end();
      });
      s.on('error', reject);
    });
  assert.equal(await subject(`crm.${DOMAIN}`), 'crm-own-cert');
  assert.equal(await subject(`billing.${DOMAIN}`), 'airlock-wildcard');
  assert.equal(await subject(DOMAIN), 'airlock-wildcard');
});

test('undici over HTTP/1.1 and HTTP/2: host addressing', async () => {
  const lookup = (_h: string, o: { all?: boolean }, cb: (...a: unknown[]) => void) => (o.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4));
  for (const allowH2 of [false, true]) {
    const agent = new Agent({ allowH2, connect: { ca: cert.ca, lookup } as never });
    try {
      const res = await undiciFetch(url(`billing.${DOMAIN}`, '/customers'), { headers: { authorization: `Bearer ${token}` }, dispatcher: agent });
      assert.equal(res.status, 200, `allowH2=${allowH2}`);
      assert.equal(((await res.json()) as { count: number }).count, 2);
    } finally {
      await agent.close();
    }
  }
  // (undici takes SNI from the Host header it sends, so it cannot produce a mismatch; curl and node:http2 do above and below.)
});

test('node:http2: one connection, streams for its own host pass, a stream for another host gets 421 and the connection stays usable', async () => {
  const session = http2.connect(`https://127.0.0.1:${gw.httpPort}`, { ca: cert.ca, servername: `crm.${DOMAIN}` });
  const get = (authority: string, path: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const s = session.request({ ':method': 'GET', ':path': path, ':authority': authority, authorization: `Bearer ${token}` });
      let status = 0;
      let body = '';
      s.on('response', (h) => (status = Number(h[':status'])));
      s.on('data', (d: Buffer) => (body += d));
      s.on('end', () => resolve({ status, body }));
      s.on('error', reject);
    });
  try {
    assert.equal((await get(`crm.${DOMAIN}`, '/customers')).status, 200);
    const other = await get(`billing.${DOMAIN}`, '/customers');
    assert.equal(other.status, 421);
    assert.equal(JSON.parse(other.body).code, 'misdirected_request');
    assert.equal((await get(`crm.${DOMAIN}:${gw.httpPort}`, '/customers')).status, 200, 'a port in :authority is fine');
  } finally {
    session.close();
  }
});

test('plain HTTP: the Host header alone addresses; two Host headers or a malformed one are 400', async () => {
  const base = `http://billing.${DOMAIN}:${plain.httpPort}`;
  const r = await curl(['--resolve', `billing.${DOMAIN}:${plain.httpPort}:127.0.0.1`, '-H', `Authorization: Bearer ${plainToken}`, `${base}/customers`]);
  assert.equal(r.status, 200);
  const p = await curl(['-H', `Authorization: Bearer ${plainToken}`, `http://127.0.0.1:${plain.httpPort}/billing/customers`]);
  assert.equal(p.status, 200, 'an IP address is the path form');
  const before = up.requests.length;
  // curl sends one Host only; two take a raw socket.
  const two = await rawExchange(plain.httpPort, `GET /customers HTTP/1.1\r\nHost: billing.${DOMAIN}\r\nHost: crm.${DOMAIN}\r\nAuthorization: Bearer ${plainToken}\r\n\r\n`, 800);
  assert.match(two, /^HTTP\/1\.1 400 /);
  const underscore = await curl(['-H', `Authorization: Bearer ${plainToken}`, '-H', `Host: legacy_api.${DOMAIN}`, `http://127.0.0.1:${plain.httpPort}/customers`]);
  assert.equal(underscore.status, 400, 'not a host name');
  const bad = await curl(['-H', `Authorization: Bearer ${plainToken}`, '-H', 'Host: crm.airlock.test@evil', `http://127.0.0.1:${plain.httpPort}/customers`]);
  assert.equal(bad.status, 400);
  assert.equal(JSON.parse(bad.body.toString()).code, 'bad_host');
  assert.equal(up.requests.length, before);
});
