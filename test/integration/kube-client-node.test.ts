// @kubernetes/client-node and kubectl watches through the Kubernetes gateway: typed lists and
// reads, and watch streams masked event by event (a Secret created while watching arrives masked).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { CoreV1Api, KubeConfig, Watch } from '@kubernetes/client-node';
import { CLUSTER_TOKEN, KUBECTL_MISSING, kubectl, startKubeTestGateway, type KubeTestGateway } from '../support/kube-gateway.js';

let gw: KubeTestGateway;
let kc: KubeConfig;
const b64 = (s: string) => Buffer.from(s).toString('base64');
const VALUE = 'sk_live_watch_secret_value_123';

before(async () => {
  // A short request timeout: a quiet watch must outlive it (it bounds receiving requests, not answers).
  gw = await startKubeTestGateway({ listener: { requestTimeoutMs: 1000 } });
  for (const ns of ['dev', 'prod-x']) gw.api.put('namespaces', { metadata: { name: ns } });
  gw.api.put('pods', { metadata: { name: 'web', namespace: 'dev' }, spec: { containers: [{ name: 'c', image: 'nginx', env: [{ name: 'OWNER', value: 'ada@example.com' }] }] } });
  gw.api.put('secrets', { metadata: { name: 'api-key', namespace: 'dev' }, type: 'Opaque', data: { key: b64(VALUE) } });
  kc = new KubeConfig();
  kc.loadFromString(JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'airlock', cluster: { server: gw.server, 'certificate-authority-data': gw.ca.toString('base64') } }],
    users: [{ name: 'agent', user: { token: await gw.token() } }],
    contexts: [{ name: 'airlock', context: { cluster: 'airlock', user: 'agent' } }],
    'current-context': 'airlock',
  }));
});
after(async () => {
  await gw?.stop();
});

test('client-node: typed list and read; the Secret arrives masked and still decodes', async () => {
  const core = kc.makeApiClient(CoreV1Api);
  const pods = await core.listNamespacedPod({ namespace: 'dev' });
  assert.deepEqual(pods.items.map((p) => p.metadata?.name), ['web']);
  assert.notEqual(pods.items[0]!.spec!.containers[0]!.env![0]!.value, 'ada@example.com');
  const secret = await core.readNamespacedSecret({ name: 'api-key', namespace: 'dev' });
  assert.equal(Buffer.from(secret.data!.key!, 'base64').toString('utf8'), '[airlock:masked]');
  // A refusal is a Status the client parses into its error.
  await assert.rejects(core.createNamespacedConfigMap({ namespace: 'prod-x', body: { metadata: { name: 'x' }, data: { a: 'b' } } }), (err: { code?: number; body?: string }) => {
    assert.equal(err.code, 403);
    assert.match(String(err.body), /"kind":"Status"/);
    return true;
  });
  assert.equal(gw.api.get('configmaps', 'prod-x', 'x'), undefined);
});

test('client-node watch: every event masked as it arrives', async () => {
  const events: { type: string; data: Record<string, string> }[] = [];
  let resolveSeen: () => void;
  let rejectSeen: (err: Error) => void;
  const seen = new Promise<void>((resolve, reject) => {
    resolveSeen = resolve;
    rejectSeen = reject;
  });
  const watch = new Watch(kc);
  const ctl = await watch.watch('/api/v1/namespaces/dev/secrets', {}, (type, obj: { metadata: { name: string }; data: Record<string, string> }) => {
    events.push({ type, data: obj.data });
    if (obj.metadata.name === 'late') resolveSeen();
  }, (err: unknown) => rejectSeen((err as Error) ?? new Error('the watch ended before the late event')));
  await new Promise((r) => setTimeout(r, 2500));
  gw.api.put('secrets', { metadata: { name: 'late', namespace: 'dev' }, data: { key: b64(`${VALUE}-late`) } });
  await seen;
  ctl.abort();
  assert.ok(events.length >= 2, 'the initial ADDED and the new one');
  for (const e of events) for (const v of Object.values(e.data)) assert.equal(Buffer.from(v, 'base64').toString(), '[airlock:masked]');
});

test('kubectl get secrets -w -o json: the watch stream masked event by event', { skip: KUBECTL_MISSING }, async () => {
  const config = gw.kubeconfig(await gw.token());
  const ac = new AbortController();
  let added = false;
  const run = kubectl(gw, config, ['get', 'secrets', '-n', 'dev', '-w', '-o', 'json'], {
    signal: ac.signal,
    onStdout: (s) => {
      if (!added && s.includes('"api-key"')) {
        added = true;
        gw.api.put('secrets', { metadata: { name: 'during-watch', namespace: 'dev' }, data: { key: b64(`${VALUE}-during`) } });
      }
      if (s.includes('"during-watch"')) setTimeout(() => ac.abort(), 200);
    },
    timeoutMs: 30_000,
  });
  const r = await run;
  assert.ok(r.stdout.includes('"during-watch"'), r.stderr);
  assert.ok(!r.stdout.includes(b64(VALUE)) && !r.stdout.includes(b64(`${VALUE}-during`)) && !r.stdout.includes(VALUE));
  assert.ok(r.stdout.includes(b64('[airlock:masked]')));
  assert.ok(!r.stdout.includes(CLUSTER_TOKEN) && !r.stderr.includes(CLUSTER_TOKEN));
  // The cluster served the watch; the gateway did not end it early.
  assert.ok(gw.api.requests.some((q) => q.url.startsWith('/api/v1/namespaces/dev/secrets') && q.url.includes('watch=true')));
});
