// The SSH path end to end: the real ssh client → Airlock → a real OpenSSH server started here.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { sshSkipReason, startSshd, type RunningSshd } from '../support/sshd.js';
import { directSshArgs, gatewaySshArgs, runClient, sshTarget, startTestSshGateway, type TestSshGateway } from '../support/ssh-gateway.js';

const POLICY = `
@id("agents-connect")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"connect", resource);
@id("agents-read")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"command_read", resource);
@id("agents-write")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"command_write", resource);
@id("no-destructive-commands")
@reason("deleting files and disk tools are not allowed for agents")
forbid (principal, action == Airlock::Action::"command_destructive", resource);
@id("sudo-needs-approval")
@approval("required")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"command_privileged", resource) when { context.sudo };
`;

const skip = sshSkipReason();
let sshd: RunningSshd;
let gw: TestSshGateway;
let token: string;

before(async () => {
  if (skip) return;
  sshd = await startSshd();
  const wrongKey = { ...sshTarget(sshd, { hostKeys: ['SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU'] }) };
  wrongKey.info = { ...wrongKey.info, name: 'impostor' };
  gw = await startTestSshGateway(sshd, POLICY, [sshTarget(sshd), wrongKey]);
  token = await gw.token();
});
after(async () => {
  await gw?.stop();
  await sshd?.stop();
});

const viaGateway = (command: string, o: { password?: string; target?: string } = {}) =>
  runClient('ssh', [...gatewaySshArgs(gw.port, o.target), command], { password: o.password ?? token });
const direct = (command: string) => runClient('ssh', [...directSshArgs(sshd), command]);

test('an allowed command behaves exactly as over a direct connection: output, stderr and exit status', { skip }, async () => {
  const command = 'echo hello; uname -s; echo oops >&2; exit 3';
  const [a, b] = await Promise.all([viaGateway(command), direct(command)]);
  assert.equal(a.code, 3);
  assert.equal(a.code, b.code);
  assert.equal(a.stdout.toString(), b.stdout.toString());
  assert.equal(a.stderr, b.stderr);
  assert.equal(a.stdout.toString(), 'hello\nLinux\n');
});

test('both legs of a session turn Nagle off, as OpenSSH does, so small requests are not held back', { skip }, async () => {
  // Nagle on the gateway's sockets made each SFTP request or channel message wait for the previous
  // one's ACK: scp ran at 0.31 of direct, at 0.62-0.69 with it off (docs/benchmarks.md).
  const original = Socket.prototype.setNoDelay;
  const calls: { local?: number; remote?: number; on: boolean }[] = [];
  Socket.prototype.setNoDelay = function (this: Socket, on?: boolean) {
    calls.push({ local: this.localPort, remote: this.remotePort, on: on !== false });
    return original.call(this, on);
  };
  try {
    const r = await viaGateway('true');
    assert.equal(r.code, 0, r.stderr);
  } finally {
    Socket.prototype.setNoDelay = original;
  }
  assert.ok(calls.some((c) => c.local === gw.port && c.on), `agent-facing socket: ${JSON.stringify(calls)}`);
  assert.ok(calls.some((c) => c.remote === sshd.port && c.on), `upstream socket: ${JSON.stringify(calls)}`);
  assert.ok(!calls.some((c) => (c.local === gw.port || c.remote === sshd.port) && !c.on));
});

test('large outputs are streamed through unchanged', { skip }, async () => {
  const a = await viaGateway('seq 1 200000');
  const b = await direct('seq 1 200000');
  assert.equal(a.code, 0);
  assert.equal(a.stdout.length, b.stdout.length);
  assert.ok(a.stdout.equals(b.stdout));
});

test('standard input reaches the command', { skip }, async () => {
  const r = await runClient('ssh', [...gatewaySshArgs(gw.port), 'wc -c'], { password: token, input: 'x'.repeat(100_000) });
  assert.equal(r.code, 0);
  assert.equal(r.stdout.toString().trim(), '100000');
});

