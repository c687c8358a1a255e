// SFTP and scp through the gateway: the real OpenSSH sftp and scp clients → Airlock → a real sshd.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sshSkipReason, startSshd, type RunningSshd } from '../support/sshd.js';
import { runClient, startTestSshGateway, type TestSshGateway } from '../support/ssh-gateway.js';
import ssh2, { type SFTPWrapper } from 'ssh2';
import type { AuditRecord } from '../../core/audit/events.js';
import { OrderedDigest } from '../../fargate-proxy/src/protocols/ssh/transfer-digest.js';

const CONNECT = `
@id("agents-connect")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"connect", resource);
`;
const READ_WRITE = `${CONNECT}
@id("agents-transfer")
permit (principal in Airlock::Group::"agents", action in Airlock::Action::"file_transfer", resource);
`;
const READ_ONLY = `${CONNECT}
@id("agents-read-files")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"file_read", resource);
@id("no-uploads")
@reason("agents may not change files on this target")
forbid (principal, action == Airlock::Action::"file_write", resource);
`;

const skip = sshSkipReason();
let sshd: RunningSshd;
let rw: TestSshGateway;
let ro: TestSshGateway;
let local: string;
let remoteFile: string;
let remoteBytes: Buffer;

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** What sftp and scp need to reach the gateway with a password (the token); -P, not -p, names the port. */
function clientArgs(port: number): string[] {
  return ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=password', '-o', 'NumberOfPasswordPrompts=1', '-o', 'LogLevel=ERROR', '-P', String(port)];
}

/** sftp's batch mode turns on BatchMode, which forbids passwords: an earlier -o wins in OpenSSH. */
async function sftpBatch(gw: TestSshGateway, commands: string[]) {
  return runClient('sftp', ['-o', 'BatchMode=no', ...clientArgs(gw.port), '-b', '-', 'box@127.0.0.1'], { password: await gw.token(), input: `${commands.join('\n')}\n` });
}

async function scp(gw: TestSshGateway, from: string, to: string) {
  return runClient('scp', ['-q', ...clientArgs(gw.port), from, to], { password: await gw.token() });
}

/** A file in the sshd's work directory, owned by the test user like anything it uploads. */
function serverFile(name: string, bytes: Buffer): string {
  const path = join(sshd.workDir, name);
  writeFileSync(path, bytes);
  const { uid, gid } = statSync(sshd.workDir);
  chownSync(path, uid, gid);
  return path;
}

before(async () => {
  if (skip) return;
  sshd = await startSshd();
  rw = await startTestSshGateway(sshd, READ_WRITE);
  ro = await startTestSshGateway(sshd, READ_ONLY);
  local = mkdtempSync(join(tmpdir(), 'airlock-sftp-local-'));
  // Larger than several SFTP packets, so pipelined reads and writes are exercised.
  remoteBytes = randomBytes(700_000 + 123);
  remoteFile = serverFile('remote.bin', remoteBytes);
});
after(async () => {
  await rw?.stop();
  await ro?.stop();
  await sshd?.stop();
  if (local) rmSync(local, { recursive: true, force: true });
});

const statements = (records: AuditRecord[]) => records.filter((e): e is Extract<AuditRecord, { type: 'statement' }> => e.type === 'statement');
const outcomeOf = (records: AuditRecord[], statementId: string) =>
  records.find((e): e is Extract<AuditRecord, { type: 'statement.outcome' }> => e.type === 'statement.outcome' && e.statementId === statementId);

