// The real kubectl (1.32: WebSocket v5.channel.k8s.io for exec, SPDY/3.1 tunneled in WebSocket for
// port-forward, or on the socket with KUBECTL_PORT_FORWARD_WEBSOCKETS=false) through the streaming handler.
// The engine's part is played by test/support/kube-streaming-harness.ts (which also answers the
// one plain request kubectl exec makes, reading the pod); the pods are real /bin/sh processes.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect, createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startStreamingHarness, type StreamingHarness } from '../support/kube-streaming-harness.js';
import { KUBECTL_MISSING } from '../support/kube-gateway.js';
import { GIT_GUARD } from '../../core/shell/git-guard.js';

const POLICY = `
@id("exec-reads")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"k8s_exec", resource)
when { context.input == "command" && context.class == "read" };

@id("exec-shells")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"k8s_exec", resource)
when { context.input == "shell" };

@id("exec-lines")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"k8s_exec", resource)
when { context.input == "line" && (context.class == "read" || context.class == "write") };

@id("forward-8080")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"k8s_portforward", resource)
when { context.port == 8080 };

@id("forward-7070-held") @approval("required")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"k8s_portforward", resource)
when { context.port == 7070 };

@id("no-destructive")
forbid (principal, action == Airlock::Action::"k8s_exec", resource)
when { context.class == "destructive" };
`;

const AGENT = 'kubectl-agent-token';
const CARD = '4111 1111 1111 1111';
let h: StreamingHarness;
let kubeconfig: string;
const home = mkdtempSync(join(tmpdir(), 'kubectl-home-'));

before(async () => {
  h = await startStreamingHarness({ policy: POLICY, agents: { [AGENT]: { id: 'agent-k', groups: ['agents'], issuer: 'test' } }, tls: true });
  kubeconfig = h.kubeconfigFile(AGENT);
});
after(async () => {
  await h.close();
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program (kubectl, or `script` around it for a terminal); `input`: lines written to its stdin one by one. */
function run(program: string, args: string[], input: string[] = [], gapMs = 400): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { env: { PATH: process.env.PATH, HOME: home, KUBECONFIG: kubeconfig, TERM: 'xterm' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    void (async () => {
      for (const line of input) {
        await new Promise((r) => setTimeout(r, gapMs));
        child.stdin.write(line);
      }
      if (input.length) await new Promise((r) => setTimeout(r, gapMs));
      child.stdin.end();
    })();
  });
}

const kubectl = (args: string[], input?: string[]) => run('kubectl', ['--request-timeout=60s', ...args], input);

test('kubectl exec: the command runs, its output is masked', { skip: KUBECTL_MISSING }, async () => {
  writeFileSync(join(h.upstream.podDir('default', 'web'), 'data.txt'), `card ${CARD}\nplain line\n`);
  const r = await kubectl(['exec', 'web', '--', 'cat', 'data.txt']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /plain line/);
  assert.ok(!r.stdout.includes(CARD));
  const seen = h.upstream.seen.at(-1)!;
  assert.equal(seen.protocol, 'v5.channel.k8s.io', 'kubectl 1.32 speaks v5 over WebSocket');
  assert.equal(new URLSearchParams(seen.query).get('container'), 'main');
});

test('kubectl exec: the exit code comes through', { skip: KUBECTL_MISSING }, async () => {
  const r = await kubectl(['exec', 'web', '--', 'sh', '-c', 'exit 3']);
  assert.equal(r.code, 3, r.stderr);
});

test('kubectl exec: a destructive command is refused with a clear error, the file stays, kubectl does not retry over SPDY', { skip: KUBECTL_MISSING }, async () => {
  const dir = h.upstream.podDir('default', 'web');
  writeFileSync(join(dir, 'MARKER'), 'keep\n');
  const before = h.upstream.seen.length;
  const r = await kubectl(['exec', 'web', '--', 'sh', '-c', 'rm -f MARKER']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /airlock: refused/);
  assert.match(r.stderr, /no-destructive/);
  assert.ok(existsSync(join(dir, 'MARKER')));
  assert.equal(h.upstream.seen.length, before);
  const denials = (await h.events()).filter((e) => e.type === 'statement' && e.text.includes('rm -f MARKER'));
  assert.equal(denials.length, 1, 'one request, one decision (no SPDY retry)');
});

test('kubectl exec -i POD -- sh with scripted stdin: every line decided, a refused one skipped', { skip: KUBECTL_MISSING }, async () => {
  const dir = h.upstream.podDir('default', 'pipe');
  writeFileSync(join(dir, 'MARKER'), 'keep\n');
  const r = await kubectl(['exec', '-i', 'pipe', '--', 'sh'], ["printf 'one-%s\\n' 1\n", 'rm -f MARKER\n', "printf 'two-%s\\n' 2\n"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /one-1/);
  assert.match(r.stdout, /two-2/);
  assert.match(r.stderr, /airlock: refused/);
  assert.ok(existsSync(join(dir, 'MARKER')));
});

/** `kubectl port-forward` running: the local port it printed, and how it ended once stopped. */
async function startPortForward(args: string[], env: Record<string, string> = {}): Promise<{ localPort: number; child: ChildProcess; ended: Promise<Run> }> {
  const child = spawn('kubectl', ['--request-timeout=60s', 'port-forward', ...args], { env: { PATH: process.env.PATH, HOME: home, KUBECONFIG: kubeconfig, ...env } });
  let stdout = '';
  let stderr = '';
  const ended = new Promise<Run>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  void ended.then(() => clearTimeout(timer));
  const localPort = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(stdout);
      if (m) resolve(Number(m[1]));
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    void ended.then((r) => reject(new Error(`kubectl port-forward ended before forwarding: ${r.stderr}`)));
  });
  return { localPort, child, ended };
}