test('a refused command never runs: exit 126, a clear message, no side effect on the server', { skip }, async () => {
  const victim = join(sshd.workDir, 'victim');
  assert.equal((await direct(`touch ${victim}`)).code, 0);
  const made = join(sshd.workDir, 'dd-made');
  for (const command of [`rm -f ${victim}`, `dd if=/dev/zero of=${made} count=1`, `echo fine; rm -f ${victim}`]) {
    const r = await viaGateway(command);
    assert.equal(r.code, 126, command);
    assert.match(r.stderr, /airlock: refused: .*no-destructive-commands/);
    assert.match(r.stderr, /^airlock: code=policy_denied$/m, 'the refusal contract\'s code (docs/tasks.md)');
    assert.equal(r.stdout.length, 0, 'nothing of a refused line runs, not even its harmless part');
  }
  assert.ok(existsSync(victim), 'the file the refused rm named is still there');
  assert.ok(!existsSync(made), 'the refused dd created nothing');
  const records = await gw.auditRecords();
  const denied = records.filter((e) => e.type === 'statement' && e.decision.effect === 'deny' && e.text.startsWith('rm -f'));
  assert.ok(denied.length >= 1, 'refusals are audited');
});

test('allowed commands are audited before they run, with an outcome after', { skip }, async () => {
  const marker = join(sshd.workDir, 'audited');
  const r = await viaGateway(`touch ${marker}`);
  assert.equal(r.code, 0);
  assert.ok(existsSync(marker));
  const records = await gw.auditRecords();
  const stmt = records.find((e) => e.type === 'statement' && e.text === `touch ${marker}`);
  assert.ok(stmt && stmt.type === 'statement');
  assert.equal(stmt.decision.effect, 'allow');
  assert.equal(stmt.class, 'write');
  const outcome = records.find((e) => e.type === 'statement.outcome' && e.statementId === stmt.statementId);
  assert.ok(outcome && outcome.type === 'statement.outcome' && outcome.status === 'ok');
  assert.ok(records.some((e) => e.type === 'session.start' && e.protocol === 'ssh' && e.sessionId === stmt.sessionId));
});

test('a bad token is refused at login and audited', { skip }, async () => {
  const r = await viaGateway('echo should-not-run', { password: 'not-a-token' });
  assert.ok(r.code === 5 || r.code === 255, `sshpass reports a wrong password (5) or ssh fails (255), got ${r.code}`);
  assert.doesNotMatch(r.stdout.toString(), /should-not-run/);
  const records = await gw.auditRecords();
  assert.ok(records.some((e) => e.type === 'auth.refused' && e.code.startsWith('token_')));
});

test('a target whose host key is not pinned is refused', { skip }, async () => {
  const r = await viaGateway('echo should-not-run', { target: 'impostor' });
  assert.equal(r.code, 255);
  assert.match(r.stderr, /not pinned/);
  assert.doesNotMatch(r.stdout.toString(), /should-not-run/);
});

test('port forwarding is refused unless policy permits it', { skip }, async () => {
  const r = await runClient('ssh', ['-W', `127.0.0.1:${sshd.port}`, ...gatewaySshArgs(gw.port)], { password: token, timeoutMs: 15_000 });
  assert.notEqual(r.code, 0);
  const records = await gw.auditRecords();
  const refusal = records.find((e) => e.type === 'statement' && e.text === `port forwarding to 127.0.0.1:${sshd.port}`);
  assert.ok(refusal && refusal.type === 'statement' && refusal.decision.effect === 'deny', 'the refusal is audited');
});

test('interactive shells are refused with a clear message unless policy permits them', { skip }, async () => {
  const r = await runClient('ssh', ['-T', ...gatewaySshArgs(gw.port)], { password: token, input: 'echo hi\n' });
  assert.equal(r.code, 126);
  assert.match(r.stderr, /airlock: refused: .*interactive shell on target "box"/);
  assert.doesNotMatch(r.stdout.toString(), /hi/);
});

test('a command that needs approval waits, and a reviewer denial refuses it', { skip }, async () => {
  const pending = viaGateway('sudo -n true');
  let id: string | undefined;
  for (let i = 0; i < 100 && !id; i++) {
    id = (await gw.approvals.listPending())[0]?.id;
    if (!id) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(id, 'an approval request was opened');
  await gw.approvals.decide(id, { id: 'ssh-reviewer', groups: ['reviewers'], issuer: 'test' }, { verdict: 'deny', reason: 'not today' });
  const r = await pending;
  assert.equal(r.code, 126);
  assert.match(r.stderr, /needs approval/);
  assert.match(r.stderr, /approval denied by ssh-reviewer: not today/);
});
