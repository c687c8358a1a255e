// Shell inspection end to end: the bypass and usefulness corpora through the real gateway against
// the real OpenSSH server, under a read-only policy, with a marker file the bypasses aim at.
// The corpora run as exec channels of one ssh2 client connection (several hundred commands; one
// `ssh` process each would take minutes); the real `ssh` client checks what the target runs.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { sshSkipReason, startSshd, type RunningSshd } from '../support/sshd.js';
import { gatewaySshArgs, runClient, startTestSshGateway, type TestSshGateway } from '../support/ssh-gateway.js';
import { bypassCorpus, usefulnessCorpus } from '../support/ssh-corpus.js';

const READ_ONLY = `
@id("agents-connect")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"connect", resource);
@id("agents-read")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"command_read", resource);
`;
const MARKER_TEXT = 'the marker must survive\n';

const skip = sshSkipReason();
let sshd: RunningSshd;
let gw: TestSshGateway;
let token: string;
let client: ssh2.Client;
let marker: string;

before(async () => {
  if (skip) return;
  sshd = await startSshd();
  gw = await startTestSshGateway(sshd, READ_ONLY);
  token = await gw.token();
  marker = join(sshd.workDir, 'marker');
  writeFileSync(marker, MARKER_TEXT);
  const owner = statSync(sshd.workDir);
  chownSync(marker, owner.uid, owner.gid); // the target account could delete it, were a bypass to run
  client = new ssh2.Client();
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve).once('error', reject);
    client.connect({ host: '127.0.0.1', port: gw.port, username: 'box', password: token, readyTimeout: 20_000 });
  });
});
after(async () => {
  client?.end();
  await gw?.stop();
  await sshd?.stop();
});

interface Outcome {
  command: string;
  code: number | null;
  stdout: string;
  stderr: string;
}

function exec(command: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    client.exec(command, (err, ch) => {
      if (err) return reject(err);
      let stdout = '';
      let stderr = '';
      let code: number | null = null;
      ch.on('data', (d: Buffer) => (stdout += d));
      ch.stderr.on('data', (d: Buffer) => (stderr += d));
      ch.on('exit', (c: number | null) => (code = c));
      ch.on('close', () => resolve({ command, code, stdout, stderr }));
      ch.end();
    });
  });
}

/** Runs commands a few at a time (OpenSSH allows ten sessions per connection by default). */
async function runAll(commands: string[], concurrency = 6): Promise<Outcome[]> {
  const out: Outcome[] = new Array(commands.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < commands.length) {
        const i = next++;
        out[i] = await exec(commands[i]!);
      }
    }),
  );
  return out;
}

const refused = (o: Outcome) => o.code === 126 && o.stderr.startsWith('airlock: refused');

test('every bypass attempt is refused by a read-only policy and the marker file is intact', { skip, timeout: 120_000 }, async () => {
  const corpus = bypassCorpus(marker);
  assert.ok(corpus.length >= 200);
  const outcomes = await runAll(corpus);
  const ran = outcomes.filter((o) => !refused(o));
  assert.deepEqual(ran.map((o) => `${o.command} → ${o.code} ${o.stderr.slice(0, 200)}`), []);
  assert.equal(readFileSync(marker, 'utf8'), MARKER_TEXT);
  assert.deepEqual(readdirSync(sshd.workDir), ['marker'], 'no file created beside the marker');
});

test('the usefulness corpus is allowed: no command is refused by the gateway', { skip, timeout: 120_000 }, async () => {
  const corpus = usefulnessCorpus();
  assert.ok(corpus.length >= 100);
  const outcomes = await runAll(corpus);
  assert.deepEqual(outcomes.filter(refused).map((o) => `${o.command}: ${o.stderr.trim()}`), []);
  // They ran on the target: a command the target understood produced its output.
  const byCommand = new Map(outcomes.map((o) => [o.command, o]));
  assert.equal(byCommand.get('whoami')!.stdout, `${sshd.user}\n`);
  assert.equal(byCommand.get('echo hello')!.stdout, 'hello\n');
  assert.equal(byCommand.get("printf '%s\\n' done")!.stdout, 'done\n');
  assert.equal(byCommand.get('seq 1 5')!.stdout, '1\n2\n3\n4\n5\n');
  assert.equal(readFileSync(marker, 'utf8'), MARKER_TEXT);
});

test('the target runs the rebuilt command under env -i, not the text the agent sent', { skip }, async () => {
  const viaGateway = (command: string) => runClient('ssh', [...gatewaySshArgs(gw.port), command], { password: token });
  const env = await viaGateway('env');
  assert.equal(env.code, 0, env.stderr);
  const vars = new Map(env.stdout.toString().trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  assert.equal(vars.get('PAGER'), 'cat');
  assert.equal(vars.get('PATH'), '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  assert.ok(!vars.has('SSH_CONNECTION'), 'the login environment is not inherited');
  assert.ok(vars.get('HOME')?.startsWith('/'), 'HOME is the target account\'s');
  // Quoting survives the rebuild: the words the target's programs receive are the ones judged.
  const quoted = await viaGateway(`printf '[%s]\\n' "a b" 'c$d' e\\ f "g\\"h" '#x' y#z ~/q`);
  assert.equal(quoted.code, 0, quoted.stderr);
  assert.equal(quoted.stdout.toString(), `[a b]\n[c$d]\n[e f]\n[g"h]\n[#x]\n[y#z]\n[${vars.get('HOME')}/q]\n`);
  const pipeline = await viaGateway("echo out; ls /nonexistent |& wc -l; ls /nonexistent 2>/dev/null || echo 'fell back'");
  assert.equal(pipeline.stdout.toString(), 'out\n1\nfell back\n');
});

test('a command nested deeply enough to exhaust the parser\'s stack is refused, and the gateway carries on (found by red-teaming)', { skip, timeout: 60_000 }, async () => {
  // These threw out of the inspection: an unhandled rejection, which ends the gateway process.
  for (const command of [`${'('.repeat(1000)}ls${')'.repeat(1000)}`, Array(5000).fill('ls').join(' | ')]) {
    const o = await exec(command);
    assert.ok(refused(o), `${o.code} ${o.stderr.slice(0, 200)}`);
    assert.match(o.stderr, /nested too deeply/);
  }
  const after = await exec('echo still here');
  assert.equal(after.stdout, 'still here\n');
});
