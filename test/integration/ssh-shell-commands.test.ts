// Interactive shells keep state across lines: the real `ssh -tt` → Airlock → a real sshd and bash.
// A command split over lines (open quote, continuation, here-document, compound command) is held
// until bash would run it and decided whole; pieces that each look harmless cannot add up to a
// destructive command, and ordinary multi-line commands still run.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sshSkipReason, startSshd, type RunningSshd } from '../support/sshd.js';
import { openPtyShell } from '../support/pty-shell.js';
import { gatewaySshArgs, runClient, SSH_REVIEWER, startTestSshGateway, type TestSshGateway } from '../support/ssh-gateway.js';
import { inspectCommand } from '../../core/shell/index.js';
import type { AuditRecord } from '../../core/audit/events.js';

// Agents: an ordinary operator policy (read and write, no destructive or opaque commands).
// Reviewers stand in for a trusting operator who also allows what cannot be inspected, except `rm`:
// with them the lines held and then sent are seen running in bash, whatever the classifier says.
const POLICY = `
@id("connect")
permit (principal, action == Airlock::Action::"connect", resource);
@id("shell")
permit (principal, action == Airlock::Action::"interactive_shell", resource);
@id("agents-read")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"command_read", resource);
@id("agents-write")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"command_write", resource);
@id("no-destructive-commands")
forbid (principal, action == Airlock::Action::"command_destructive", resource);
@id("reviewers-anything-but-rm")
permit (principal in Airlock::Group::"reviewers", action, resource)
  when { context has binaries && !context.binaries.contains("rm") };
`;

const skip = sshSkipReason();
let sshd: RunningSshd;
let gw: TestSshGateway;

before(async () => {
  if (skip) return;
  sshd = await startSshd();
  gw = await startTestSshGateway(sshd, POLICY);
});
after(async () => {
  await gw?.stop();
  await sshd?.stop();
});

type Statement = Extract<AuditRecord, { type: 'statement' }>;

function marker(name: string): string {
  const path = join(sshd.workDir, name);
  writeFileSync(path, 'keep me');
  const { uid, gid } = statSync(sshd.workDir);
  chownSync(path, uid, gid);
  return path;
}

async function shell(lines: string[], client?: { clientId: string; clientSecret: string }) {
  const r = await runClient('ssh', ['-tt', ...gatewaySshArgs(gw.port)], { password: await gw.token(client), input: lines.join('\n') + '\n', timeoutMs: 30_000 });
  const out = r.stdout.toString();
  assert.equal(r.code, 0, `${r.stderr}\n${out}`);
  return out;
}

const shellLines = async () => (await gw.auditRecords()).filter((e): e is Statement => e.type === 'statement' && e.statementTypes[0] === 'ssh.shell-line');

test('a destructive command split over lines is refused whole, in every way bash joins lines; the marker stays', { skip }, async () => {
  const m = marker('split-victim');
  const splits = [
    // Each line alone reads as harmless (`echo 'abc`, `ls '…'`, `'`); bash runs the rm between the quotes.
    ["echo 'abc", `ls ' ; rm -f ${m} ; echo '`, "'"],
    ['echo ok \\', `; rm -f ${m}`],
    [`cat <<EOF; rm -f ${m}`, 'body', 'EOF'],
    ['if true; then', `rm -f ${m}`, 'fi'],
    [`for f in ${m}; do`, 'rm -f "$f"', 'done'],
    ['{', `rm -f ${m}`, '}'],
    ['(', `rm -f ${m}`, ')'],
    // mvdan/sh reads the rm as quoted text inside $(…); bash ends the here-document at the first EOF and runs it.
    ['cat <<EOF', "$(echo '", 'EOF', `rm -f ${m}`, "')", 'EOF'],
  ];
  const out = await shell([
    ...splits.flat(),
    // An alias defined in the session makes later uses of its name opaque.
    "alias ls='rm -f'",
    `ls ${m}`,
    // History expansion would rewrite the line after inspection.
    `echo ${m}`,
    '^echo^rm -f',
    `printf '%s+%s\\n' session carried-on`,
    'exit',
  ]);
  assert.ok(existsSync(m), `the marker survived:\n${out}`);
  assert.equal(readFileSync(m, 'utf8'), 'keep me');
  assert.match(out, /carried-on/);

  const audited = await shellLines();
  for (const split of splits) {
    const text = split.join('\n');
    const record = audited.find((e) => e.text === text);
    assert.ok(record, `decided as one command: ${JSON.stringify(text)}`);
    assert.equal(record.decision.effect, 'deny', text);
    assert.match(out, new RegExp(`the command \\(${split.length} lines\\) was not sent`));
  }
  assert.ok(!audited.some((e) => e.text === `rm -f ${m}` || e.text === 'fi' || e.text === "'"), 'no piece was judged alone');
  // `alias` can change what later commands run: refused, so bash never defines it and the later
  // `ls` is the real ls (the marker above survived it).
  const aliasDefinition = audited.find((e) => e.text === "alias ls='rm -f'");
  assert.equal(aliasDefinition?.decision.effect, 'deny');
  assert.equal(aliasDefinition?.class, 'opaque');
  assert.equal(audited.find((e) => e.text === `ls ${m}`)?.decision.effect, 'allow');
  const history = audited.find((e) => e.text === '^echo^rm -f');
  assert.equal(history?.decision.effect, 'deny');
  assert.match(history?.decision.reason ?? '', /history/);
  assert.match(out, /cannot follow the shell/);
});

