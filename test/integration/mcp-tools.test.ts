// The MCP server end to end, driven by the official SDK's client over streamable HTTP (the gateway's
// MCP listener) and over stdio (a spawned `airlock mcp`), through a real gateway in front of a real
// PostgreSQL and a real HTTP API: tool calls allowed with masked output, refused (the table is still
// there), held until a reviewer decides (progress notifications) and audited once, on the same
// PostgreSQL path psql takes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { queryAsApp, startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { OUTSIDER, REVIEWER, TEST_POLICY, psql, pgTarget } from '../support/gateway.js';
import { startHttpUpstream, UPSTREAM_TOKEN, type RunningUpstream } from '../support/http-upstream.js';
import { callTool, httpMcpClient, startMcpTestGateway, stdioMcpClient, toolErrorOf, type McpTestGateway } from '../support/mcp.js';
import { expectAuditVerifies } from '../support/audit-trail.js';
import { approvalsApprove, approvalsDeny } from '../../fargate-proxy/src/cli/approval-commands.js';

const EMAIL = 'jane.doe@example.com';
const CARD = '4111 1111 1111 1111';

const POLICY = `${TEST_POLICY}
@id("agents-http-read")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"http_read", resource);
@id("no-admin")
@reason("the admin area is closed to agents")
forbid (principal, action in Airlock::Action::"http_request", resource) when { context.path == "/admin" };
@id("orders-need-approval")
@approval("required")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"http_write", resource) when { context.path == "/orders" };
`;

let server: RunningPostgres;
let up: RunningUpstream;
let gw: McpTestGateway;
let token: string;
let reviewer: string;
let http: Client;
const quiet = { out: () => undefined, err: () => undefined };

const direct = (sql: string) => queryAsApp(server, sql);
const tableExists = async (name: string) => (await direct(`SELECT to_regclass('public.${name}') IS NOT NULL AS present`)).rows[0].present as boolean;
const approvalIdIn = (message: string) => /request ([A-Za-z0-9_-]+) is waiting|approval ([A-Za-z0-9_-]+)/.exec(message)?.slice(1).find(Boolean);

before(async () => {
  server = await startPostgres();
  await direct(`CREATE TABLE customers (id int PRIMARY KEY, name text, email text, card text);
    INSERT INTO customers VALUES (1, 'Jane Doe', '${EMAIL}', '${CARD}'), (2, 'Bo Plain', 'nobody', 'n/a');`);
  up = await startHttpUpstream();
  gw = await startMcpTestGateway(server, {
    policy: POLICY,
    targets: [pgTarget(server), { kind: 'http', name: 'crm', environment: 'test', baseUrl: `${up.url}/api`, credential: { type: 'bearer', secret: 'memory:t' } }],
    memorySecrets: { t: UPSTREAM_TOKEN },
  });
  token = await gw.token();
  reviewer = await gw.token(REVIEWER);
  http = await httpMcpClient(gw.mcpUrl, token);
});
after(async () => {
  await http?.close();
  await gw?.stop();
  await up?.stop();
  await server?.stop();
});

test('the six tools are listed; list_targets names the targets and no address or credential', async () => {
  const { tools } = await http.listTools();
  assert.deepEqual(tools.map((t) => t.name).sort(), ['exec', 'http_request', 'list_targets', 'query', 'request_access', 'task_status']);
  const c = await callTool(http, 'list_targets', {});
  assert.deepEqual(
    (c.body.targets as { name: string; kind: string; tool: string }[]).map((t) => [t.name, t.kind, t.tool]),
    [['app', 'postgres', 'query'], ['crm', 'http', 'http_request']],
  );
  const text = JSON.stringify(c.result);
  assert.ok(!text.includes(String(server.port)) && !text.includes(up.url) && !text.includes(UPSTREAM_TOKEN), 'no address or credential');
});

