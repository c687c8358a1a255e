// Interactive shells through the gateway: the real `ssh -tt` (input from a pipe) → Airlock → a real
// sshd. Each line is decided before it is sent; the session is recorded as asciicast v2.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chownSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sshSkipReason, startSshd, type RunningSshd } from '../support/sshd.js';
import { openPtyShell } from '../support/pty-shell.js';
import { gatewaySshArgs, runClient, startTestSshGateway, type TestSshGateway } from '../support/ssh-gateway.js';
import { replayOutput } from '../../fargate-proxy/src/protocols/ssh/asciicast.js';
import type { AuditRecord } from '../../core/audit/events.js';

const POLICY = `
@id("agents-connect")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"connect", resource);
@id("agents-shell")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"interactive_shell", resource);
@id("agents-read")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"command_read", resource);
@id("agents-write")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"command_write", resource);
@id("no-destructive-commands")
@reason("deleting files and disk tools are not allowed for agents")
forbid (principal, action == Airlock::Action::"command_destructive", resource);
@id("process-control-needs-approval")
@approval("required")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"command_privileged", resource);
`;

const skip = sshSkipReason();
let sshd: RunningSshd;
let gw: TestSshGateway;

before(async () => {
  if (skip) return;
  sshd = await startSshd();
  gw = await startTestSshGateway(sshd, POLICY, undefined, { recordings: true });
});
after(async () => {
  await gw?.stop();
  await sshd?.stop();
});

type Statement = Extract<AuditRecord, { type: 'statement' }>;
type Outcome = Extract<AuditRecord, { type: 'statement.outcome' }>;