/** Sends `payload` through a fresh local connection and reads until as many bytes came back (or the connection ends). */
function roundTrip(port: number, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    let n = 0;
    s.on('data', (d: Buffer) => {
      got.push(d);
      n += d.length;
      if (n >= payload.length) s.end();
    });
    s.on('close', () => resolve(Buffer.concat(got)));
    s.on('error', reject);
    s.write(payload);
  });
}

async function echoServer(): Promise<{ port: number; connections: () => number; close(): void }> {
  let connections = 0;
  const echo = createServer((s) => {
    connections++;
    s.on('error', () => s.destroy());
    s.pipe(s);
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  return { port: (echo.address() as AddressInfo).port, connections: () => connections, close: () => echo.close() };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

for (const mode of ['SPDY tunneled in WebSocket', 'SPDY on the socket'] as const) {
  test(`kubectl port-forward (${mode}): bytes round-trip to a real TCP server, the port decided once and audited`, { skip: KUBECTL_MISSING }, async () => {
    const echo = await echoServer();
    const pod = mode === 'SPDY on the socket' ? 'fwd-spdy' : 'fwd-ws';
    h.upstream.mapPort('default', pod, 8080, echo.port);
    const before = h.upstream.seen.length;
    // Larger than SPDY's 64 KiB initial window: spdystream sends no WINDOW_UPDATE, so the gateway must not wait for one.
    const big = randomBytes(600 * 1024);
    const pf = await startPortForward([`pod/${pod}`, ':8080'], mode === 'SPDY on the socket' ? { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' } : {});
    try {
      assert.equal((await roundTrip(pf.localPort, Buffer.from('hello through airlock\n'))).toString(), 'hello through airlock\n');
      assert.equal(sha(await roundTrip(pf.localPort, big)), sha(big));
      assert.equal(echo.connections(), 2);
    } finally {
      pf.child.kill('SIGTERM');
      await pf.ended;
      echo.close();
    }
    const upstream = h.upstream.seen.slice(before);
    assert.equal(upstream.length, 2, 'one upstream per forwarded connection');
    for (const u of upstream) {
      assert.equal(u.protocol, 'v4.channel.k8s.io');
      assert.equal(u.query, 'ports=8080');
      assert.equal(u.authorization, `Bearer ${h.upstreamToken}`);
    }
    const events = await h.events();
    const decided = events.filter((e) => e.type === 'statement' && e.text === `port-forward default/${pod}:8080`);
    assert.equal(decided.length, 1, 'one decision for the port, reused by the second connection');
    const d = decided[0]!;
    assert.ok(d.type === 'statement' && d.decision.effect === 'allow' && d.statementTypes.includes(mode === 'SPDY on the socket' ? 'k8s.portforward.spdy.upgrade' : 'k8s.portforward.spdy.websocket'));
    assert.deepEqual(d.decision.policyIds, ['forward-8080']);
    await waitFor(async () => (await h.events()).some((e) => e.type === 'statement.outcome' && e.statementId === d.statementId), 'the outcome event');
    const outcome = (await h.events()).find((e) => e.type === 'statement.outcome' && e.statementId === d.statementId)!;
    assert.ok(outcome.type === 'statement.outcome' && outcome.bytes === big.length + 22);
  });
}

test('kubectl port-forward to a port held for a reviewer: the connection waits, then its bytes flow once approved', { skip: KUBECTL_MISSING }, async () => {
  const echo = await echoServer();
  h.upstream.mapPort('default', 'fwd-held', 7070, echo.port);
  const pf = await startPortForward(['pod/fwd-held', ':7070']);
  try {
    const answer = roundTrip(pf.localPort, Buffer.from('after approval\n'));
    let pending: Awaited<ReturnType<typeof h.approvals.listPending>>[number] | undefined;
    await waitFor(async () => (pending = (await h.approvals.listPending()).find((a) => a.statementText === 'port-forward default/fwd-held:7070')) !== undefined, 'the approval request');
    assert.equal(echo.connections(), 0, 'the pod was reached before approval');
    await h.approvals.decide(pending!.id, { id: 'rita', groups: ['reviewers'], issuer: 'test' }, { verdict: 'approve', scope: 'once', reason: 'ok' });
    assert.equal((await answer).toString(), 'after approval\n');
    assert.equal(echo.connections(), 1);
  } finally {
    pf.child.kill('SIGTERM');
    await pf.ended;
    echo.close();
  }
  const decided = (await h.events()).find((e) => e.type === 'statement' && e.text === 'port-forward default/fwd-held:7070');
  assert.ok(decided && decided.type === 'statement' && decided.decision.effect === 'allow');
  assert.match(decided.decision.reason, /approved by rita/);
});

test('kubectl port-forward to a refused port: kubectl prints the refusal, the pod is never reached, the denial is audited', { skip: KUBECTL_MISSING }, async () => {
  const echo = await echoServer();
  h.upstream.mapPort('default', 'fwd-refused', 9090, echo.port);
  const before = h.upstream.seen.length;
  const pf = await startPortForward(['pod/fwd-refused', ':9090']);
  try {
    const got = await roundTrip(pf.localPort, Buffer.from('anyone there?\n'));
    assert.equal(got.length, 0);
    const r = await pf.ended;
    assert.match(r.stderr, /an error occurred forwarding \d+ -> 9090: airlock: refused: .*default deny/, r.stderr);
  } finally {
    pf.child.kill('SIGTERM');
    echo.close();
  }
  assert.equal(echo.connections(), 0);
  assert.equal(h.upstream.seen.length, before);
  const denied = (await h.events()).filter((e) => e.type === 'statement' && e.text === 'port-forward default/fwd-refused:9090');
  assert.equal(denied.length, 1);
  assert.ok(denied[0]!.type === 'statement' && denied[0]!.decision.effect === 'deny');
});

test('kubectl exec -it POD -- sh in a terminal (util-linux script): lines decided, recorded', { skip: KUBECTL_MISSING }, async () => {
  const dir = h.upstream.podDir('default', 'tty');
  writeFileSync(join(dir, 'MARKER'), 'keep\n');
  const r = await run(
    'script',
    ['-qfec', `kubectl --request-timeout=60s exec -it tty -- sh`, '/dev/null'],
    ["printf 'tty-%s\\n' 7\r", 'rm -f MARKER\r', "printf 'after-%s\\n' 8\r", 'exit\r'],
    700,
  );
  assert.equal(r.code, 0, r.stdout);
  assert.match(r.stdout, /tty-7/);
  assert.match(r.stdout, /airlock: refused/);
  assert.match(r.stdout, /after-8/);
  assert.ok(existsSync(join(dir, 'MARKER')));
  const shell = (await h.events()).filter((e) => e.type === 'statement' && e.statementTypes.includes('k8s.exec.shell')).at(-1);
  assert.ok(shell && shell.type === 'statement');
  const [sessionId, n] = shell.statementId.split('/') as [string, string];
  const cast = readFileSync(join(h.recordingsDir, sessionId, `${n}.cast`), 'utf8');
  assert.match(cast, /tty-7/);
  assert.match(cast, /"i",/);
  assert.ok(!cast.includes(h.upstreamToken));
});

/** A pod directory holding a git repository (one commit) whose own configuration runs `touch FSMON_RAN` on `git status`. */
function hostileRepo(pod: string): string {
  const dir = h.upstream.podDir('default', pod);
  const git = (...args: string[]) => assert.equal(spawnSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: dir }).status, 0, `git ${args.join(' ')}`);
  git('init', '-q');
  git('commit', '-q', '--allow-empty', '-m', 'first-commit');
  git('config', 'core.fsmonitor', 'touch FSMON_RAN; false');
  return dir;
}

const sentArgv = (i: number) => new URLSearchParams(h.upstream.seen[i]!.query).getAll('command');

test('kubectl exec POD -- git log: the container receives git through the guard, not the argv as sent', { skip: KUBECTL_MISSING }, async () => {
  hostileRepo('git-log');
  const before = h.upstream.seen.length;
  const r = await kubectl(['exec', 'git-log', '--', 'git', 'log', '--oneline']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /first-commit/);
  assert.equal(h.upstream.seen.length, before + 1);
  const argv = sentArgv(before);
  assert.equal(argv[2], GIT_GUARD, `sent ${JSON.stringify(argv)}`);
  assert.deepEqual([argv[1], ...argv.slice(3)], ['-c', 'git', 'log', '--oneline']);
  assert.match(argv[2]!, /-c core\.pager=cat/);
});

test('kubectl exec POD -- git status in a repository whose config names core.fsmonitor: the program does not run', { skip: KUBECTL_MISSING }, async () => {
  const dir = hostileRepo('git-status');
  const r = await kubectl(['exec', 'git-status', '--', 'git', 'status']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /nothing to commit|On branch/);
  assert.ok(!existsSync(join(dir, 'FSMON_RAN')), 'the repository\'s core.fsmonitor ran in the container');
});

test('kubectl exec -i POD -- sh: a typed line is given to the shell rebuilt (git status through the guard)', { skip: KUBECTL_MISSING }, async () => {
  const dir = hostileRepo('git-line');
  const r = await kubectl(['exec', '-i', 'git-line', '--', 'sh'], ['git status\n', "printf 'done-%s\\n' 1\n"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /done-1/);
  assert.match(r.stdout, /nothing to commit|On branch/);
  assert.ok(!existsSync(join(dir, 'FSMON_RAN')), 'the line went as typed: the repository\'s core.fsmonitor ran');
});

const dmesgReadable = (() => {
  const r = spawnSync('dmesg', ['-H', '--color=never'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.split('\n').length >= 200 && spawnSync('sh', ['-c', 'command -v less']).status === 0;
})();

test('kubectl exec -it POD -- dmesg -H: the container runs dmesg with --nopager, so no less reads the keys typed next', { skip: KUBECTL_MISSING || (!dmesgReadable && 'needs less and a readable kernel log of 200 lines or more'), timeout: 60_000 }, async () => {
  const dir = h.upstream.podDir('default', 'pager');
  const before = h.upstream.seen.length;
  // In less, `!CMD` runs CMD through a shell: the gateway never saw it.
  await run('script', ['-qfec', `kubectl --request-timeout=60s exec -it pager -- dmesg -H`, '/dev/null'], ['!touch LESS_RAN\r', '\r', 'q'], 1000);
  assert.equal(h.upstream.seen.length, before + 1);
  assert.ok(!existsSync(join(dir, 'LESS_RAN')), 'a pager ran the command typed into it');
  assert.deepEqual(sentArgv(before), ['dmesg', '--nopager', '-H']);
});

async function waitFor(check: () => Promise<boolean> | boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}
