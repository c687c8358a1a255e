// What upstream servers and frameworks read in a request, which the gateway's decision must cover:
// header names as CGI-style servers read them — Python's wsgiref (the real server, in a child
// process) files `X_HTTP_Method_Override` under the same key as `X-HTTP-Method-Override` — and query
// parameter names as qs (Express 4's query parser) reads them: `all[]` is `all`.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import qs from 'qs';
import { startHttpTestGateway, type HttpTestGateway } from '../support/http-gateway.js';

const UPSTREAM_TOKEN = 'wsgi-upstream-credential-3f9c1d';
const POLICY = `
@id("agents-connect")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"connect", resource);
@id("agents-write-notes")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"http_write", resource)
  when { context.path like "/notes/*" };
@id("agents-read")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"http_read", resource);
@id("no-bulk-export")
@reason("listing everything at once is closed to agents")
forbid (principal, action in Airlock::Action::"http_request", resource) when { context.queryParams.contains("all") };
@id("no-delete")
@reason("agents do not delete through the API")
forbid (principal, action == Airlock::Action::"http_delete", resource);
`;

let wsgi: ChildProcess;
/** Express 4's extended query parser (qs) in front of a list that `all` exports whole. */
let express: http.Server;
const exported: unknown[] = [];
let upstreamPort: number;
let gw: HttpTestGateway;
let token: string;

before(async () => {
  wsgi = spawn('python3', [new URL('../support/wsgi-upstream.py', import.meta.url).pathname, UPSTREAM_TOKEN], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(wsgi.stdout!, 'data')) as [Buffer];
  upstreamPort = Number(line.toString().trim());
  express = http.createServer((req, res) => {
    const query = qs.parse((req.url ?? '').split('?')[1] ?? '');
    if (req.headers.authorization !== `Bearer ${UPSTREAM_TOKEN}`) return void res.writeHead(401).end();
    if (query.all !== undefined) exported.push(query);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(query.all !== undefined ? { customers: ['everyone'] } : { customers: [] }));
  });
  express.listen(0, '127.0.0.1');
  await once(express, 'listening');
  gw = await startHttpTestGateway({
    targets: [
      { kind: 'http', name: 'notes', environment: 'test', credential: { type: 'bearer', secret: 'memory:notes-token' }, baseUrl: `http://127.0.0.1:${upstreamPort}` },
      { kind: 'http', name: 'crm', environment: 'test', credential: { type: 'bearer', secret: 'memory:notes-token' }, baseUrl: `http://127.0.0.1:${(express.address() as AddressInfo).port}` },
    ],
    memorySecrets: { 'notes-token': UPSTREAM_TOKEN },
    policy: POLICY,
  });
  token = await gw.token();
});
after(async () => {
  await gw?.stop();
  wsgi?.kill();
  express?.close();
});

function send(port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const upstreamLog = async () => JSON.parse((await send(upstreamPort, 'GET', '/__log', {})).body) as { method: string; path: string }[];

test('a method override under an underscore name does not turn an allowed POST into a DELETE at a WSGI upstream', async () => {
  // The policy forbids deletes: the override header is how an upstream would be told to delete anyway.
  const denied = await send(gw.httpPort, 'DELETE', '/notes/notes/1', { authorization: `Bearer ${token}` });
  assert.equal(denied.status, 403, denied.body);
  for (const name of ['X-HTTP-Method-Override', 'X_HTTP_Method_Override', 'x_http_method-override']) {
    const r = await send(gw.httpPort, 'POST', '/notes/notes/1', { authorization: `Bearer ${token}`, [name]: 'DELETE' });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(JSON.parse(r.body), { method: 'POST', path: '/notes/1' }, `${name}: the upstream acted on what policy decided`);
  }
  assert.ok((await upstreamLog()).every((e) => e.method !== 'DELETE'), 'the upstream deleted nothing');
});

test('a _method parameter (Symfony, Laravel, Rack) in the form body or the query is refused: the upstream would run it as a DELETE', async () => {
  const form = { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' };
  for (const [path, body] of [['/notes/notes/2', '_method=DELETE'], ['/notes/notes/2', 'title=x&_method=delete'], ['/notes/notes/2?_method=DELETE', 'title=x'], ['/notes/notes/2?%5Fmethod=DELETE', '']] as const) {
    const r = await send(gw.httpPort, 'POST', path, form, body);
    assert.equal(r.status, 400, `${path} ${body}: ${r.body}`);
    assert.equal(JSON.parse(r.body).code, 'method_override');
  }
  const multipart = '--b\r\ncontent-disposition: form-data; name="_method"\r\n\r\nDELETE\r\n--b--\r\n';
  const r = await send(gw.httpPort, 'POST', '/notes/notes/2', { authorization: `Bearer ${token}`, 'content-type': 'multipart/form-data; boundary=b' }, multipart);
  assert.equal(r.status, 400, r.body);
  const plain = await send(gw.httpPort, 'POST', '/notes/notes/2', form, 'title=x');
  assert.deepEqual(JSON.parse(plain.body), { method: 'POST', path: '/notes/2' });
  assert.ok((await upstreamLog()).every((e) => e.method !== 'DELETE'), 'the upstream deleted nothing');
});

test('a forbidden query parameter is seen as qs (Express 4) reads it: all[], all[x], %61ll[]', async () => {
  const plain = await send(gw.httpPort, 'GET', '/crm/customers?all=1', { authorization: `Bearer ${token}` });
  assert.equal(plain.status, 403, plain.body);
  for (const q of ['all[]=1', 'all[x]=1', '%61ll%5B%5D=1', 'page=2&all[0]=y']) {
    const r = await send(gw.httpPort, 'GET', `/crm/customers?${q}`, { authorization: `Bearer ${token}` });
    assert.equal(r.status, 403, `${q}: ${r.body}`);
  }
  const ok = await send(gw.httpPort, 'GET', '/crm/customers?page=2', { authorization: `Bearer ${token}` });
  assert.equal(ok.status, 200, ok.body);
  assert.deepEqual(exported, [], 'the upstream exported nothing');
});
