// The MCP `exec` tool through the gateway's SSH listener to a real OpenSSH server, driven by the
// SDK's client over streamable HTTP and stdio: output masked, a destructive command refused (the
// file is still there), a write held until a reviewer approves (progress), each audited once by
// the SSH engine, as `ssh target@gateway` would be.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { sshSkipReason, startSshd, type RunningSshd } from '../support/sshd.js';
import { generateSshHostKey } from '../support/ssh-host-key.js';
import { REVIEWER } from '../support/gateway.js';
import { callTool, httpMcpClient, startMcpTestGateway, stdioMcpClient, toolErrorOf, type McpTestGateway } from '../support/mcp.js';
import { approvalsApprove } from '../../fargate-proxy/src/cli/approval-commands.js';

const POLICY = `
@id("agents-connect")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"connect", resource);
@id("agents-read")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"command_read", resource);
@id("writes-need-approval")
@approval("required")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"command_write", resource);
@id("no-destructive")
@reason("agents do not delete files")
forbid (principal, action == Airlock::Action::"command_destructive", resource);
`;
const AWS_KEY = 'AKIAIOSFODNN7EXAMPLE';
const EMAIL = 'ops.lead@example.com';

const skip = sshSkipReason();
let sshd: RunningSshd;
let gw: McpTestGateway;
let token: string;
let reviewer: string;
let http: Client;
const quiet = { out: () => undefined, err: () => undefined };

before(async () => {
  if (skip) return;
  sshd = await startSshd();
  const owner = statSync(sshd.workDir);
  for (const [name, text] of [['notes.txt', `contact ${EMAIL}\nkey ${AWS_KEY}\nplain line\n`], ['keep.txt', 'keep me\n']] as const) {
    writeFileSync(join(sshd.workDir, name), text);
    chownSync(join(sshd.workDir, name), owner.uid, owner.gid);
  }
  gw = await startMcpTestGateway(undefined, {
    policy: POLICY,
    targets: [{ kind: 'ssh', name: 'box', environment: 'test', host: sshd.host, port: sshd.port, user: sshd.user, credential: 'memory:box-key', hostKeys: [sshd.hostKeyLine] }],
    memorySecrets: { 'box-key': sshd.clientKey },
    config: (raw) => {
      const hostKeyFile = join(String(raw.dataDir), '..', 'gateway_host_key');
      writeFileSync(hostKeyFile, generateSshHostKey(), { mode: 0o600 });
      (raw.listeners as Record<string, unknown>).ssh = { host: '127.0.0.1', port: 0, hostKeyFiles: [hostKeyFile] };
    },
  });
  token = await gw.token();
  reviewer = await gw.token(REVIEWER);
  http = await httpMcpClient(gw.mcpUrl, token);
});
after(async () => {
  await http?.close();
  await gw?.stop();
  await sshd?.stop();
});

test('exec: output comes back masked, with the exit status', { skip }, async () => {
  const c = await callTool(http, 'exec', { target: 'box', command: `cat ${join(sshd.workDir, 'notes.txt')}` });
  assert.equal(c.result.isError, undefined, JSON.stringify(c.body));
  assert.equal(c.body.exitStatus, 0);
  const out = String(c.body.stdout);
  assert.match(out, /plain line/);
  assert.ok(!out.includes(EMAIL) && !out.includes(AWS_KEY), `masked: ${out}`);
  assert.ok(!JSON.stringify(c.result).includes(sshd.clientKey.slice(40, 80)), 'the target credential never appears');
});

test('exec: a destructive command is refused with policy_denied; the file is still there', { skip }, async () => {
  const file = join(sshd.workDir, 'keep.txt');
  const c = await callTool(http, 'exec', { target: 'box', command: `rm -f ${file}` });
  assert.equal(c.result.isError, true);
  const e = toolErrorOf(c);
  assert.equal(e.code, 'policy_denied', JSON.stringify(e));
  assert.match(e.message, /^airlock: refused/);
  assert.ok(existsSync(file));
});

test('exec: a write is held, reported as progress, runs once approved and is audited once by the SSH engine', { skip }, async () => {
  const file = join(sshd.workDir, 'approved.txt');
  const approved: Promise<number>[] = [];
  const c = await callTool(http, 'exec', { target: 'box', command: `touch ${file}` }, (message) => {
    const id = /request ([A-Za-z0-9_-]+) is waiting/.exec(message)?.[1];
    if (id) approved.push(approvalsApprove({ url: gw.gw.consoleUrl!, token: reviewer, id }, quiet));
  });
  assert.equal(approved.length, 1, `progress: ${JSON.stringify(c.progress)}`);
  assert.equal(await approved[0], 0);
  assert.equal(c.result.isError, undefined, JSON.stringify(c.body));
  assert.ok(existsSync(file));
  const records = await gw.auditRecords();
  const statements = records.filter((r) => r.type === 'statement' && String((r as { text?: string }).text).startsWith('touch '));
  assert.equal(statements.length, 1);
  const session = records.find((r) => r.type === 'session.start' && r.sessionId === statements[0]!.sessionId) as { protocol?: string } | undefined;
  assert.equal(session?.protocol, 'ssh');
});

test('stdio: `airlock mcp` runs exec through the same SSH listener, pinning its host key', { skip }, async () => {
  const { client, stderr } = await stdioMcpClient(gw.configFile, token);
  try {
    const c = await callTool(client, 'exec', { target: 'box', command: 'echo via-stdio' });
    assert.equal(c.result.isError, undefined, `${JSON.stringify(c.body)} ${stderr()}`);
    assert.equal(String(c.body.stdout).trim(), 'via-stdio');
    const refused = await callTool(client, 'exec', { target: 'box', command: `rm -f ${join(sshd.workDir, 'keep.txt')}` });
    assert.equal(toolErrorOf(refused).code, 'policy_denied');
    assert.ok(existsSync(join(sshd.workDir, 'keep.txt')));
  } finally {
    await client.close();
  }
});
