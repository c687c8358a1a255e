// SFTP paths are decided where the server resolves them: the real OpenSSH sftp client → Airlock →
// a real sshd, under a policy that allows one directory. A symlink inside it pointing outside, or
// `..` climbing out of it, cannot carry a read or a write outside.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, existsSync, lchownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sshSkipReason, startSshd, type RunningSshd } from '../support/sshd.js';
import { runClient, startTestSshGateway, type TestSshGateway } from '../support/ssh-gateway.js';
import type { AuditRecord } from '../../core/audit/events.js';

const skip = sshSkipReason();
let sshd: RunningSshd;
let gw: TestSshGateway;
let local: string;
let allowed: string;
let outside: string;

/** Files and links on the server, owned by the test user. */
function serverTree(): void {
  const { uid, gid } = statSync(sshd.workDir);
  const own = (p: string) => chownSync(p, uid, gid);
  allowed = join(sshd.workDir, 'allowed');
  outside = join(sshd.workDir, 'outside');
  for (const d of [allowed, outside]) (mkdirSync(d), own(d));
  for (const [p, body] of [[join(allowed, 'ok.txt'), 'fine'], [join(outside, 'secret.txt'), 'outside-secret'], [join(outside, 'victim.txt'), 'keep me']] as const) {
    writeFileSync(p, body);
    own(p);
  }
  symlinkSync('../outside/secret.txt', join(allowed, 'link-file'));
  symlinkSync(outside, join(allowed, 'link-dir'));
  symlinkSync(join(outside, 'created.txt'), join(allowed, 'dangling'));
  symlinkSync(join(outside, 'no-such-dir', 'created.txt'), join(allowed, 'dangling-deep'));
  for (const l of ['link-file', 'link-dir', 'dangling', 'dangling-deep']) lchownSync(join(allowed, l), uid, gid);
}

before(async () => {
  if (skip) return;
  sshd = await startSshd();
  serverTree();
  // An operator's policy: files under one directory only; resolving names is harmless.
  const policy = `
@id("agents-connect")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"connect", resource);
@id("agents-files-in-allowed")
permit (principal in Airlock::Group::"agents", action in Airlock::Action::"file_transfer", resource)
  when { context.path like "${allowed}/*" };
@id("agents-realpath")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"file_read", resource)
  when { context.operation == "realpath" };
`;
  gw = await startTestSshGateway(sshd, policy);
  local = mkdtempSync(join(tmpdir(), 'airlock-sftp-paths-'));
  writeFileSync(join(local, 'upload.txt'), 'uploaded');
});
after(async () => {
  await gw?.stop();
  await sshd?.stop();
  if (local) rmSync(local, { recursive: true, force: true });
});

function clientArgs(port: number): string[] {
  return ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=password', '-o', 'NumberOfPasswordPrompts=1', '-o', 'LogLevel=ERROR', '-P', String(port)];
}

/** Runs sftp batch commands; a leading `-` lets the batch carry on after a refusal. */
async function sftp(commands: string[]) {
  const r = await runClient('sftp', ['-o', 'BatchMode=no', ...clientArgs(gw.port), '-b', '-', 'box@127.0.0.1'], { password: await gw.token(), input: `${commands.map((c) => `-${c}`).join('\n')}\n` });
  return { ...r, out: `${r.stdout.toString()}\n${r.stderr}` };
}

const statements = async () => (await gw.auditRecords()).filter((e): e is Extract<AuditRecord, { type: 'statement' }> => e.type === 'statement');

test('reads through a symlink or .. that lands outside the allowed directory are refused; inside, they work', { skip }, async () => {
  const into = (name: string) => join(local, name);
  const r = await sftp([
    `get ${allowed}/ok.txt ${into('ok.txt')}`,
    `get ${allowed}/link-file ${into('via-link.txt')}`,
    `get ${allowed}/link-dir/secret.txt ${into('via-dir.txt')}`,
    `get ${allowed}/../outside/secret.txt ${into('via-dotdot.txt')}`,
    `ls ${allowed}/link-dir`,
  ]);
  assert.equal(readFileSync(into('ok.txt'), 'utf8'), 'fine', r.out);
  for (const name of ['via-link.txt', 'via-dir.txt', 'via-dotdot.txt']) assert.ok(!existsSync(into(name)) || readFileSync(into(name), 'utf8') === '', `${name} was not read:\n${r.out}`);
  assert.doesNotMatch(r.out, /outside-secret|victim\.txt/);

  const audited = await statements();
  for (const sent of [`${allowed}/link-file`, `${allowed}/link-dir/secret.txt`, `${allowed}/../outside/secret.txt`, `${allowed}/link-dir`]) {
    const about = audited.filter((e) => e.text.includes(` ${sent} (`));
    assert.ok(about.some((e) => e.decision.effect === 'deny'), `refused: ${sent}`);
    assert.ok(!about.some((e) => /^sftp (open|opendir) /.test(e.text) && e.decision.effect === 'allow'), `never opened: ${sent}`);
    assert.ok(about.every((e) => e.tables.every((t) => t.startsWith(`${outside}`))), `policy saw where ${sent} lands`);
  }
});