/** The shell's outcome is appended once the recording is on disk: wait for it. */
async function shellOutcome(sessionId: string): Promise<{ shell: Statement; outcome: Outcome; records: AuditRecord[] }> {
  for (let i = 0; i < 100; i++) {
    const records = (await gw.auditRecords()).filter((e) => e.sessionId === sessionId);
    const shell = records.find((e): e is Statement => e.type === 'statement' && e.text.startsWith('interactive shell'));
    const outcome = shell && records.find((e): e is Outcome => e.type === 'statement.outcome' && e.statementId === shell.statementId);
    if (shell && outcome) return { shell, outcome, records };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no shell outcome in the audit');
}

test('ssh -tt: allowed lines run, a refused rm never runs, the session carries on, the recording replays the same output', { skip }, async () => {
  const victim = join(sshd.workDir, 'shell-victim');
  writeFileSync(victim, 'keep me');
  const { uid, gid } = statSync(sshd.workDir);
  chownSync(victim, uid, gid);
  // printf's output (abc-def) differs from its echoed input, so output proves the line ran.
  const script = [`printf '%s-%s\\n' abc def`, `rm -f ${victim}`, `printf '%s+%s\\n' after refusal`, 'exit'].join('\n') + '\n';
  const r = await runClient('ssh', ['-tt', ...gatewaySshArgs(gw.port)], { password: await gw.token(), input: script, timeoutMs: 20_000 });
  const out = r.stdout.toString();
  assert.equal(r.code, 0, `${r.stderr}\n${out}`);
  assert.match(out, /abc-def/, 'the allowed line ran');
  assert.match(out, /airlock: refused: .*no-destructive-commands[\s\S]*the line was not sent/);
  assert.match(out, /after\+refusal/, 'the session carried on after the refusal');
  assert.ok(existsSync(victim), 'the refused rm never ran');
  assert.equal(readFileSync(victim, 'utf8'), 'keep me');

  const sessionId = (await gw.auditRecords()).filter((e): e is Statement => e.type === 'statement' && e.text === `rm -f ${victim}`).at(-1)?.sessionId;
  assert.ok(sessionId, 'the refused line is audited');
  const { shell, outcome, records } = await shellOutcome(sessionId);
  assert.equal(shell.decision.effect, 'allow');
  assert.deepEqual(shell.decision.policyIds, ['agents-shell']);
  const lines = records.filter((e): e is Statement => e.type === 'statement' && e.statementTypes[0] === 'ssh.shell-line');
  assert.deepEqual(
    lines.map((e) => [e.text, e.decision.effect]),
    [
      [`printf '%s-%s\\n' abc def`, 'allow'],
      [`rm -f ${victim}`, 'deny'],
      [`printf '%s+%s\\n' after refusal`, 'allow'],
      ['exit', 'allow'],
    ],
  );

  const file = join(gw.recordingsDir!, `${shell.statementId}.cast`);
  const cast = readFileSync(file, 'utf8');
  const header = JSON.parse(cast.split('\n')[0]!) as { version: number; width: number; height: number };
  assert.equal(header.version, 2);
  assert.ok(header.width > 0 && header.height > 0);
  const events = cast.trimEnd().split('\n').slice(1).map((l) => JSON.parse(l) as [number, string, string]);
  assert.ok(events.every(([t], i) => typeof t === "number" && (i === 0 || t >= events[i - 1]![0])), `event times only grow: ${cast}`);
  assert.ok(events.some(([, code, data]) => code === 'i' && data.includes('rm -f')), 'what the agent typed is recorded, refused lines included');
  assert.equal(replayOutput(cast), out, 'replaying the recording prints exactly what the agent saw');
  assert.equal(outcome.response?.sha256, createHash('sha256').update(cast).digest('hex'), 'the audit vouches for the recording file');
  assert.equal(outcome.status, 'ok');
});

test('window changes reach the server and the recording', { skip }, async () => {
  const { channel: shell, seen, waitFor } = await openPtyShell(gw.port, await gw.token());
  shell.write('echo size=$COLUMNS/$LINES\r');
  assert.ok(await waitFor(/size=80\/24/), seen());
  shell.setWindow(40, 132, 0, 0);
  shell.write('true\r');
  shell.write('echo size=$COLUMNS/$LINES\r');
  assert.ok(await waitFor(/size=132\/40/), seen());
  shell.write('exit\r');
  await new Promise((r) => shell.once('close', r));
  const sessionId = (await gw.auditRecords()).filter((e): e is Statement => e.type === 'statement' && e.text === 'echo size=$COLUMNS/$LINES').at(-1)!.sessionId;
  const { shell: stmt } = await shellOutcome(sessionId);
  const cast = readFileSync(join(gw.recordingsDir!, `${stmt.statementId}.cast`), 'utf8');
  assert.match(cast, /\[[\d.]+,"r","132x40"\]/);
});

test('a line that needs approval waits for a reviewer, later lines queue behind it, then it runs', { skip }, async () => {
  const script = ['kill -l 9', `printf '%s=%s\\n' queued ran`, 'exit'].join('\n') + '\n';
  const running = runClient('ssh', ['-tt', ...gatewaySshArgs(gw.port)], { password: await gw.token(), input: script, timeoutMs: 20_000 });
  let id: string | undefined;
  for (let i = 0; i < 200 && !id; i++) {
    id = (await gw.approvals.listPending())[0]?.id;
    if (!id) await new Promise((r) => setTimeout(r, 25));
  }
  assert.ok(id, 'an approval request was opened for the line');
  const before = (await gw.auditRecords()).filter((e) => e.type === 'statement' && e.text === `printf '%s=%s\\n' queued ran`);
  assert.equal(before.length, 0, 'the next line is not decided while the first one waits');
  await gw.approvals.decide(id, { id: 'ssh-reviewer', groups: ['reviewers'], issuer: 'test' }, { verdict: 'approve', scope: 'once' });
  const r = await running;
  const out = r.stdout.toString();
  assert.equal(r.code, 0, out);
  assert.match(out, /airlock: this privileged command needs approval/);
  assert.match(out, /^KILL\r?$/m, 'the approved line ran');
  assert.match(out, /queued=ran/);
  assert.ok(out.indexOf('needs approval') < out.indexOf('queued=ran'));
});
