// Approval for interactive shells and SFTP operations: held on the same path as exec commands,
// decided by a reviewer through the local approval service, then carried out (or refused).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sshSkipReason, startSshd, type RunningSshd } from '../support/sshd.js';
import { gatewaySshArgs, runClient, SSH_REVIEWER, startTestSshGateway, type TestSshGateway } from '../support/ssh-gateway.js';

const POLICY = `
@id("agents-connect")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"connect", resource);
@id("agents-read")
permit (principal in Airlock::Group::"agents", action in [Airlock::Action::"command_read", Airlock::Action::"file_read"], resource);
@id("uploads-need-approval")
@approval("required")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"file_write", resource);
@id("shells-need-approval")
@approval("required")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"interactive_shell", resource);
`;

const skip = sshSkipReason();
let sshd: RunningSshd;
let gw: TestSshGateway;
const reviewer = { id: SSH_REVIEWER.clientId, groups: SSH_REVIEWER.groups, issuer: 'test' };

before(async () => {
  if (skip) return;
  sshd = await startSshd();
  gw = await startTestSshGateway(sshd, POLICY);
});
after(async () => {
  await gw?.stop();
  await sshd?.stop();
});

async function nextPending(): Promise<{ id: string; statementText: string }> {
  for (let i = 0; i < 200; i++) {
    const p = (await gw.approvals.listPending())[0];
    if (p) return p;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no approval request was opened');
}

const sftpBatch = async (commands: string[]) =>
  runClient('sftp', ['-o', 'BatchMode=no', ...gatewaySshArgs(gw.port).slice(0, -3), '-P', String(gw.port), '-b', '-', 'box@127.0.0.1'], { password: await gw.token(), input: `${commands.join('\n')}\n` });

test('an SFTP upload that needs approval waits for the reviewer, then the file is written', { skip }, async () => {
  const dest = join(sshd.workDir, 'approved.txt');
  const running = sftpBatch([`put /etc/hostname ${dest}`]);
  const pending = await nextPending();
  assert.equal(pending.statementText, `sftp open ${dest}`);
  assert.ok(!existsSync(dest), 'nothing is written while the request waits');
  await gw.approvals.decide(pending.id, reviewer, { verdict: 'approve', scope: 'once', reason: 'ok' });
  const r = await running;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFileSync(dest, 'utf8'), readFileSync('/etc/hostname', 'utf8'));
  const records = await gw.auditRecords();
  const stmt = records.find((e) => e.type === 'statement' && e.text === `sftp open ${dest}`);
  assert.ok(stmt && stmt.type === 'statement');
  assert.equal(stmt.decision.effect, 'allow');
  assert.equal(stmt.approvalId, pending.id);
  assert.ok(records.some((e) => e.type === 'approval' && e.approvalId === pending.id && e.state === 'approved'));
});

test('an SFTP upload whose approval is denied is refused and writes nothing', { skip }, async () => {
  const dest = join(sshd.workDir, 'denied.txt');
  const running = sftpBatch([`put /etc/hostname ${dest}`]);
  const pending = await nextPending();
  await gw.approvals.decide(pending.id, reviewer, { verdict: 'deny', reason: 'no uploads today' });
  const r = await running;
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /Permission denied/);
  assert.ok(!existsSync(dest));
});

test('an interactive shell that needs approval opens once approved', { skip }, async () => {
  const running = runClient('ssh', ['-tt', ...gatewaySshArgs(gw.port)], { password: await gw.token(), input: `printf '%s-%s\\n' shell approved\nexit\n`, timeoutMs: 20_000 });
  const pending = await nextPending();
  assert.match(pending.statementText, /^interactive shell/);
  await gw.approvals.decide(pending.id, reviewer, { verdict: 'approve', scope: 'once', reason: 'ok' });
  const r = await running;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout.toString(), /shell-approved/);
  assert.match(r.stderr + r.stdout.toString(), /needs approval/, 'the agent was told it waits');
});

test('an interactive shell whose approval is denied is refused (126)', { skip }, async () => {
  const running = runClient('ssh', ['-T', ...gatewaySshArgs(gw.port)], { password: await gw.token(), input: 'echo hi\n' });
  const pending = await nextPending();
  await gw.approvals.decide(pending.id, reviewer, { verdict: 'deny', reason: 'use exec' });
  const r = await running;
  assert.equal(r.code, 126);
  assert.match(r.stderr, /airlock: refused: approval denied by ssh-reviewer: use exec/);
  assert.doesNotMatch(r.stdout.toString(), /hi/);
});
