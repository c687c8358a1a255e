// The real kubectl through the whole gateway: the Kubernetes engine (its listener, token login,
// attributes, the StreamingContext it builds) hands pods/exec, pods/attach and pods/portforward to
// the streaming handler, which talks to the suite's API server with test/support/kube-exec-upstream.ts
// mounted as its streaming handler.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createKubeExecUpstream, type KubeExecUpstream } from '../support/kube-exec-upstream.js';
import { GIT_GUARD } from '../../core/shell/git-guard.js';
import { CLUSTER_TOKEN, KUBE_POLICY, KUBECTL_MISSING, kubectl as runKubectl, startKubeTestGateway, type KubeTestGateway } from '../support/kube-gateway.js';

const support = { CLUSTER_TOKEN, KUBE_POLICY, startKubeTestGateway, kubectl: runKubectl };
const skip = KUBECTL_MISSING;

const FORBID_DESTRUCTIVE = `
@id("no-destructive-exec")
forbid (principal, action == Airlock::Action::"k8s_exec", resource)
when { context.class == "destructive" };
`;
const EMAIL = 'ada.lovelace@example.com';

let gw: KubeTestGateway;
let upstream: KubeExecUpstream;
let config: string;
const seen: string[] = [];

before(async () => {
  upstream = createKubeExecUpstream({ token: support.CLUSTER_TOKEN });
  gw = await support.startKubeTestGateway({
    policy: `${support.KUBE_POLICY}\n${FORBID_DESTRUCTIVE}`,
    upgrade: [(req, socket, head) => upstream.handleUpgrade(req as never, socket as never, head)],
  });
  gw.api.put('pods', { metadata: { name: 'web', namespace: 'dev' }, spec: { containers: [{ name: 'c', image: 'busybox' }] }, status: { phase: 'Running' } });
  config = gw.kubeconfig(await gw.token());
});
after(async () => {
  await gw.stop();
  upstream.close();
});

const kubectl = async (args: string[], input?: string) => {
  const r = await support.kubectl(gw, config, args, { input });
  seen.push(r.stdout, r.stderr);
  return r;
};

test('kubectl exec through the gateway: runs, masked, with the cluster credential injected', { skip }, async () => {
  writeFileSync(join(upstream.podDir('dev', 'web'), 'owner.txt'), `owner ${EMAIL}\nplain line\n`);
  const r = await kubectl(['exec', '-n', 'dev', 'web', '--', 'cat', 'owner.txt']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /plain line/);
  assert.ok(!r.stdout.includes(EMAIL), r.stdout);
  assert.equal(upstream.seen.at(-1)?.authorization, `Bearer ${support.CLUSTER_TOKEN}`);
});

test('kubectl exec through the gateway: a destructive command is refused, the file stays', { skip }, async () => {
  const dir = upstream.podDir('dev', 'web');
  writeFileSync(join(dir, 'MARKER'), 'keep\n');
  const before = upstream.seen.length;
  const r = await kubectl(['exec', '-n', 'dev', 'web', '--', 'sh', '-c', 'rm -f MARKER']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /airlock: refused/);
  assert.ok(existsSync(join(dir, 'MARKER')));
  assert.equal(upstream.seen.length, before);
});

test('kubectl exec through the gateway: a command the classifier cannot follow is refused by the example policy', { skip }, async () => {
  const dir = upstream.podDir('dev', 'web');
  writeFileSync(join(dir, 'MARKER'), 'keep\n');
  const before = upstream.seen.length;
  // The program comes from a variable: opaque, whatever it would turn out to be.
  const r = await kubectl(['exec', '-n', 'dev', 'web', '--', 'sh', '-c', 'P=rm; $P -f MARKER']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /airlock: refused/);
  assert.ok(existsSync(join(dir, 'MARKER')));
  assert.equal(upstream.seen.length, before);
});

test('kubectl exec -i POD -- sh through the gateway: each line decided, a refused one skipped', { skip }, async () => {
  const dir = upstream.podDir('dev', 'web');
  writeFileSync(join(dir, 'MARKER'), 'keep\n');
  const r = await kubectl(['exec', '-i', '-n', 'dev', 'web', '--', 'sh'], "printf 'one-%s\\n' 1\nrm -f MARKER\nprintf 'two-%s\\n' 2\n");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /one-1/);
  assert.match(r.stdout, /two-2/);
  assert.match(r.stderr, /airlock: refused/);
  assert.ok(existsSync(join(dir, 'MARKER')));
});

