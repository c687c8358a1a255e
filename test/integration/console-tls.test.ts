// The console over HTTPS (what the NLB's 443 → 8443 reaches in AWS) next to the plain health
// listener the load balancer and the container health check use. A throwaway CA signs the
// console's certificate; clients verify it with that CA, never with rejectUnauthorized: false.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../fargate-proxy/src/config/load.js';
import { REVIEWER, startTestGateway, type TestGateway } from '../support/gateway.js';

const dir = mkdtempSync(join(tmpdir(), 'airlock-console-tls-'));
const file = (name: string) => join(dir, name);
let ca: Buffer;
let gw: TestGateway;
let consoleUrl: URL;
let healthUrl: URL;

interface Reply {
  status: number;
  type: string;
  body: string;
}

function get(url: URL, o: { ca?: Buffer; token?: string } = {}): Promise<Reply> {
  const headers = o.token ? { authorization: `Bearer ${o.token}` } : {};
  return new Promise((resolve, reject) => {
    const onResponse = (res: http.IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    };
    const req = url.protocol === 'https:' ? https.get(url, { ca: o.ca, headers, agent: false }, onResponse) : http.get(url, { headers, agent: false }, onResponse);
    req.setTimeout(5_000, () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

before(async () => {
  const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-days', '1', '-subj', '/CN=Airlock test CA', '-keyout', file('ca.key'), '-out', file('ca.crt')]);
  openssl(['req', '-new', ...ec, '-subj', '/CN=localhost', '-keyout', file('tls.key'), '-out', file('tls.csr')]);
  writeFileSync(file('tls.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  openssl(['x509', '-req', '-in', file('tls.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', file('tls.ext'), '-out', file('tls.crt')]);
  ca = readFileSync(file('ca.crt'));
  // No upstream is contacted at start-up: a target nobody listens on is enough for the console.
  gw = await startTestGateway(undefined, {
    targets: [{ name: 'app', kind: 'postgres', host: '127.0.0.1', port: 9, database: 'app', user: 'app', credential: 'env:AIRLOCK_UNUSED', tls: { mode: 'disable' } }],
    config: (raw) => {
      const listeners = raw.listeners as Record<string, unknown>;
      listeners.console = { host: '127.0.0.1', port: 0, tls: { certFile: file('tls.crt'), keyFile: file('tls.key') } };
      listeners.health = { host: '127.0.0.1', port: 0 };
    },
  });
  consoleUrl = new URL(gw.gw.consoleUrl!);
  healthUrl = new URL(gw.gw.healthUrl!);
});
after(async () => {
  await gw?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('the console answers over HTTPS with a certificate the CA verifies: /healthz, approvals, sessions', async () => {
  assert.equal(consoleUrl.protocol, 'https:');
  const health = await get(new URL('/healthz', consoleUrl), { ca });
  assert.equal(health.status, 200);
  assert.equal(JSON.parse(health.body).ok, true);

  const page = await get(new URL('/', consoleUrl), { ca });
  assert.equal(page.status, 200);
  assert.match(page.type, /^text\/html/);
  assert.match(page.body, /Pending approvals/);
  assert.equal((await get(new URL('/console.js', consoleUrl), { ca })).status, 200);
  const sessions = await get(new URL('/sessions', consoleUrl), { ca });
  assert.equal(sessions.status, 200);
  assert.match(sessions.type, /^text\/html/);

  // The JSON API behind the page, with a reviewer's token, over the same TLS connection type.
  const token = await gw.token(REVIEWER);
  const list = await get(new URL('/api/approvals', consoleUrl), { ca, token });
  assert.equal(list.status, 200, list.body);
  assert.deepEqual(JSON.parse(list.body), { approvals: [] });
  assert.equal((await get(new URL('/api/approvals', consoleUrl), { ca })).status, 401, 'still needs a token');
});

test('the console port speaks TLS only, and only to clients that trust its CA', async () => {
  const plain = new URL(consoleUrl);
  plain.protocol = 'http:';
  // The TLS server drops a connection that does not start with a ClientHello: no HTTP answer at all.
  await assert.rejects(get(new URL('/healthz', plain)), (err: NodeJS.ErrnoException) => {
    assert.match(`${err.code} ${err.message}`, /ECONNRESET|socket hang up|HPE_/, err.message);
    return true;
  });
  await assert.rejects(get(new URL('/healthz', consoleUrl)), /self[- ]signed|unable to (get|verify)|certificate/i, 'not trusted without the test CA');
});

test('the health listener is plain HTTP and serves /healthz only', async () => {
  assert.equal(healthUrl.protocol, 'http:');
  assert.equal(healthUrl.pathname, '/healthz');
  const health = await get(healthUrl);
  assert.equal(health.status, 200);
  assert.equal(JSON.parse(health.body).ok, true);
  for (const path of ['/', '/sessions', '/api/approvals', '/api/sessions']) {
    assert.equal((await get(new URL(path, healthUrl))).status, 404, `${path} is not on the health port`);
  }
});

test('with the Step Functions backend, the console says where approvals are decided instead of an empty list', async () => {
  const sfn = await startTestGateway(undefined, {
    targets: [{ name: 'app', kind: 'postgres', host: '127.0.0.1', port: 9, database: 'app', user: 'app', credential: 'env:AIRLOCK_UNUSED', tls: { mode: 'disable' } }],
    config: (raw) => {
      (raw.listeners as Record<string, unknown>).console = { host: '127.0.0.1', port: 0, tls: { certFile: file('tls.crt'), keyFile: file('tls.key') } };
      // Nothing is sent to AWS: no statement is held in this test.
      raw.approvals = {
        backend: 'stepfunctions',
        stepFunctions: { tableName: 'approvals', stateMachineArn: 'arn:aws:states:eu-west-1:123456789012:stateMachine:m', reviewBaseUrl: 'https://decide.example.com/' },
      };
    },
  });
  try {
    const url = new URL('/api/approvals', sfn.gw.consoleUrl!);
    const token = await sfn.token(REVIEWER);
    const reply = await get(url, { ca, token });
    assert.equal(reply.status, 409);
    assert.match(JSON.parse(reply.body).error, /https:\/\/decide\.example\.com\/review\/<id>/);
    assert.equal((await get(url, { ca })).status, 401, 'nothing without a token');
    assert.equal((await get(new URL('/healthz', url), { ca })).status, 200);
  } finally {
    await sfn.stop();
  }
});

test('the configuration refuses a health listener on the console\'s port', () => {
  const base = {
    identity: { issuer: 'https://idp.example.com/', audience: 'a' },
    targets: [{ name: 'app', kind: 'postgres', host: 'h', database: 'd', user: 'u', credential: 'env:X' }],
    policy: { file: 'p.cedar' },
  };
  assert.throws(
    () => parseConfig({ ...base, listeners: { console: { port: 8443 }, health: { port: 8443 } } }),
    /listeners\.health\.port/,
  );
  const ok = parseConfig({ ...base, listeners: { console: { port: 8443, tls: { certFile: 'c.pem', keyFile: 'k.pem' } }, health: { port: 8080 } } }, '/etc/airlock');
  assert.equal(ok.listeners.health?.port, 8080);
  assert.equal(ok.listeners.health?.host, '127.0.0.1');
  assert.deepEqual(ok.listeners.console?.tls, { certFile: '/etc/airlock/c.pem', keyFile: '/etc/airlock/k.pem' }, 'relative to the configuration file');
});
