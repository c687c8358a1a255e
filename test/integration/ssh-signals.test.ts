// Signals through the gateway: a signal the agent sends on an exec channel ends the remote command,
// and the exit signal comes back as it does over a direct connection.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import ssh2, { type ConnectConfig } from 'ssh2';
import { sshSkipReason, startSshd, type RunningSshd } from '../support/sshd.js';
import { startTestSshGateway, type TestSshGateway } from '../support/ssh-gateway.js';
import { expectAuditVerifies } from '../support/audit-trail.js';
import { join } from 'node:path';

const POLICY = `
@id("agents-connect")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"connect", resource);
@id("agents-read")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"command_read", resource);
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

interface Ended {
  code: number | null;
  signal: string | undefined;
  runningBeforeSignal: boolean;
  runningAfter: boolean;
}

/** Processes of the test user whose command line is exactly `pattern`. */
function running(pattern: string): boolean {
  try {
    execFileSync('pgrep', ['-u', sshd.user, '-x', '-f', pattern], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function waitFor(cond: () => boolean, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

/** Runs `command` with ssh2's client, sends `signal` once the command runs on the server, and reports how it ended. */
function execAndSignal(cfg: ConnectConfig, command: string, signal: string): Promise<Ended> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    client.on('error', reject);
    client.on('ready', () => {
      client.exec(command, (err, ch) => {
        if (err) return reject(err);
        let code: number | null = null;
        let sig: string | undefined;
        let runningBeforeSignal = false;
        ch.on('exit', (c: number | null, s?: string) => {
          code = c;
          sig = s;
        });
        ch.on('data', () => undefined);
        ch.stderr.on('data', () => undefined);
        ch.on('close', async () => {
          const runningAfter = !(await waitFor(() => !running(command), 3000));
          client.end();
          resolve({ code, signal: sig, runningBeforeSignal, runningAfter });
        });
        void waitFor(() => running(command)).then((up) => {
          runningBeforeSignal = up;
          ch.signal(signal);
        });
      });
    });
    client.connect(cfg);
  });
}

test('an interrupt sent through the gateway ends the remote command, and the exit signal is relayed as from a direct connection', { skip }, async () => {
  const viaGw = await execAndSignal({ host: '127.0.0.1', port: gw.port, username: 'box', password: await gw.token() }, 'sleep 30.25', 'INT');
  const direct = await execAndSignal({ host: '127.0.0.1', port: sshd.port, username: sshd.user, privateKey: sshd.clientKey }, 'sleep 30.5', 'INT');
  assert.ok(direct.runningBeforeSignal && viaGw.runningBeforeSignal, 'the commands were running when signalled');
  assert.equal(direct.runningAfter, false, 'direct: the signal ended the command (sshd supports signals)');
  assert.equal(viaGw.runningAfter, false, 'through the gateway the signal ended the command on the server');
  assert.equal(direct.signal, 'SIGINT');
  assert.deepEqual({ code: viaGw.code, signal: viaGw.signal }, { code: direct.code, signal: direct.signal });
  const records = await gw.auditRecords();
  const stmt = records.find((e) => e.type === 'statement' && e.text === 'sleep 30.25');
  assert.ok(stmt && stmt.type === 'statement');
  const outcome = records.find((e) => e.type === 'statement.outcome' && e.statementId === stmt.statementId);
  assert.ok(outcome && outcome.type === 'statement.outcome');
  assert.equal(outcome.status, 'error');
  assert.match(outcome.error?.code ?? '', /^signal (SIG)?INT$/);
});

test('TERM and KILL are relayed as well', { skip }, async () => {
  for (const [signal, duration] of [['TERM', '30.75'], ['KILL', '31.25']] as const) {
    const r = await execAndSignal({ host: '127.0.0.1', port: gw.port, username: 'box', password: await gw.token() }, `sleep ${duration}`, signal);
    assert.ok(r.runningBeforeSignal);
    assert.equal(r.runningAfter, false, `${signal} ended the command`);
    assert.equal(r.signal, `SIG${signal}`);
  }
});

test('the trail of sessions whose commands were killed by signals verifies', { skip }, async () => {
  await new Promise((r) => setTimeout(r, 300)); // the last session's end is appended as it closes
  await expectAuditVerifies(join(gw.dataDir, 'audit'));
});