test('kubectl attach -i through the gateway: the main process gets each allowed line, a refused one is skipped', { skip }, async () => {
  const dir = upstream.podDir('dev', 'web');
  writeFileSync(join(dir, 'MARKER'), 'keep\n');
  const before = upstream.seen.length;
  const r = await kubectl(['attach', '-i', '-n', 'dev', 'web'], "printf 'att-%s\\n' 1\nrm -f MARKER\nprintf 'att-%s\\n' 2\n");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /att-1/);
  assert.match(r.stdout, /att-2/);
  assert.match(r.stderr, /airlock: refused/);
  assert.ok(existsSync(join(dir, 'MARKER')));
  const up = upstream.seen.slice(before);
  assert.deepEqual(up.map((u) => [u.subresource, u.protocol]), [['attach', 'v5.channel.k8s.io']]);
});

test('kubectl port-forward through the gateway: bytes round-trip to a real TCP server in the pod; prod-* is refused by the example policy', { skip }, async () => {
  const echo = createServer((sock) => sock.on('error', () => sock.destroy()).pipe(sock));
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  upstream.mapPort('dev', 'web', 5432, (echo.address() as AddressInfo).port);
  gw.api.put('pods', { metadata: { name: 'db', namespace: 'prod-x' }, spec: { containers: [{ name: 'c', image: 'postgres' }] }, status: { phase: 'Running' } });
  upstream.mapPort('prod-x', 'db', 5432, (echo.address() as AddressInfo).port);
  try {
    for (const [ns, pod] of [['dev', 'web'], ['prod-x', 'db']] as const) {
      const stop = new AbortController();
      let localPort = 0;
      const ran = support.kubectl(gw, config, ['port-forward', '-n', ns, `pod/${pod}`, ':5432'], {
        signal: stop.signal,
        onStdout: (out) => (localPort ||= Number(/Forwarding from 127\.0\.0\.1:(\d+)/.exec(out)?.[1] ?? 0)),
      });
      for (let i = 0; i < 600 && !localPort; i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(localPort, 'kubectl printed its local port');
      const got = await new Promise<string>((resolve, reject) => {
        let text = '';
        const c = connect(localPort, '127.0.0.1', () => c.write('select 1;\n'));
        c.on('data', (d: Buffer) => {
          text += d.toString();
          if (text.includes('\n')) c.end();
        });
        c.on('close', () => resolve(text));
        c.on('error', reject);
      });
      stop.abort();
      const r = await ran;
      seen.push(r.stdout, r.stderr);
      if (ns === 'dev') assert.equal(got, 'select 1;\n', r.stderr);
      else {
        assert.equal(got, '');
        assert.match(r.stderr, /an error occurred forwarding \d+ -> 5432: airlock: refused/);
      }
    }
  } finally {
    echo.close();
  }
  assert.deepEqual(upstream.seen.filter((u) => u.subresource === 'portforward').map((u) => `${u.namespace}/${u.pod}?${u.query}`), ['dev/web?ports=5432']);
});

test('kubectl exec and attach -i through the gateway: git reaches the pod through the guard, so the repository\'s core.fsmonitor never runs', { skip }, async () => {
  gw.api.put('pods', { metadata: { name: 'repo', namespace: 'dev' }, spec: { containers: [{ name: 'c', image: 'alpine/git' }] }, status: { phase: 'Running' } });
  const dir = upstream.podDir('dev', 'repo');
  const git = (...args: string[]) => assert.equal(spawnSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: dir }).status, 0);
  git('init', '-q');
  git('commit', '-q', '--allow-empty', '-m', 'first-commit');
  git('config', 'core.fsmonitor', 'touch FSMON_RAN; false');
  const ran = join(dir, 'FSMON_RAN');

  const before = upstream.seen.length;
  const r = await kubectl(['exec', '-n', 'dev', 'repo', '--', 'git', 'status']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /On branch/);
  assert.ok(!existsSync(ran), 'exec: the repository\'s core.fsmonitor ran in the pod');
  assert.deepEqual(new URLSearchParams(upstream.seen[before]!.query).getAll('command'), ['/bin/sh', '-c', GIT_GUARD, 'git', 'status']);
  rmSync(ran, { force: true });

  const a = await kubectl(['attach', '-i', '-n', 'dev', 'repo'], "git status\nprintf 'att-%s\\n' 3\n");
  assert.equal(a.code, 0, a.stderr);
  assert.match(a.stdout, /att-3/);
  assert.match(a.stdout, /On branch/);
  assert.ok(!existsSync(ran), 'attach: the line went as typed and the repository\'s core.fsmonitor ran');
});

test('the cluster token is in nothing kubectl printed', { skip }, () => {
  for (const s of seen) assert.ok(!s.includes(support.CLUSTER_TOKEN));
});
