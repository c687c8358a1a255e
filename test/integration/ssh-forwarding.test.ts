// Keyboard-interactive login and agent forwarding with the real OpenSSH client, Airlock and a real
// sshd: what the target sees of the agent's ssh-agent depends on policy.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sshSkipReason, startSshd, type RunningSshd } from '../support/sshd.js';
import { gatewaySshArgs, runClient, sshTarget, startTestSshGateway, type TestSshGateway } from '../support/ssh-gateway.js';

const BASE = `
@id("agents-connect")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"connect", resource);
@id("agents-read")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"command_read", resource);
@id("agents-opaque")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"command_opaque", resource);
`;
const AGENT_FORWARD = `
@id("agents-agent-forward")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"agent_forward", resource);
@id("agents-x11-forward")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"x11_forward", resource);
`;
// For `ssh -R` the host and port are the listening side on the target.
const REMOTE_FORWARD = `
@id("agents-remote-forward-loopback")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"port_forward", resource)
when { context.host == "127.0.0.1" };
`;

const skip = sshSkipReason();
let sshd: RunningSshd;
let permitting: TestSshGateway;
let refusing: TestSshGateway;
let agentDir: string;
let agentSock: string;
let agentPid: string;
let agentKeyFingerprint: string;

before(async () => {
  if (skip) return;
  sshd = await startSshd({ x11: true });
  const permitTarget = sshTarget(sshd);
  permitting = await startTestSshGateway(sshd, BASE + AGENT_FORWARD + REMOTE_FORWARD, [permitTarget]);
  refusing = await startTestSshGateway(sshd, BASE, [sshTarget(sshd)]);
  // The agent's own ssh-agent, holding a throwaway key.
  agentDir = mkdtempSync(join(tmpdir(), 'airlock-agentfwd-'));
  agentSock = join(agentDir, 'agent.sock');
  const out = execFileSync('ssh-agent', ['-s', '-a', agentSock]).toString();
  agentPid = /SSH_AGENT_PID=(\d+)/.exec(out)![1]!;
  const keyFile = join(agentDir, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'airlock-forwarded-key', '-f', keyFile]);
  execFileSync('ssh-add', ['-q', keyFile], { env: { ...process.env, SSH_AUTH_SOCK: agentSock }, stdio: 'ignore' });
  agentKeyFingerprint = execFileSync('ssh-keygen', ['-l', '-f', `${keyFile}.pub`]).toString().split(/\s+/)[1]!;
});
after(async () => {
  if (agentPid) process.kill(Number(agentPid), 'SIGTERM');
  if (agentDir) rmSync(agentDir, { recursive: true, force: true });
  await permitting?.stop();
  await refusing?.stop();
  await sshd?.stop();
});

test('keyboard-interactive login: the token answers the prompt and an allowed command runs', { skip }, async () => {
  const token = await permitting.token();
  const args = gatewaySshArgs(permitting.port).map((a) => (a.startsWith('PreferredAuthentications=') ? 'PreferredAuthentications=keyboard-interactive' : a));
  const r = await runClient('ssh', ['-o', 'KbdInteractiveAuthentication=yes', '-o', 'PasswordAuthentication=no', ...args, 'echo kbd-ok'], { password: token });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.toString(), 'kbd-ok\n');
  assert.ok(!r.stderr.includes(token));
  // And a wrong answer is refused, as with a password.
  const bad = await runClient('ssh', ['-o', 'KbdInteractiveAuthentication=yes', '-o', 'PasswordAuthentication=no', ...args, 'echo kbd-ok'], { password: 'not-a-token' });
  assert.equal(bad.code, 255);
  assert.equal(bad.stdout.length, 0);
});

const withAgent = (gw: TestSshGateway, token: string, command: string) =>
  runClient('ssh', ['-A', ...gatewaySshArgs(gw.port), command], { password: token, env: { SSH_AUTH_SOCK: agentSock } });