test('query over HTTP: rows come back masked, as psql gets them', async () => {
  const c = await callTool(http, 'query', { target: 'app', sql: 'SELECT id, name, email, card FROM customers ORDER BY id' });
  assert.equal(c.result.isError, undefined, JSON.stringify(c.body));
  const [set] = c.body.results as { fields: string[]; rows: string[][]; command: string }[];
  assert.deepEqual(set!.fields, ['id', 'name', 'email', 'card']);
  assert.equal(set!.rows.length, 2);
  const text = JSON.stringify(c.result);
  assert.ok(!text.includes(EMAIL), 'the e-mail is masked');
  assert.ok(!text.includes('4111 1111 1111 1111') && !text.includes('4111111111111111'), 'the card number is masked');
  assert.equal(set!.rows[1]![2], 'nobody', 'a value that is not sensitive is unchanged');
  // psql through the same listener gets the same masked values.
  const viaPsql = await psql(gw.conninfo(), ['-At', '-c', 'SELECT email, card FROM customers WHERE id = 1'], { token });
  assert.equal(viaPsql.stdout.trim(), `${set!.rows[0]![2]}|${set!.rows[0]![3]}`);
});

test('query keeps max_rows rows and counts the rest; several statements give several result sets', async () => {
  const c = await callTool(http, 'query', { target: 'app', sql: 'SELECT g FROM generate_series(1, 3000) g; SELECT 1 AS one', max_rows: 10 });
  assert.equal(c.result.isError, undefined, JSON.stringify(c.body));
  const sets = c.body.results as { rows: string[][]; omittedRows: number; rowCount: number; command: string }[];
  assert.equal(sets.length, 2);
  assert.equal(sets[0]!.rows.length, 10);
  assert.deepEqual(sets[0]!.rows[9], ['10']);
  assert.equal(sets[0]!.omittedRows, 2990);
  assert.equal(sets[0]!.rowCount, 3000);
  assert.equal(sets[1]!.omittedRows, 1, 'the budget of kept rows is per call');
});

test('a refused statement is a tool error with policy_denied; the table is still there', async () => {
  const c = await callTool(http, 'query', { target: 'app', sql: 'DROP TABLE customers' });
  assert.equal(c.result.isError, true);
  const e = toolErrorOf(c);
  assert.equal(e.code, 'policy_denied');
  assert.match(e.message, /Airlock refused this destructive statement/);
  assert.ok(e.hint, 'says what to do next');
  assert.equal(await tableExists('customers'), true);
  assert.equal((await direct('SELECT count(*)::int AS n FROM customers')).rows[0].n, 2);
});

test('a held statement reports progress, runs once approved, and is audited once on the PostgreSQL path', async () => {
  const sql = 'CREATE TABLE mcp_approved (id int)';
  const approved: Promise<number>[] = [];
  const c = await callTool(http, 'query', { target: 'app', sql }, (message) => {
    const id = approvalIdIn(message);
    if (id) approved.push(approvalsApprove({ url: gw.gw.consoleUrl!, token: reviewer, id }, quiet));
  });
  assert.equal(approved.length, 1, 'one progress notification named the approval');
  assert.equal(await approved[0], 0);
  assert.equal(c.result.isError, undefined, JSON.stringify(c.body));
  assert.match(c.progress[0]!, /needs approval .*waiting for a reviewer/);
  assert.equal(await tableExists('mcp_approved'), true);

  const records = await gw.auditRecords();
  const statements = records.filter((r) => r.type === 'statement' && (r as { text?: string }).text === sql);
  assert.equal(statements.length, 1, 'the statement is in the trail once');
  const session = records.find((r) => r.type === 'session.start' && r.sessionId === statements[0]!.sessionId) as { protocol?: string; principal?: { id: string } } | undefined;
  assert.equal(session?.protocol, 'postgres', 'recorded by the PostgreSQL engine, as psql would be');
  assert.equal(session?.principal?.id, 'agent-1');
  assert.ok(records.some((r) => r.type === 'approval' && r.sessionId === statements[0]!.sessionId && (r as { state?: string }).state === 'approved'));
});