test('writes through a symlink, a dangling symlink or .. that lands outside are refused and change nothing; the link itself may go', { skip }, async () => {
  const up = join(local, 'upload.txt');
  const r = await sftp([
    `put ${up} ${allowed}/new.txt`,
    `put ${up} ${allowed}/link-file`,
    `put ${up} ${allowed}/link-dir/planted.txt`,
    `put ${up} ${allowed}/dangling`,
    `put ${up} ${allowed}/dangling-deep`,
    `put ${up} ${allowed}/../outside/victim.txt`,
    `rename ${allowed}/ok.txt ${allowed}/link-dir/moved.txt`,
    `rm ${allowed}/link-file`,
  ]);
  assert.equal(readFileSync(join(allowed, 'new.txt'), 'utf8'), 'uploaded', `a write inside works:\n${r.out}`);
  assert.equal(readFileSync(join(outside, 'secret.txt'), 'utf8'), 'outside-secret', 'not written through the link');
  assert.ok(!existsSync(join(outside, 'planted.txt')), 'not created through the directory link');
  assert.ok(!existsSync(join(outside, 'created.txt')), 'not created through the dangling link');
  assert.equal(readFileSync(join(outside, 'victim.txt'), 'utf8'), 'keep me', 'not written through ..');
  assert.ok(existsSync(join(allowed, 'ok.txt')) && !existsSync(join(outside, 'moved.txt')), 'not renamed out through the link');
  // Removing a link removes the name inside the allowed directory, never its target.
  assert.throws(() => lstatSync(join(allowed, 'link-file')));
  assert.equal(readFileSync(join(outside, 'secret.txt'), 'utf8'), 'outside-secret');

  const audited = await statements();
  // The server resolves a link to a missing file in an existing directory: policy sees where it leads.
  const dangling = audited.find((e) => e.text.startsWith(`sftp open ${allowed}/dangling `));
  assert.deepEqual(dangling?.tables, [join(outside, 'created.txt')]);
  assert.equal(dangling?.decision.effect, 'deny');
  // Where the server cannot say, the gateway refuses whatever policy would say.
  const deep = audited.find((e) => e.text.startsWith(`sftp open ${allowed}/dangling-deep`));
  assert.equal(deep?.decision.effect, 'deny');
  assert.match(deep?.decision.reason ?? '', /symbolic link to a file that does not exist/);
  const viaDir = audited.find((e) => e.text.startsWith(`sftp open ${allowed}/link-dir/planted.txt`));
  assert.deepEqual(viaDir?.tables, [join(outside, 'planted.txt')]);
  assert.equal(viaDir?.decision.effect, 'deny');
});

test('scp (SFTP mode) is held to the same resolution: through a link it neither reads nor writes outside', { skip }, async () => {
  const scp = async (from: string, to: string) => runClient('scp', ['-q', ...clientArgs(gw.port), from, to], { password: await gw.token() });
  const up = await scp(join(local, 'upload.txt'), `box@127.0.0.1:${allowed}/link-dir/secret.txt`);
  assert.notEqual(up.code, 0);
  assert.equal(readFileSync(join(outside, 'secret.txt'), 'utf8'), 'outside-secret');
  const down = await scp(`box@127.0.0.1:${allowed}/link-dir/victim.txt`, join(local, 'scp-victim.txt'));
  assert.notEqual(down.code, 0);
  assert.ok(!existsSync(join(local, 'scp-victim.txt')) || readFileSync(join(local, 'scp-victim.txt'), 'utf8') === '');
  const ok = await scp(join(local, 'upload.txt'), `box@127.0.0.1:${allowed}/by-scp.txt`);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(readFileSync(join(allowed, 'by-scp.txt'), 'utf8'), 'uploaded');
});
