// The real kubectl through the whole gateway: the Kubernetes engine (its listener, token login,
// attributes, the StreamingContext it builds) hands pods/exec to the streaming handler, which talks
// to the suite's API server with test/support/kube-exec-upstream.ts mounted as its exec handler.
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createKubeExecUpstream, type KubeExecUpstream } from '../support/kube-exec-upstream.js';
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

test('the cluster token is in nothing kubectl printed', { skip }, () => {
  for (const s of seen) assert.ok(!s.includes(support.CLUSTER_TOKEN));
});
