// Header names as CGI-style upstreams read them: Python's wsgiref (the real server, in a child
// process) files `X_HTTP_Method_Override` under the same key as `X-HTTP-Method-Override`, so a
// header the gateway drops by name must not reach such an upstream under its underscore spelling.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { once } from 'node:events';
import { startHttpTestGateway, type HttpTestGateway } from '../support/http-gateway.js';

const UPSTREAM_TOKEN = 'wsgi-upstream-credential-3f9c1d';
const POLICY = `
@id("agents-connect")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"connect", resource);
@id("agents-write-notes")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"http_write", resource)
  when { context.path like "/notes/*" };
@id("no-delete")
@reason("agents do not delete through the API")
forbid (principal, action == Airlock::Action::"http_delete", resource);
`;

let wsgi: ChildProcess;
let upstreamPort: number;
let gw: HttpTestGateway;
let token: string;

before(async () => {
  wsgi = spawn('python3', [new URL('../support/wsgi-upstream.py', import.meta.url).pathname, UPSTREAM_TOKEN], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(wsgi.stdout!, 'data')) as [Buffer];
  upstreamPort = Number(line.toString().trim());
  gw = await startHttpTestGateway({
    targets: [{ kind: 'http', name: 'notes', environment: 'test', credential: { type: 'bearer', secret: 'memory:notes-token' }, baseUrl: `http://127.0.0.1:${upstreamPort}` }],
    memorySecrets: { 'notes-token': UPSTREAM_TOKEN },
    policy: POLICY,
  });
  token = await gw.token();
});
after(async () => {
  await gw?.stop();
  wsgi?.kill();
});

function send(port: number, method: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
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
