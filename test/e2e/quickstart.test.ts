// The README's quickstart, as a new user runs it: `airlock start` (what `npm start` runs), a token
// from `airlock token --client agent`, then psql through the gateway.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { discoverOAuthServerInfo, extractResourceMetadataUrl } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const dir = mkdtempSync(join(tmpdir(), 'airlock-quickstart-'));
let child: ChildProcess | undefined;

after(() => {
  child?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'fargate-proxy/src/cli/main.ts', ...args], { encoding: 'utf8', timeout: 60_000 });

test('start, get a token, query the demo database, see a refusal', async () => {
  const [pgPort, consolePort, issuerPort, httpPort, mcpPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  child = spawn(process.execPath, ['--import', 'tsx', 'fargate-proxy/src/cli/main.ts', 'start', '--data-dir', dir, '--pg-port', String(pgPort), '--console-port', String(consolePort), '--issuer-port', String(issuerPort), '--http-port', String(httpPort), '--mcp-port', String(mcpPort)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  await new Promise<void>((resolve, reject) => {
    child!.stdout!.on('data', (d) => {
      stdout += d;
      if (stdout.includes('Stop with Ctrl-C')) resolve();
    });
    child!.on('exit', (code) => reject(new Error(`airlock start exited (${code})`)));
  });
  assert.match(stdout, new RegExp(`psql "host=127\\.0\\.0\\.1 port=${pgPort} dbname=demo`));

  const token = cli(['token', '--client', 'agent', '-c', join(dir, 'config.yaml')]);
  assert.equal(token.status, 0, token.stderr);
  const pgpassword = token.stdout.trim();
  assert.match(pgpassword, /^[\w-]+\.[\w-]+\.[\w-]+$/);

  const psql = spawnSync(
    'psql',
    [`host=127.0.0.1 port=${pgPort} dbname=demo user=agent sslmode=disable`, '-X', '-At', '-c', 'SELECT count(*) FROM customers', '-c', 'SELECT email FROM customers ORDER BY id LIMIT 1', '-c', 'DELETE FROM orders'],
    { encoding: 'utf8', env: { ...process.env, PGPASSWORD: pgpassword }, timeout: 60_000 },
  );
  const lines = psql.stdout.trim().split('\n');
  assert.equal(lines[0], '200');
  assert.match(lines[1]!, /REDACTED/, 'customer e-mails are masked for the demo agent');
  assert.match(psql.stderr, /ERROR: {2}Airlock refused this destructive statement/);
  // The masked e-mails taught the gateway that customers.email is masked (in the background, on a
  // connection of its own): a condition on it is then refused, so it cannot be probed (docs/masking.md).
  let probe = { stdout: '', stderr: '' };
  for (let i = 0; i < 50 && !/Airlock refused/.test(probe.stderr); i++) {
    await new Promise((r) => setTimeout(r, 100));
    probe = spawnSync('psql', [`host=127.0.0.1 port=${pgPort} dbname=demo user=agent sslmode=disable`, '-X', '-At', '-c', "SELECT count(*) FROM customers WHERE email LIKE 'radia%'"], {
      encoding: 'utf8',
      env: { ...process.env, PGPASSWORD: pgpassword },
      timeout: 20_000,
    });
  }
  assert.match(probe.stderr, /Airlock refused this read statement: .*condition or ordering/);

  // The demo database serves a second session while a first holds a transaction open.
  assert.match(stdout, /The demo database is a throw-away PostgreSQL server: sessions run concurrently/);
  assert.match(stdout, /created afresh at each start/);
  const holder = new pg.Client({ host: '127.0.0.1', port: pgPort, database: 'demo', user: 'agent', password: pgpassword });
  await holder.connect();
  await holder.query('BEGIN');
  await holder.query('SELECT id FROM customers WHERE id = 1');
  const second = spawnSync('psql', [`host=127.0.0.1 port=${pgPort} dbname=demo user=agent sslmode=disable connect_timeout=5`, '-X', '-At', '-c', 'SELECT count(*) FROM orders'], {
    encoding: 'utf8',
    env: { ...process.env, PGPASSWORD: pgpassword },
    timeout: 20_000,
  });
  assert.equal(second.stdout.trim(), '1000', second.stderr);
  await holder.query('ROLLBACK');
  await holder.end();

  // The console's sign-in hint is a command that works (run here against this gateway's configuration).
  const page = await (await fetch(`http://127.0.0.1:${consolePort}/`)).text();
  const hint = /<code id="token-hint">npm run -s airlock -- ([^<]+)<\/code>/.exec(page);
  assert.ok(hint, 'the console tells a reviewer how to get a token');
  const reviewer = cli([...hint[1]!.split(' '), '-c', join(dir, 'config.yaml')]);
  assert.equal(reviewer.status, 0, reviewer.stderr);
  const me = await fetch(`http://127.0.0.1:${consolePort}/api/whoami`, { headers: { authorization: `Bearer ${reviewer.stdout.trim()}` } });
  assert.equal(me.status, 200);
  assert.equal(((await me.json()) as { reviewer: boolean }).reviewer, true);

  // --- http (issue 30): the demo HTTP API through the gateway, with the same token ---
  const api = await fetch(`http://127.0.0.1:${httpPort}/demo-api/v1/customers?limit=2`, { headers: { authorization: `Bearer ${pgpassword}` } });
  assert.equal(api.status, 200);
  assert.match(await api.text(), /REDACTED/, 'PII in the API response is masked');
  const admin = await fetch(`http://127.0.0.1:${httpPort}/demo-api/%61dmin`, { headers: { authorization: `Bearer ${pgpassword}` } });
  assert.equal(admin.status, 403);
  assert.equal(((await admin.json()) as { code: string }).code, 'policy_denied');
  // --- end http ---

  // --- mcp (issue 32): the MCP endpoint docs/agents.md points coding agents at ---
  const mcpUrl = `http://127.0.0.1:${mcpPort}/mcp`;
  assert.ok(stdout.includes(mcpUrl), 'the banner names the MCP endpoint');
  // Without a token, the discovery MCP clients run (the SDK's, as Claude Code and Codex do): the
  // 401 names the protected-resource metadata, which names the local issuer, whose metadata is served.
  const anonymous = await fetch(mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' });
  assert.equal(anonymous.status, 401);
  const resourceMetadataUrl = extractResourceMetadataUrl(anonymous);
  assert.ok(resourceMetadataUrl, 'WWW-Authenticate carries resource_metadata');
  const discovered = await discoverOAuthServerInfo(mcpUrl, { resourceMetadataUrl });
  assert.equal(discovered.resourceMetadata?.resource, mcpUrl);
  assert.equal(discovered.authorizationServerUrl, `http://127.0.0.1:${issuerPort}`);
  assert.equal(discovered.authorizationServerMetadata?.issuer, `http://127.0.0.1:${issuerPort}`);
  // With the token as bearer, as the agents' configurations send it.
  const mcp = new Client({ name: 'quickstart', version: '0' });
  await mcp.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { requestInit: { headers: { authorization: `Bearer ${pgpassword}` } } }));
  const listed = (await mcp.callTool({ name: 'list_targets', arguments: {} })) as { content: { type: string; text: string }[] };
  assert.deepEqual((JSON.parse(listed.content[0]!.text) as { targets: { name: string }[] }).targets.map((t) => t.name).sort(), ['demo', 'demo-api']);
  const query = (await mcp.callTool({ name: 'query', arguments: { target: 'demo', sql: 'SELECT email FROM customers ORDER BY id LIMIT 1' } })) as { content: { type: string; text: string }[] };
  assert.match(query.content[0]!.text, /REDACTED/, 'the tool gets the masked value psql gets');
  await mcp.close();
  // --- end mcp ---

  child.kill('SIGTERM');
  const code = await new Promise((r) => child!.once('exit', r));
  assert.equal(code, 0);
  child = undefined;
});
