// The guarantee that the agent can never obtain the target credential: everything the real ssh
// client prints at full verbosity, and every file the gateway writes, is searched for it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { sshSkipReason, startSshd, type RunningSshd } from '../support/sshd.js';
import { gatewaySshArgs, runClient, sshTarget, startTestSshGateway, type RunResult, type TestSshGateway } from '../support/ssh-gateway.js';

const POLICY = `
@id("agents-connect")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"connect", resource);
@id("agents-read")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"command_read", resource);
@id("agents-files")
permit (principal in Airlock::Group::"agents", action in Airlock::Action::"file_transfer", resource);
@id("no-destructive-commands")
forbid (principal, action == Airlock::Action::"command_destructive", resource);
`;
// A password credential for a second target: the test sshd refuses passwords, so the gateway's
// login fails (and is retried once after a refresh) — the error path must not leak it either.
const TARGET_PASSWORD = 'Upstream-Pa55word-7f3c9e1d2b';

const skip = sshSkipReason();
let sshd: RunningSshd;
let gw: TestSshGateway;
let token: string;

before(async () => {
  if (skip) return;
  sshd = await startSshd();
  const pw = sshTarget(sshd, { credentialType: 'password' });
  pw.info = { ...pw.info, name: 'pwbox' };
  pw.credentialRef = 'memory:pwbox-password';
  gw = await startTestSshGateway(sshd, POLICY, [sshTarget(sshd), pw], { logFile: true, recordings: true, responseCapBytes: 4096, secrets: { 'pwbox-password': TARGET_PASSWORD } });
  token = await gw.token();
});
after(async () => {
  await gw?.stop();
  await sshd?.stop();
});

/** Gateway ssh arguments at the client's highest verbosity. */
const verbose = (target?: string) => ['-vvv', ...gatewaySshArgs(gw.port, target).map((a) => (a === 'LogLevel=ERROR' ? 'LogLevel=DEBUG3' : a))];

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

/** The secret forms to look for: the whole PEM body, each of its lines, and the password. */
function needles(): string[] {
  const body = sshd.clientKey.split('\n').filter((l) => l && !l.startsWith('-----'));
  assert.ok(body.length >= 3, 'the test key has a PEM body');
  return [body.join(''), body.join('\n'), ...body.filter((l) => l.length >= 16), TARGET_PASSWORD];
}

function assertClean(where: string, text: string): void {
  for (const n of needles()) assert.ok(!text.includes(n), `${where} contains the target credential (${n === TARGET_PASSWORD ? 'password' : 'private key'})`);
  // Base64 of the raw key file, in case something encoded it again.
  assert.ok(!text.includes(Buffer.from(sshd.clientKey).toString('base64').slice(0, 60)), `${where} contains the key, base64-encoded`);
}

test('the target credential never reaches the client, its output or the gateway data dir', { skip }, async () => {
  // The search itself finds the secrets it looks for.
  assert.throws(() => assertClean('self-check', `x${sshd.clientKey}y`));
  assert.throws(() => assertClean('self-check', `pw=${TARGET_PASSWORD}`));
  const runs: [string, RunResult][] = [];
  const r1 = await runClient('ssh', [...verbose(), 'echo via-gateway; cat ~/.ssh/authorized_keys 2>/dev/null; env'], { password: token });
  assert.equal(r1.code, 0, r1.stderr.slice(-500));
  assert.match(r1.stdout.toString(), /via-gateway/);
  assert.match(r1.stderr, /debug1:/, 'the client ran at full verbosity');
  runs.push(['exec', r1]);

  const up = join(sshd.workDir, 'up.txt');
  const sftp = await runClient('sftp', ['-vvv', '-o', 'BatchMode=no', '-b', '-', ...verbose().slice(1).map((a) => (a === '-p' ? '-P' : a))], {
    password: token,
    input: `put /etc/hostname ${up}\nget ${up} /dev/null\nls -l ${sshd.workDir}\n`,
  });
  assert.equal(sftp.code, 0, sftp.stderr.slice(-500));
  runs.push(['sftp', sftp]);

  const refused = await runClient('ssh', [...verbose(), `rm -rf ${sshd.workDir}`], { password: token });
  assert.equal(refused.code, 126);
  assert.match(refused.stderr, /airlock: refused/);
  runs.push(['refused command', refused]);

  const pwLogin = await runClient('ssh', [...verbose('pwbox'), 'echo never'], { password: token });
  assert.equal(pwLogin.code, 255, 'the target refuses the password login');
  assert.match(pwLogin.stderr, /airlock: cannot open a session/);
  runs.push(['failed upstream login', pwLogin]);

  for (const [what, r] of runs) {
    assertClean(`${what}: client stdout`, r.stdout.toString('latin1'));
    assertClean(`${what}: client stderr`, r.stderr);
  }
  const files = filesUnder(gw.dataDir);
  assert.ok(files.some((f) => f.endsWith('gateway.log')), 'the gateway log was written');
  assert.ok(files.some((f) => f.includes('audit')), 'the audit trail was written');
  let bytes = 0;
  for (const f of files) {
    const text = readFileSync(f).toString('latin1');
    bytes += text.length;
    assertClean(`gateway file ${f.slice(gw.dataDir.length)}`, text);
  }
  assert.ok(bytes > 1000, `the gateway wrote something to search (${bytes} bytes)`);
  const records = await gw.auditRecords();
  assert.ok(records.some((e) => e.type === 'statement' && e.statementTypes.includes('sftp.open')), 'the SFTP session is in the audit');
});