test('agent forwarding, when policy permits it: the target lists the keys of the agent\'s ssh-agent', { skip }, async () => {
  const r = await withAgent(permitting, await permitting.token(), 'ssh-add -l');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout.toString(), new RegExp(agentKeyFingerprint.replace(/[+/]/g, '\\$&')));
  assert.match(r.stdout.toString(), /airlock-forwarded-key/);
  const records = await permitting.auditRecords();
  const grant = records.find((e) => e.type === 'statement' && e.text === 'agent forwarding');
  assert.ok(grant && grant.type === 'statement');
  assert.equal(grant.decision.effect, 'allow');
  assert.deepEqual(grant.decision.policyIds, ['agents-agent-forward']);
  const use = records.find((e) => e.type === 'statement' && e.text === 'agent forwarding: the target opened an agent channel');
  assert.ok(use, 'each use of the forwarded agent is audited');
});

test('agent forwarding, when policy does not permit it: the target has no agent, and the refusal is audited', { skip }, async () => {
  const r = await withAgent(refusing, await refusing.token(), 'ssh-add -l');
  // ssh-add: 2 = cannot connect to an agent (no SSH_AUTH_SOCK on the target).
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /Could not open a connection to your authentication agent|Error connecting to agent/);
  const records = await refusing.auditRecords();
  const refusal = records.find((e) => e.type === 'statement' && e.text === 'agent forwarding');
  assert.ok(refusal && refusal.type === 'statement');
  assert.equal(refusal.decision.effect, 'deny');
});

test('without -A nothing is forwarded even when permitted', { skip }, async () => {
  const r = await runClient('ssh', ['-a', ...gatewaySshArgs(permitting.port), 'ssh-add -l'], { password: await permitting.token(), env: { SSH_AUTH_SOCK: agentSock } });
  assert.equal(r.code, 2, r.stderr);
});

/** A stand-in X display on the agent's side: records what arrives and answers a fixed greeting. */
async function fakeDisplay(): Promise<{ display: string; received: () => Buffer; close: () => Promise<void> }> {
  const chunks: Buffer[] = [];
  const server = net.createServer((sock) => {
    sock.once('data', (d: Buffer) => {
      chunks.push(d);
      sock.end('AIRLOCK-X11!');
    });
    sock.on('error', () => undefined);
  });
  for (let n = 40; n < 100; n++) {
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(6000 + n, '127.0.0.1', () => resolve(true));
    });
    if (ok) return { display: `127.0.0.1:${n}`, received: () => Buffer.concat(chunks), close: () => new Promise((r) => server.close(() => r())) };
  }
  throw new Error('no free X display port');
}

// Run on the target: an X11 connection setup (MIT-MAGIC-COOKIE-1 with the cookie sshd gave xauth),
// then print the first bytes the display answers.
const X11_PROBE = [
  'd=${DISPLAY#*:}; d=${d%%.*}',
  'c=$(xauth list | grep "unix:$d " | tail -1 | awk \'{print $3}\')',
  'exec 3<>/dev/tcp/127.0.0.1/$((6000 + d))',
  "{ printf 'l\\0\\13\\0\\0\\0\\22\\0\\20\\0\\0\\0MIT-MAGIC-COOKIE-1\\0\\0'; printf \"$(echo $c | sed 's/../\\\\x&/g')\"; } >&3",
  'head -c 12 <&3',
].join('\n');

