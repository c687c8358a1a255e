// A read-only git command in a repository whose configuration names programs: through the real
// `ssh` → Airlock → a real sshd, none of them runs. Two repositories owned by the target account:
// one sets every fixed-name key that runs a program (fsmonitor, pager, pager.<cmd>, hooks, gpg with
// log.showSignature, sshCommand), where git still runs and answers; one names driver programs
// (filter, diff textconv/command, diff.external), where the gateway's guard refuses to run git.
// Each marker program records that it ran. Direct ssh (no gateway) runs them: the control that
// shows the configuration is live.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sshSkipReason, startSshd, type RunningSshd } from '../support/sshd.js';
import { directSshArgs, gatewaySshArgs, runClient, startTestSshGateway, type TestSshGateway } from '../support/ssh-gateway.js';
import { GIT_REFUSAL } from '../../core/shell/git-guard.js';

const READ_ONLY = `
@id("agents-connect")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"connect", resource);
@id("agents-read")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"command_read", resource);
@id("agents-shell")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"interactive_shell", resource);
`;

const skip = sshSkipReason() || (spawnSync('git', ['--version']).status === 0 ? false : 'needs git (apt-get install git)');
let sshd: RunningSshd;
let gw: TestSshGateway;
let token: string;
let ran: string;
let fixedKeys: string;
let drivers: string;

/** A program that records its name in `ran` and produces nothing. */
function evil(dir: string, name: string): string {
  const path = join(dir, `evil-${name}`);
  writeFileSync(path, `#!/bin/sh\n: > '${join(ran, name)}'\nexit 0\n`);
  chmodSync(path, 0o755);
  return path;
}