test('sftp download and upload through the gateway give identical bytes', { skip }, async () => {
  const down = join(local, 'down.bin');
  const upSource = join(local, 'up-source.bin');
  const upBytes = randomBytes(333_333);
  writeFileSync(upSource, upBytes);
  const upTarget = join(sshd.workDir, 'uploaded-by-sftp.bin');
  const r = await sftpBatch(rw, [`get ${remoteFile} ${down}`, `put ${upSource} ${upTarget}`, `ls -l ${sshd.workDir}`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(sha256(readFileSync(down)), sha256(remoteBytes));
  assert.equal(sha256(readFileSync(upTarget)), sha256(upBytes));
  assert.match(r.stdout.toString(), /remote\.bin/, 'listing works');
});

test('scp (SFTP mode) download and upload through the gateway give identical bytes', { skip }, async () => {
  const down = join(local, 'scp-down.bin');
  const upSource = join(local, 'scp-up.bin');
  const upBytes = randomBytes(200_001);
  writeFileSync(upSource, upBytes);
  const upTarget = join(sshd.workDir, 'uploaded-by-scp.bin');
  const d = await scp(rw, `box@127.0.0.1:${remoteFile}`, down);
  assert.equal(d.code, 0, d.stderr);
  assert.equal(sha256(readFileSync(down)), sha256(remoteBytes));
  const u = await scp(rw, upSource, `box@127.0.0.1:${upTarget}`);
  assert.equal(u.code, 0, u.stderr);
  assert.equal(sha256(readFileSync(upTarget)), sha256(upBytes));
});

test('a read-only policy refuses uploads (nothing reaches the server) but allows downloads, in the same session', { skip }, async () => {
  const upSource = join(local, 'refused.bin');
  writeFileSync(upSource, randomBytes(10_000));
  const refusedTarget = join(sshd.workDir, 'must-not-exist.bin');
  const down = join(local, 'ro-down.bin');
  // "-put": sftp carries on after a failed command, so the download proves the session survived.
  const r = await sftpBatch(ro, [`-put ${upSource} ${refusedTarget}`, `-mkdir ${join(sshd.workDir, 'newdir')}`, `-rm ${remoteFile}`, `get ${remoteFile} ${down}`]);
  assert.equal(r.code, 0, r.stderr);
  // OpenSSH's sftp prints the status code's text, not the server's message (see the next test).
  assert.match(r.stderr, /Permission denied/);
  assert.ok(!existsSync(refusedTarget), 'the refused upload created nothing');
  assert.ok(!existsSync(join(sshd.workDir, 'newdir')), 'the refused mkdir created nothing');
  assert.ok(existsSync(remoteFile), 'the refused rm removed nothing');
  assert.equal(sha256(readFileSync(down)), sha256(remoteBytes));

  const s = await scp(ro, upSource, `box@127.0.0.1:${refusedTarget}`);
  assert.notEqual(s.code, 0);
  assert.ok(!existsSync(refusedTarget));

  const records = await ro.auditRecords();
  const denied = statements(records).filter((e) => e.decision.effect === 'deny');
  for (const op of ['sftp.open', 'sftp.mkdir', 'sftp.remove']) {
    const e = denied.find((x) => x.statementTypes.includes(op));
    assert.ok(e, `refused ${op} is audited`);
    assert.deepEqual(e.decision.policyIds, ['no-uploads']);
    assert.equal(e.class, 'write');
  }
  assert.ok(denied.some((e) => e.tables.includes(refusedTarget)), 'the refused path is in the audit');
});

test('a refusal carries a clear message and the SFTP session stays usable (ssh2 client shows the message)', { skip }, async () => {
  const client = new ssh2.Client();
  const token = await ro.token();
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve()).once('error', reject);
    client.connect({ host: '127.0.0.1', port: ro.port, username: 'box', password: token, hostVerifier: () => true });
  });
  after(() => client.end());
  const sftp = await new Promise<SFTPWrapper>((resolve, reject) => client.sftp((err, s) => (err ? reject(err) : resolve(s))));
  const refused = await new Promise<Error & { code?: number }>((resolve) => sftp.mkdir(join(sshd.workDir, 'x'), (err) => resolve(err as Error)));
  assert.equal(refused.code, ssh2.utils.sftp.STATUS_CODE.PERMISSION_DENIED);
  assert.match(refused.message, /^airlock: refused: policy "no-uploads" forbids file mkdir of \/.*\/x on target "box": agents may not change files on this target \(file_write; policy no-uploads\)$/);
  const got = await new Promise<Buffer>((resolve, reject) => sftp.readFile(remoteFile, (err, b) => (err ? reject(err) : resolve(b))));
  assert.equal(sha256(got), sha256(remoteBytes));
});

test('audit events carry the path, size and SHA-256 of each transfer', { skip }, async () => {
  const upSource = join(local, 'audited.bin');
  const upBytes = randomBytes(123_457);
  writeFileSync(upSource, upBytes);
  const upTarget = join(sshd.workDir, 'audited.bin');
  const r = await sftpBatch(rw, [`put ${upSource} ${upTarget}`, `get ${remoteFile} ${join(local, 'audited-down.bin')}`]);
  assert.equal(r.code, 0, r.stderr);
  const records = await rw.auditRecords();
  const opens = statements(records).filter((e) => e.statementTypes.includes('sftp.open') && e.decision.effect === 'allow');

  const upload = opens.find((e) => e.tables.includes(upTarget));
  assert.ok(upload, 'the upload is audited with its path');
  assert.equal(upload.class, 'write');
  const upOutcome = outcomeOf(records, upload.statementId);
  assert.ok(upOutcome?.response, 'the upload has an outcome with a digest');
  assert.equal(upOutcome.status, 'ok');
  assert.equal(upOutcome.bytes, upBytes.length);
  assert.equal(upOutcome.response.totalBytes, upBytes.length);
  assert.equal(upOutcome.response.sha256, sha256(readFileSync(upTarget)));

  const download = opens.filter((e) => e.tables.includes(remoteFile)).at(-1);
  assert.ok(download, 'the download is audited with its path');
  assert.equal(download.class, 'read');
  const downOutcome = outcomeOf(records, download.statementId);
  assert.ok(downOutcome?.response);
  assert.equal(downOutcome.bytes, remoteBytes.length);
  assert.equal(downOutcome.response.sha256, sha256(remoteBytes));

  // The decision was appended before the file was touched: the statement precedes its outcome.
  assert.ok(upload.seq < upOutcome.seq);
});

test('transfer digests put pipelined, out-of-order pieces back in file order', () => {
  const bytes = randomBytes(50_000);
  const pieces: [number, Buffer][] = [];
  for (let off = 0; off < bytes.length; off += 4096) pieces.push([off, bytes.subarray(off, off + 4096)]);
  // Replies in a shuffled order, and a short read retried (first half, then the rest), as OpenSSH does.
  const order = [...pieces].sort(() => Math.random() - 0.5);
  const d = new OrderedDigest();
  for (const [off, piece] of order) {
    if (off === 8192) {
      d.add(off, piece.subarray(0, 1000));
      d.add(off + 1000, piece.subarray(1000));
    } else d.add(off, piece);
  }
  const r = d.finish();
  assert.equal(r.sha256, sha256(bytes));
  assert.equal(r.bytes, bytes.length);

  const overlapping = new OrderedDigest();
  overlapping.add(0, bytes.subarray(0, 100));
  overlapping.add(50, bytes.subarray(50, 100));
  assert.equal(overlapping.finish().sha256, undefined, 'a re-read range makes the digest "not sequential", not wrong');
  const gap = new OrderedDigest();
  gap.add(100, bytes.subarray(100, 200));
  assert.equal(gap.finish().sha256, undefined, 'a hole at the end is not a whole file');
});