test('a held statement a reviewer denies is approval_denied, with the approval id; nothing ran', async () => {
  const sql = 'CREATE TABLE mcp_denied (id int)';
  const denied: Promise<number>[] = [];
  const c = await callTool(http, 'query', { target: 'app', sql }, (message) => {
    const id = approvalIdIn(message);
    if (id) denied.push(approvalsDeny({ url: gw.gw.consoleUrl!, token: reviewer, id, reason: 'not during the freeze' }, quiet));
  });
  assert.equal(await denied[0], 0);
  assert.equal(c.result.isError, true);
  const e = toolErrorOf(c);
  assert.equal(e.code, 'approval_denied');
  assert.match(e.message, /not during the freeze/);
  assert.ok(e.next?.approvalId, 'names the approval');
  assert.equal(await tableExists('mcp_denied'), false);
});

test('http_request: masked body, refusal with the listener\'s code, a held request approved then run once', async () => {
  const ok = await callTool(http, 'http_request', { target: 'crm', method: 'GET', path: '/customers' });
  assert.equal(ok.result.isError, undefined, JSON.stringify(ok.body));
  assert.equal(ok.body.status, 200);
  assert.ok(!String(ok.body.body).includes('ada@example.com') && !String(ok.body.body).includes('4111 1111 1111 1111'), 'masked');
  assert.ok(!JSON.stringify(ok.result).includes(UPSTREAM_TOKEN));

  const refused = await callTool(http, 'http_request', { target: 'crm', method: 'GET', path: '/admin' });
  assert.equal(toolErrorOf(refused).code, 'policy_denied');
  assert.equal(up.requests.filter((r) => r.routedPath === '/api/admin').length, 0, 'never forwarded');

  const before = up.requests.filter((r) => r.routedPath === '/api/orders' && r.method === 'POST').length;
  const approved: Promise<number>[] = [];
  const held = await callTool(http, 'http_request', { target: 'crm', method: 'POST', path: '/orders', headers: { 'content-type': 'application/json' }, body: '{"item":"mcp"}' }, (message) => {
    const id = approvalIdIn(message);
    if (id && approved.length === 0) approved.push(approvalsApprove({ url: gw.gw.consoleUrl!, token: reviewer, id }, quiet));
  });
  assert.equal(await approved[0], 0);
  assert.equal(held.result.isError, undefined, JSON.stringify(held.body));
  assert.ok(held.progress.length >= 1);
  assert.equal(up.requests.filter((r) => r.routedPath === '/api/orders' && r.method === 'POST').length, before + 1, 'ran exactly once');
});

test('an agent the target is not open to gets policy_denied at connect', async () => {
  const outsider = await httpMcpClient(gw.mcpUrl, await gw.token(OUTSIDER));
  try {
    const c = await callTool(outsider, 'query', { target: 'app', sql: 'SELECT 1' });
    const e = toolErrorOf(c);
    assert.equal(e.code, 'policy_denied', JSON.stringify(e));
    assert.match(e.message, /may not connect/);
  } finally {
    await outsider.close();
  }
});

test('a target of another kind or an unknown one is a clear tool error', async () => {
  assert.equal(toolErrorOf(await callTool(http, 'query', { target: 'crm', sql: 'SELECT 1' })).code, 'wrong_tool');
  assert.equal(toolErrorOf(await callTool(http, 'query', { target: 'nope', sql: 'SELECT 1' })).code, 'unknown_target');
});