test('X11 forwarding, when policy permits it: an X client on the target reaches the agent\'s display', { skip }, async (t) => {
  const x = await fakeDisplay();
  t.after(() => x.close());
  const xauthority = join(agentDir, 'Xauthority');
  const r = await runClient('ssh', ['-Y', ...gatewaySshArgs(permitting.port), X11_PROBE], { password: await permitting.token(), env: { DISPLAY: x.display, XAUTHORITY: xauthority } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.toString(), 'AIRLOCK-X11!');
  const setup = x.received();
  assert.equal(setup[0], 0x6c, 'the display got the X11 connection setup');
  assert.ok(setup.includes(Buffer.from('MIT-MAGIC-COOKIE-1')));
  const records = await permitting.auditRecords();
  const grant = records.find((e) => e.type === 'statement' && e.text === 'X11 forwarding');
  assert.ok(grant && grant.type === 'statement');
  assert.deepEqual(grant.decision.policyIds, ['agents-x11-forward']);
  assert.ok(records.some((e) => e.type === 'statement' && e.text.startsWith('X11 forwarding: the target opened an X11 connection')));
});

test('X11 forwarding, when policy does not permit it: the target gets no display, and the refusal is audited', { skip }, async (t) => {
  const x = await fakeDisplay();
  t.after(() => x.close());
  const r = await runClient('ssh', ['-Y', ...gatewaySshArgs(refusing.port), 'echo "[$DISPLAY]"'], { password: await refusing.token(), env: { DISPLAY: x.display, XAUTHORITY: join(agentDir, 'Xauthority') } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.toString(), '[]\n');
  assert.equal(x.received().length, 0);
  const refusal = (await refusing.auditRecords()).find((e) => e.type === 'statement' && e.text === 'X11 forwarding');
  assert.ok(refusal && refusal.type === 'statement');
  assert.equal(refusal.decision.effect, 'deny');
});

/** An echo server on the agent's side, the destination of `ssh -R`. */
async function echoServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = net.createServer((sock) => {
    sock.on('error', () => undefined);
    sock.pipe(sock);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise((r) => server.close(() => r())) };
}

/** A port nothing listens on right now (the target is this machine). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(() => r(undefined)));
  return port;
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1', () => {
      sock.destroy();
      resolve(true);
    });
    sock.on('error', () => resolve(false));
  });
}

// Run on the target: connect to the forwarded port (the global request and the command race, so
// retry briefly), send a line and print what comes back.
const remoteProbe = (port: number) =>
  `for i in $(seq 50); do exec 3<>/dev/tcp/127.0.0.1/${port} && break; sleep 0.1; done 2>/dev/null; echo ping >&3; head -c 5 <&3`;

test('remote forwarding (ssh -R), when policy permits it: a connection on the target reaches the agent\'s echo server', { skip }, async (t) => {
  const echo = await echoServer();
  t.after(() => echo.close());
  const port = await freePort();
  const r = await runClient('ssh', ['-o', 'ExitOnForwardFailure=yes', '-R', `127.0.0.1:${port}:127.0.0.1:${echo.port}`, ...gatewaySshArgs(permitting.port), remoteProbe(port)], { password: await permitting.token() });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.toString(), 'ping\n');
  const records = await permitting.auditRecords();
  const grant = records.find((e) => e.type === 'statement' && e.text === `remote port forwarding from 127.0.0.1:${port} on the target`);
  assert.ok(grant && grant.type === 'statement');
  assert.equal(grant.decision.effect, 'allow');
  assert.deepEqual(grant.decision.policyIds, ['agents-remote-forward-loopback']);
  assert.ok(
    records.some((e) => e.type === 'statement' && e.text.startsWith(`remote port forwarding: the target accepted a connection on 127.0.0.1:${port} from 127.0.0.1:`)),
    'each connection the target accepts is audited',
  );
  // The target stops listening when the session ends.
  let still = true;
  for (let i = 0; i < 50 && still; i++) {
    still = await listening(port);
    if (still) await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal(still, false);
});

test('remote forwarding (ssh -R), when policy does not permit it: the client reports the failure, nothing listens, and the refusal is audited', { skip }, async (t) => {
  const echo = await echoServer();
  t.after(() => echo.close());
  const port = await freePort();
  const r = await runClient('ssh', ['-o', 'ExitOnForwardFailure=yes', '-R', `127.0.0.1:${port}:127.0.0.1:${echo.port}`, ...gatewaySshArgs(refusing.port), 'sleep 2; echo should-not-run'], { password: await refusing.token() });
  assert.equal(r.code, 255, r.stderr);
  assert.match(r.stderr, /remote port forwarding failed for listen port/);
  assert.doesNotMatch(r.stdout.toString(), /should-not-run/);
  assert.equal(await listening(port), false);
  const refusal = (await refusing.auditRecords()).find((e) => e.type === 'statement' && e.text === `remote port forwarding from 127.0.0.1:${port} on the target`);
  assert.ok(refusal && refusal.type === 'statement');
  assert.equal(refusal.decision.effect, 'deny');
});

test('remote forwarding (ssh -R) to an address policy does not name is refused', { skip }, async () => {
  const port = await freePort();
  const r = await runClient('ssh', ['-o', 'ExitOnForwardFailure=yes', '-R', `0.0.0.0:${port}:127.0.0.1:9`, ...gatewaySshArgs(permitting.port), 'sleep 2; echo should-not-run'], { password: await permitting.token() });
  assert.equal(r.code, 255, r.stderr);
  assert.doesNotMatch(r.stdout.toString(), /should-not-run/);
  assert.equal(await listening(port), false);
});
