// Output masking on exec: what the agent's real ssh client receives is masked, and the command's
// outcome event counts the masked values per detector (names and counts, never values).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sshSkipReason, startSshd, type RunningSshd } from '../support/sshd.js';
import { Gen, prng } from '../fixtures/masking-corpus/generate.js';
import { directSshArgs, gatewaySshArgs, runClient, startTestSshGateway, type TestSshGateway } from '../support/ssh-gateway.js';

const POLICY = `
@id("agents-connect")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"connect", resource);
@id("agents-read")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"command_read", resource);
@id("agents-shell")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"interactive_shell", resource);
@id("reviewers-connect")
permit (principal in Airlock::Group::"reviewers", action in [Airlock::Action::"connect", Airlock::Action::"command_read"], resource);
@id("reviewers-unmasked")
permit (principal in Airlock::Group::"reviewers", action == Airlock::Action::"view_unmasked", resource);
`;

const CARD = '4111 1111 1111 1111';
const EMAIL = 'jane.doe@example.com';
const GITHUB = `ghp_${'A1b2C3d4E5'.repeat(3)}a1b2C3`;

const skip = sshSkipReason();
let sshd: RunningSshd;
let gw: TestSshGateway;

before(async () => {
  if (skip) return;
  sshd = await startSshd();
  gw = await startTestSshGateway(sshd, POLICY, undefined, { masking: { enabled: true, detectors: {}, columnRules: [] } });
});
after(async () => {
  await gw?.stop();
  await sshd?.stop();
});

test('a command printing a card number, an e-mail and a GitHub token shows them masked, and the outcome counts them', { skip }, async () => {
  // printf writes the values in pieces; the stream is masked line by line, so splits do not matter.
  const command = `printf 'card %s\\nmail %s\\n' '${CARD}' '${EMAIL}'; printf 'tok %s\\n' '${GITHUB}' >&2; echo plain line`;
  const direct = await runClient('ssh', [...directSshArgs(sshd), command]);
  assert.match(direct.stdout.toString(), new RegExp(CARD), 'the values really are in the output');
  const r = await runClient('ssh', [...gatewaySshArgs(gw.port), command], { password: await gw.token() });
  assert.equal(r.code, 0, r.stderr);
  const out = r.stdout.toString();
  for (const v of [CARD, '4111111111111111', EMAIL, GITHUB]) {
    assert.ok(!out.includes(v) && !r.stderr.includes(v), `${v.slice(0, 6)}… is masked`);
  }
  assert.match(out, /^card .+\nmail .+\nplain line\n$/, 'the rest of the output is unchanged');
  assert.match(r.stderr, /^tok .+\n$/);
  const records = await gw.auditRecords();
  const stmt = records.find((e) => e.type === 'statement' && e.statementTypes.includes('ssh.exec') && e.text.startsWith('printf'));
  assert.ok(stmt && stmt.type === 'statement');
  assert.ok(!stmt.text.includes(EMAIL) && !stmt.text.includes(GITHUB), 'the audited command text is masked too');
  const outcome = records.find((e) => e.type === 'statement.outcome' && e.statementId === stmt.statementId);
  assert.ok(outcome && outcome.type === 'statement.outcome');
  assert.deepEqual(outcome.masking, { counts: { 'detector:card': 1, 'detector:email': 1, 'detector:github_token': 1 }, total: 3 });
});

test('a principal granted view_unmasked sees the output unchanged', { skip }, async () => {
  const command = `echo '${EMAIL}'`;
  const token = await gw.token({ clientId: 'ssh-reviewer', clientSecret: 'ssh-reviewer-secret-0123456789' });
  const r = await runClient('ssh', [...gatewaySshArgs(gw.port), command], { password: token });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.toString(), `${EMAIL}\n`);
});

test('a private key is masked whole, split over reads, without its BEGIN line, or as bare body lines', { skip }, async () => {
  const key = new Gen(prng(2024)).privateKey();
  const body = key.split('\n').slice(1, -1);
  assert.ok(body.length >= 2);
  const file = join(sshd.workDir, 'id_test.pem');
  writeFileSync(file, `${key}\n`);
  const { uid, gid } = statSync(sshd.workDir);
  chownSync(file, uid, gid);
  const commands = [
    `cat ${file}`,
    // Two writes with a pause between them: the key reaches the gateway in separate reads.
    `head -n 2 ${file}; sleep 0.3; tail -n +3 ${file}`,
    `tail -n +2 ${file}`,
    `sed -n 2,3p ${file}`,
  ];
  for (const command of commands) {
    const direct = await runClient('ssh', [...directSshArgs(sshd), command]);
    assert.ok(direct.stdout.toString().includes(body[0]!), `the key is really in the output of ${command}`);
    const r = await runClient('ssh', [...gatewaySshArgs(gw.port), command], { password: await gw.token() });
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout.toString();
    for (const line of body.slice(0, command.startsWith('sed') ? 2 : body.length)) assert.ok(!out.includes(line), `${command}: a key line leaked:\n${out}`);
    assert.match(out, /REDACTED:private_key/);
  }
});

test('in an interactive shell, a token written in two parts with a pause between them is still masked', { skip }, async () => {
  const [a, b] = [GITHUB.slice(0, 18), GITHUB.slice(18)];
  // One line, so that nothing typed is echoed while it runs.
  const script = `printf 'tok %s' '${a}'; sleep 0.5; printf '%s\\n' '${b}'; exit\n`;
  const r = await runClient('ssh', ['-tt', ...gatewaySshArgs(gw.port)], { password: await gw.token(), input: script, timeoutMs: 20_000 });
  const out = r.stdout.toString();
  assert.equal(r.code, 0, out);
  assert.ok(!out.includes(GITHUB), `the token was not released in parts:\n${out}`);
  assert.match(out, /tok \[REDACTED:github_token\]/);
});
