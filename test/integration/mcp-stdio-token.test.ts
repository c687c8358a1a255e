// `airlock mcp` with a token it cannot use stops before the MCP handshake, so an agent's health check
// (`claude mcp list`, `gemini mcp list`) reports a failure rather than a connected server whose every
// call then fails. Claude Code passes an unset `${AIRLOCK_TOKEN}` of a .mcp.json through verbatim.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPair, SignJWT } from 'jose';
import { AUDIENCE } from '../support/gateway.js';
import { startMcpTestGateway, stdioMcpClient, type McpTestGateway } from '../support/mcp.js';

let gw: McpTestGateway;

before(async () => {
  gw = await startMcpTestGateway(undefined, {
    // list_targets reads the configuration only: no upstream is reached in this file.
    targets: [{ kind: 'http', name: 'crm', environment: 'test', baseUrl: 'http://127.0.0.1:9/api', credential: { type: 'bearer', secret: 'memory:t' } }],
    memorySecrets: { t: 'unused' },
  });
});
after(async () => {
  await gw?.stop();
});

const INITIALIZE = `${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '0' } } })}\n`;

/** `airlock mcp` as a client spawns it: it must exit without answering the handshake, say why on stderr, and not echo the token. */
function refusedAtStart(token: string, why: RegExp): void {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'fargate-proxy/src/cli/main.ts', 'mcp', '-c', gw.configFile], {
    input: INITIALIZE,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', AIRLOCK_TOKEN: token },
    timeout: 60_000,
  });
  assert.notEqual(run.status, 0, run.stderr);
  assert.equal(run.stdout, '', 'no handshake answer');
  assert.match(run.stderr, why);
  assert.ok(!run.stderr.includes(token), 'the token is not echoed');
}

test('a valid token serves (the control)', async () => {
  const { client } = await stdioMcpClient(gw.configFile, await gw.token());
  const listed = (await client.callTool({ name: 'list_targets', arguments: {} })) as { content: { text: string }[] };
  assert.match(listed.content[0]!.text, /"crm"/);
  await client.close();
});

test('an unset variable passed through verbatim is refused before the handshake', async () => {
  refusedAtStart('${AIRLOCK_TOKEN}', /AIRLOCK_TOKEN cannot be used: it is not a JWT/);
});

test('an expired token is refused before the handshake', async () => {
  const { privateKey } = await generateKeyPair('ES256');
  const now = Math.floor(Date.now() / 1000);
  const expired = await new SignJWT({ sub: 'agent-1' })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' })
    .setIssuer('http://127.0.0.1')
    .setAudience(AUDIENCE)
    .setIssuedAt(now - 7200)
    .setExpirationTime(now - 3600)
    .sign(privateKey);
  refusedAtStart(expired, /AIRLOCK_TOKEN cannot be used: it expired at /);
});
