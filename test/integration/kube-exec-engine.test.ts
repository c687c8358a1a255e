// kubectl exec through the Kubernetes engine into the streaming handler (streaming/index.ts, built
// on its own branch): the engine admits, resolves and hands over; the pod is a real /bin/sh in the
// exec upstream mounted on the suite's API server. Skipped while the handler is not in the build.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { CLUSTER_TOKEN, kubectl, startKubeTestGateway, type KubeTestGateway } from '../support/kube-gateway.js';

const handlerBuilt = existsSync(new URL('../../fargate-proxy/src/protocols/kubernetes/streaming/index.ts', import.meta.url));
const upstreamSupport = new URL('../support/kube-exec-upstream.ts', import.meta.url);
const available = handlerBuilt && existsSync(upstreamSupport);

interface ExecUpstream {
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  readonly seen: { subresource: string; authorization?: string }[];
  close(): void;
}
let gw: KubeTestGateway;
let up: ExecUpstream;

before(async () => {
  if (!available) return;
  const mod = (await import(upstreamSupport.href)) as { createKubeExecUpstream(o: { token?: string }): ExecUpstream };
  up = mod.createKubeExecUpstream({ token: CLUSTER_TOKEN });
  gw = await startKubeTestGateway({ upgrade: [(req, socket, head) => up.handleUpgrade(req, socket, head)] });
  gw.api.put('namespaces', { metadata: { name: 'dev' } });
  gw.api.put('pods', { metadata: { name: 'web', namespace: 'dev' }, spec: { containers: [{ name: 'main', image: 'sh' }] } });
});
after(async () => {
  await gw?.stop();
  up?.close();
});

test('kubectl exec reaches the pod through the engine and the streaming handler', { skip: !available && 'the streaming handler (streaming/index.ts) is not in this build' }, async () => {
  const r = await kubectl(gw, gw.kubeconfig(await gw.token()), ['exec', 'web', '-n', 'dev', '--', 'echo', 'through-airlock']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'through-airlock');
  assert.ok(up.seen.some((s) => s.subresource === 'exec' && s.authorization === `Bearer ${CLUSTER_TOKEN}`), 'the cluster credential went upstream');
  assert.ok(!r.stdout.includes(CLUSTER_TOKEN) && !r.stderr.includes(CLUSTER_TOKEN));
});
