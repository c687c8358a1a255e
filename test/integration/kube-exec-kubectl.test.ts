// The real kubectl (1.32: WebSocket v5.channel.k8s.io for exec) through the streaming handler.
// The engine's part is played by test/support/kube-streaming-harness.ts (which also answers the
// one plain request kubectl exec makes, reading the pod); the pods are real /bin/sh processes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startStreamingHarness, type StreamingHarness } from '../support/kube-streaming-harness.js';
import { KUBECTL_MISSING } from '../support/kube-gateway.js';

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

test('kubectl port-forward (SPDY, tunneled in WebSocket or not) is refused with a Status that says so', { skip: KUBECTL_MISSING }, async () => {
  const r = await kubectl(['port-forward', 'pod/web', '0:8080']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /SPDY is not supported/, r.stderr);
  const refusals = (await h.events()).filter((e) => e.type === 'statement' && e.statementTypes.includes('refused_request'));
  assert.ok(refusals.length >= 1);
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