test('an alias a policy let the session define makes later uses of its name opaque', { skip }, async () => {
  // The reviewers' policy permits what cannot be inspected (but rm by name): the definition runs.
  const m = marker('alias-victim');
  await shell(["alias ll='ls -l'", `ll ${m}`, 'exit'], SSH_REVIEWER);
  const audited = await shellLines();
  assert.equal(audited.find((e) => e.text === "alias ll='ls -l'")?.decision.effect, 'allow');
  const use = audited.find((e) => e.text === `ll ${m}`);
  assert.equal(use?.class, 'opaque', 'll is an alias defined in this session');
});

test('the shell keeps its directory: after a `cd`, a relative write is judged as landing anywhere, a system path included (found by red-teaming)', { skip }, async () => {
  // Agents may write but not under system paths. `cd` to a directory under /var/lib in one command,
  // then `echo … > victim` in the next, wrote /var/lib/…/victim as an ordinary `write`.
  const dir = mkdtempSync('/var/lib/airlock-cd-');
  try {
    const { uid, gid } = statSync(sshd.workDir);
    chownSync(dir, uid, gid);
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'keep me');
    chownSync(victim, uid, gid);
    const out = await shell([`cd ${dir}`, 'echo replaced > victim', 'exit']);
    assert.match(out, /refused/, out);
    assert.equal(readFileSync(victim, 'utf8'), 'keep me');
    const audited = await shellLines();
    assert.equal(audited.find((e) => e.text === `cd ${dir}`)?.decision.effect, 'allow');
    const write = audited.find((e) => e.text === 'echo replaced > victim');
    assert.equal(write?.class, 'privileged');
    assert.equal(write?.decision.effect, 'deny');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const ORDINARY = [
  'for i in 1 2 3; do',
  `  printf 'n=%s\\n' "$i"`,
  'done',
  "printf '%s\\n' 'first",
  "second'",
  'cat <<EOF',
  'here-body $((6*7))',
  'EOF',
  'echo one \\',
  'two',
  'if [ -d / ]; then',
  "  printf '%s\\n' dir-yes",
  'fi',
  'exit',
];

function assertRan(out: string) {
  assert.match(out, /^n=1\r?$/m, out);
  assert.match(out, /^n=3\r?$/m);
  assert.match(out, /^first\r?\nsecond\r?$/m, 'the newline inside the quotes reached bash');
  assert.match(out, /^here-body 42\r?$/m, 'the here-document reached bash');
  assert.match(out, /^one two\r?$/m, 'the continuation reached bash');
  assert.match(out, /^dir-yes\r?$/m);
  assert.doesNotMatch(out, /refused/);
}

test('held lines reach bash intact once the command is whole: loops, quotes, here-documents, continuations run', { skip }, async () => {
  const out = await shell(ORDINARY, SSH_REVIEWER);
  assertRan(out);
  const audited = await shellLines();
  assert.equal(audited.find((e) => e.text === ORDINARY.slice(0, 3).join('\n'))?.decision.effect, 'allow', 'the loop was decided whole');
});

// Under the read-only policy an ordinary multi-line command must stay usable: that is the
// classifier's verdict on the whole command, which needs a classifier that reads multi-line input.
const multiLineReadable = inspectCommand(ORDINARY.slice(0, 3).join('\n')).class === 'read';
test(
  'ordinary multi-line commands are allowed under the read-only operator policy',
  { skip: skip || (!multiLineReadable && 'the classifier judges compound commands (for, if) opaque: reading their bodies is still to do (issue 27)') },
  async () => assertRan(await shell(ORDINARY)),
);

test('typed one line at a time: the gateway prompts for more while it holds lines; ^C and ^D drop the held command', { skip }, async () => {
  const m = marker('typed-victim');
  const { channel, seen, waitFor: waitForOutput } = await openPtyShell(gw.port, await gw.token(SSH_REVIEWER));
  const waitFor = async (re: RegExp) => assert.ok(await waitForOutput(re), seen());
  const typed = async (line: string, expect: RegExp) => {
    const from = seen().length;
    channel.write(`${line}\r`);
    assert.ok(await waitForOutput(expect, from), `after ${JSON.stringify(line)}: ${JSON.stringify(seen().slice(from))}`);
  };
  await waitFor(/\$ $/);
  await typed('if true; then', /^> $/);
  await typed(`  printf '%s\\n' held-ran`, /^> $/);
  await typed('fi', /^held-ran\r$/m);

  // ^C: bash would drop the unfinished command; the gateway drops what it held and sends the ^C.
  await typed(`touch ${m}.c; for f in x; do`, /^> $/);
  channel.write('\x03');
  await typed(`printf '%s\\n' after-interrupt`, /^after-interrupt\r$/m);
  // ^D at the continuation prompt: the held lines go, the shell stays.
  await typed(`touch ${m}.d; if true; then`, /^> $/);
  channel.write('\x04');
  await waitFor(/end of input inside an unfinished command; its 1 line\(s\) were discarded/);
  await typed(`printf '%s\\n' still-here`, /^still-here\r$/m);
  channel.write('exit\r');
  await new Promise((r) => channel.once('close', r));
  assert.ok(!existsSync(`${m}.c`) && !existsSync(`${m}.d`), 'nothing of a dropped command ran');
});
