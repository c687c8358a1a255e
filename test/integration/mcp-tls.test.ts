// Every listener on TLS (PostgreSQL without plaintext, HTTP, MCP, console) with a CA-signed
// certificate: the SDK's client reaches the MCP endpoint over HTTPS, and the tools reach the
// listeners with the configured certificate pinned — and refuse a listener that presents another.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import pg from 'pg';
import { Agent, fetch as undiciFetch } from 'undici';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { queryAsApp, startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { TEST_POLICY, pgTarget } from '../support/gateway.js';
import { makeTestCertificate, startHttpUpstream, UPSTREAM_TOKEN, type RunningUpstream } from '../support/http-upstream.js';
import { callTool, startMcpTestGateway, stdioMcpClient, toolErrorOf, type McpTestGateway } from '../support/mcp.js';
import { pinnedTls, tlsPin } from '../../fargate-proxy/src/mcp/endpoints.js';

const EMAIL = 'tls.person@example.com';
let server: RunningPostgres;
let up: RunningUpstream;
let gw: McpTestGateway;
let token: string;
let client: Client;
const cert = makeTestCertificate();
const other = makeTestCertificate();

before(async () => {
  server = await startPostgres();
  await queryAsApp(server, `CREATE TABLE people (id int, email text); INSERT INTO people VALUES (1, '${EMAIL}')`);
  up = await startHttpUpstream();
  const files = { certFile: cert.certFile, keyFile: cert.keyFile };
  gw = await startMcpTestGateway(server, {
    policy: `${TEST_POLICY}\n@id("agents-http-read")\npermit (principal in Airlock::Group::"agents", action == Airlock::Action::"http_read", resource);`,
    targets: [pgTarget(server), { kind: 'http', name: 'crm', environment: 'test', baseUrl: `${up.url}/api`, credential: { type: 'bearer', secret: 'memory:t' } }],
    memorySecrets: { t: UPSTREAM_TOKEN },
    extraListeners: {
      postgres: { host: '127.0.0.1', port: 0, tls: files },
      http: { host: '127.0.0.1', port: 0, tls: files },
      mcp: { host: '127.0.0.1', port: 0, tls: files },
      console: { host: '127.0.0.1', port: 0, tls: files },
    },
  });
  token = await gw.token();
  // The agent trusts the organisation's CA, as a real MCP client would.
  const dispatcher = new Agent({ connect: { ca: cert.ca } });
  client = new Client({ name: 'airlock-test', version: '0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(gw.mcpUrl), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
      fetch: ((url: string | URL, init?: RequestInit) => undiciFetch(url, { ...(init as object), dispatcher })) as unknown as typeof fetch,
    }),
  );
});
after(async () => {
  await client?.close();
  await gw?.stop();
  await up?.stop();
  await server?.stop();
  rmSync(cert.dir, { recursive: true, force: true });
  rmSync(other.dir, { recursive: true, force: true });
});

test('over HTTPS to the MCP endpoint, query and http_request reach the TLS listeners (certificate pinned)', async () => {
  assert.match(gw.mcpUrl, /^https:/);
  const q = await callTool(client, 'query', { target: 'app', sql: 'SELECT email FROM people' });
  assert.equal(q.result.isError, undefined, JSON.stringify(q.body));
  const value = (q.body.results as { rows: string[][] }[])[0]!.rows[0]![0]!;
  assert.notEqual(value, EMAIL, 'masked');
  const h = await callTool(client, 'http_request', { target: 'crm', path: '/customers' });
  assert.equal(h.result.isError, undefined, JSON.stringify(h.body));
  assert.equal(h.body.status, 200);
});

test('stdio reaches the same TLS listeners with the pins from the configuration', async () => {
  const { client: stdio, stderr } = await stdioMcpClient(gw.configFile, token);
  try {
    const q = await callTool(stdio, 'query', { target: 'app', sql: 'SELECT 1 AS one' });
    assert.equal(q.result.isError, undefined, `${JSON.stringify(q.body)} ${stderr()}`);
    const asked = await callTool(stdio, 'request_access', { title: 't', targets: ['app'], scope: ['read'], duration_minutes: 5 });
    assert.notEqual(toolErrorOf(asked)?.code, 'task_unavailable', 'the console API is reached over its pinned TLS');
  } finally {
    await stdio.close();
  }
});

test('a listener presenting a certificate other than the configured one is refused', async () => {
  const port = gw.gw.postgres!.port;
  const attempt = (file: string) =>
    new Promise<string>((resolve) => {
      const c = new pg.Client({ host: '127.0.0.1', port, database: 'app', user: 'x', password: token, ssl: pinnedTls(tlsPin(file)) as pg.ClientConfig['ssl'] });
      c.connect().then(
        () => void c.end().then(() => resolve('connected')),
        (err: Error) => resolve(err.message),
      );
    });
  assert.equal(await attempt(cert.certFile), 'connected');
  assert.match(await attempt(other.certFile), /certificate|verify/);
  // The fingerprint decides: no other certificate is accepted, whoever signed it.
  const otherLeaf = new X509Certificate(readFileSync(other.certFile));
  assert.ok(pinnedTls(tlsPin(cert.certFile)).checkServerIdentity('127.0.0.1', { fingerprint256: otherLeaf.fingerprint256 }) instanceof Error);
});