function git(cwd: string, ...args: string[]): string {
  // Set up before any hostile configuration exists; hooks off all the same.
  return execFileSync('git', ['-c', 'core.hooksPath=/dev/null', '-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args], { cwd, encoding: 'utf8' });
}

function repository(root: string, name: string): string {
  const dir = join(root, name);
  mkdirSync(dir);
  git(dir, 'init', '-q', '-b', 'main');
  writeFileSync(join(dir, 'file.txt'), 'first\n');
  git(dir, 'add', 'file.txt');
  git(dir, 'commit', '-q', '-m', 'first commit');
  return dir;
}

before(async () => {
  if (skip) return;
  sshd = await startSshd();
  gw = await startTestSshGateway(sshd, READ_ONLY);
  token = await gw.token();
  const root = join(sshd.workDir, 'git');
  mkdirSync(root);
  ran = join(root, 'ran');
  mkdirSync(ran);
  const bin = join(root, 'bin');
  mkdirSync(bin);

  fixedKeys = repository(root, 'fixed-keys');
  // A signed-looking commit, so that log.showSignature makes git call the gpg program.
  const tree = git(fixedKeys, 'rev-parse', 'HEAD^{tree}').trim();
  const parent = git(fixedKeys, 'rev-parse', 'HEAD').trim();
  const signature = ' -----BEGIN PGP SIGNATURE-----\n \n iQEzBAABCAAdFiEE\n -----END PGP SIGNATURE-----';
  const commit = `tree ${tree}\nparent ${parent}\nauthor t <t@example.invalid> 1700000000 +0000\ncommitter t <t@example.invalid> 1700000000 +0000\ngpgsig${signature}\n\nsigned commit\n`;
  const id = execFileSync('git', ['hash-object', '-t', 'commit', '-w', '--stdin'], { cwd: fixedKeys, input: commit, encoding: 'utf8' }).trim();
  git(fixedKeys, 'update-ref', 'refs/heads/main', id);
  writeFileSync(join(fixedKeys, 'file.txt'), 'first\nchanged in the work tree\n');
  const hooks = join(root, 'hooks');
  mkdirSync(hooks);
  for (const hook of ['post-index-change', 'post-checkout', 'reference-transaction']) {
    const path = join(hooks, hook);
    writeFileSync(path, `#!/bin/sh\n: > '${join(ran, `hook-${hook}`)}'\n`);
    chmodSync(path, 0o755);
    writeFileSync(join(fixedKeys, '.git', 'hooks', hook), `#!/bin/sh\n: > '${join(ran, `repo-hook-${hook}`)}'\n`);
    chmodSync(join(fixedKeys, '.git', 'hooks', hook), 0o755);
  }
  appendFileSync(
    join(fixedKeys, '.git', 'config'),
    [
      '[core]',
      `\tfsmonitor = ${evil(bin, 'fsmonitor')}`,
      `\tpager = ${evil(bin, 'pager')}`,
      `\thooksPath = ${hooks}`,
      `\tsshCommand = ${evil(bin, 'ssh')}`,
      `\teditor = ${evil(bin, 'editor')}`,
      '[pager]',
      `\tlog = ${evil(bin, 'pager-log')}`,
      `\tstatus = ${evil(bin, 'pager-status')}`,
      '[log]',
      '\tshowSignature = true',
      '[gpg]',
      `\tprogram = ${evil(bin, 'gpg')}`,
      '',
    ].join('\n'),
  );

  drivers = repository(root, 'drivers');
  writeFileSync(join(drivers, '.git', 'info', 'attributes'), '* diff=evil filter=evil\n');
  writeFileSync(join(drivers, 'file.txt'), 'first\nchanged in the work tree\n');
  appendFileSync(
    join(drivers, '.git', 'config'),
    [
      '[filter "evil"]',
      `\tclean = ${evil(bin, 'clean')}`,
      `\tsmudge = ${evil(bin, 'smudge')}`,
      '[diff "evil"]',
      `\ttextconv = ${evil(bin, 'textconv')}`,
      `\tcommand = ${evil(bin, 'diff-command')}`,
      '[diff]',
      `\texternal = ${evil(bin, 'external-diff')}`,
      '',
    ].join('\n'),
  );
  const { uid, gid } = statSync(sshd.workDir);
  execFileSync('chown', ['-R', `${uid}:${gid}`, root]);
  chownSync(root, uid, gid);
});
after(async () => {
  await gw?.stop();
  await sshd?.stop();
});

const viaGateway = (command: string) => runClient('ssh', [...gatewaySshArgs(gw.port), command], { password: token });
const direct = (command: string) => runClient('ssh', [...directSshArgs(sshd), command]);
const programsRun = () => readdirSync(ran).sort();
const clear = () => readdirSync(ran).forEach((f) => rmSync(join(ran, f)));

test('control: over a direct connection the repositories run their configured programs', { skip }, async () => {
  clear();
  await direct(`git -C ${fixedKeys} status`);
  await direct(`git -C ${fixedKeys} log -1`);
  await direct(`git -C ${drivers} diff`);
  const seen = programsRun();
  assert.ok(seen.includes('fsmonitor'), `direct git ran: ${seen.join(', ')}`);
  assert.ok(seen.includes('gpg'), `direct git ran: ${seen.join(', ')}`);
  assert.ok(seen.some((p) => ['clean', 'textconv', 'external-diff', 'diff-command'].includes(p)), `direct git ran: ${seen.join(', ')}`);
  clear();
});

test('through the gateway, git answers in a repository with hostile fixed-name keys and runs none of their programs', { skip }, async () => {
  clear();
  const commands = [
    `git -C ${fixedKeys} status`,
    `git -C ${fixedKeys} status --short`,
    `git -C ${fixedKeys} log -2`,
    `git -C ${fixedKeys} log -p -2`,
    `git -C ${fixedKeys} log --show-signature -1`,
    `git -C ${fixedKeys} diff`,
    `git -C ${fixedKeys} show HEAD`,
    `cd ${fixedKeys} && git log --oneline | head -5`,
    `cd ${fixedKeys} && git -C . branch`,
  ];
  for (const command of commands) {
    const r = await viaGateway(command);
    assert.equal(r.code, 0, `${command}: ${r.stderr}`);
    if (/log|show/.test(command)) assert.match(r.stdout.toString(), /signed commit/, command);
    if (/diff|log -p/.test(command)) assert.match(r.stdout.toString(), /changed in the work tree|first/, command);
    if (/status --short/.test(command)) assert.match(r.stdout.toString(), /M file\.txt/, command);
  }
  assert.deepEqual(programsRun(), [], 'no configured program ran');
});

test('through the gateway, a repository that names driver programs is refused by the guard, and none of them runs', { skip }, async () => {
  clear();
  for (const command of [`git -C ${drivers} diff`, `git -C ${drivers} status`, `git -C ${drivers} log -p`, `cd ${drivers} && git show HEAD`]) {
    const r = await viaGateway(command);
    assert.equal(r.code, 126, `${command}: ${r.stderr}`);
    assert.ok(r.stderr.includes(GIT_REFUSAL), r.stderr);
  }
  assert.deepEqual(programsRun(), [], 'no configured program ran');
  assert.ok(existsSync(join(drivers, 'file.txt')));
});

test('configuration and environment from the agent stay refused: -c, --config-env, GIT_* variables', { skip }, async () => {
  clear();
  for (const command of [
    `git -c core.pager=${join(ran, 'x')} -C ${fixedKeys} log -1`,
    `git --config-env=core.fsmonitor=HOME -C ${fixedKeys} status`,
    `GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=core.fsmonitor GIT_CONFIG_VALUE_0=/bin/true git -C ${fixedKeys} status`,
    `env GIT_EXTERNAL_DIFF=/bin/true git -C ${fixedKeys} diff`,
    `git -C ${fixedKeys} config core.fsmonitor /bin/true`,
  ]) {
    const r = await viaGateway(command);
    assert.equal(r.code, 126, `${command}: ${r.stderr}`);
    assert.match(r.stderr, /^airlock: refused/, command);
  }
  assert.deepEqual(programsRun(), []);
});

test('interactive shells get the rebuilt command, not the typed line: git typed at the prompt runs through the guard', { skip }, async () => {
  clear();
  const typed = [`git -C ${fixedKeys} log -1`, `git -C ${fixedKeys} status --short`, 'cat <<EOF', 'typed body $((6*7))', 'EOF', `git -C ${drivers} diff`, 'exit 0'];
  const r = await runClient('ssh', ['-tt', ...gatewaySshArgs(gw.port)], { password: token, input: typed.join('\n') + '\n', timeoutMs: 30_000 });
  const out = r.stdout.toString();
  assert.equal(r.code, 0, `${r.stderr}\n${out}`);
  assert.match(out, /signed commit/, out);
  assert.match(out, /M(?:\x1b\[m)? file\.txt/, 'git status answered (in colour: it has a terminal)');
  assert.match(out, /^typed body 42\r?$/m);
  // Bash echoed what it was given: the guard around git and the gateway's own delimiter.
  assert.ok(out.includes('GIT_CONFIG_NOSYSTEM=1'), 'the rebuilt git command reached bash');
  assert.ok(out.includes('AIRLOCK_EOF'), 'the rebuilt here-document reached bash');
  assert.ok(out.includes(GIT_REFUSAL), 'the guard refused the repository that names driver programs');
  assert.deepEqual(programsRun(), [], 'no configured program ran');
});