test('remote authorization: 401 with resource_metadata; the metadata names the issuer; a forged token is refused and audited', async () => {
  const res = await fetch(gw.mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' });
  assert.equal(res.status, 401);
  const challenge = res.headers.get('www-authenticate') ?? '';
  const metadataUrl = /resource_metadata="([^"]+)"/.exec(challenge)?.[1];
  assert.ok(metadataUrl, challenge);
  const meta = (await (await fetch(metadataUrl)).json()) as { resource: string; authorization_servers: string[] };
  assert.equal(meta.resource, gw.mcpUrl);
  assert.deepEqual(meta.authorization_servers, [gw.gw.issuer]);
  const root = (await (await fetch(new URL('/.well-known/oauth-protected-resource', gw.mcpUrl))).json()) as { resource: string };
  assert.equal(root.resource, gw.mcpUrl);

  const forged = `${token.slice(0, -4)}AAAA`;
  const bad = await fetch(gw.mcpUrl, { method: 'POST', headers: { authorization: `Bearer ${forged}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' });
  assert.equal(bad.status, 401);
  assert.match(bad.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
  const text = await bad.text();
  assert.ok(!text.includes(forged));
  assert.ok((await gw.auditRecords()).some((r) => r.type === 'auth.refused'), 'the refusal is audited');
  // A page of another origin (DNS rebinding) is refused even with a valid token.
  const foreign = await fetch(gw.mcpUrl, { method: 'POST', headers: { origin: 'http://evil.example', authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' });
  assert.equal(foreign.status, 403);
  // The SDK client with a forged token cannot connect at all.
  await assert.rejects(httpMcpClient(gw.mcpUrl, forged));
});

test('stdio: `airlock mcp` runs the same tools through the same listeners', async () => {
  const { client, stderr } = await stdioMcpClient(gw.configFile, token);
  try {
    const ok = await callTool(client, 'query', { target: 'app', sql: 'SELECT email AS via_stdio FROM customers WHERE id = 1' });
    assert.equal(ok.result.isError, undefined, `${JSON.stringify(ok.body)} ${stderr()}`);
    const [set] = ok.body.results as { rows: string[][] }[];
    assert.equal(set!.rows.length, 1);
    assert.notEqual(set!.rows[0]![0], EMAIL, 'masked');

    const refused = await callTool(client, 'query', { target: 'app', sql: 'TRUNCATE customers' });
    assert.equal(toolErrorOf(refused).code, 'policy_denied');
    assert.equal((await direct('SELECT count(*)::int AS n FROM customers')).rows[0].n, 2);

    const records = await gw.auditRecords();
    // Literals and comments are masked in the trail; the column alias is not.
    assert.equal(records.filter((r) => r.type === 'statement' && String((r as { text?: string }).text).includes('AS via_stdio')).length, 1);
    assert.equal(records.filter((r) => r.type === 'statement' && (r as { text?: string }).text === 'TRUNCATE customers' && (r as { decision?: { effect: string } }).decision?.effect === 'deny').length, 1);
    assert.ok(!stderr().includes(token), 'the token never reaches stderr');
  } finally {
    await client.close();
  }
});

test('stdio with --client: tokens come from the local issuer', async () => {
  const { client, stderr } = await stdioMcpClient(gw.configFile, { client: 'agent-1' });
  try {
    const c = await callTool(client, 'query', { target: 'app', sql: 'SELECT 1 AS via_client' });
    assert.equal(c.result.isError, undefined, `${JSON.stringify(c.body)} ${stderr()}`);
    assert.deepEqual((c.body.results as { rows: string[][] }[])[0]!.rows, [['1']]);
  } finally {
    await client.close();
  }
});

test('request_access for a task no policy allows is denied, and says why', async () => {
  const c = await callTool(http, 'request_access', { title: 'fix invoice 4312', targets: ['app'], scope: ['write:customers'], duration_minutes: 30 });
  assert.equal(c.result.isError, true);
  assert.equal(c.body.state, 'denied', JSON.stringify(c.body));
  assert.ok(String(c.body.reason).length > 0);
});

test('the trail verifies', async () => {
  await expectAuditVerifies(gw);
});
