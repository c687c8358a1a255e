// kubectl 1.32 (the real one) through the Kubernetes gateway to the suite's API server: reads,
// masked Secrets and logs, deletes in prod-* held for a reviewer, apply decided per object,
// refusals as Status objects, and the cluster's token in no byte kubectl received.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { AGENT, AUDIENCE, OTHER_AGENT, REVIEWER } from '../support/gateway.js';
import { writeGatewayRecord } from '../../fargate-proxy/src/cli/gateway-record.js';
import { CLUSTER_TOKEN, KUBECTL_MISSING, kubectl, startKubeTestGateway, type KubeTestGateway } from '../support/kube-gateway.js';
import { approvalsApprove, approvalsDeny } from '../../fargate-proxy/src/cli/approval-commands.js';
import type { AuditRecord } from '../../core/audit/events.js';
import { createLocalAuditReader } from '../../fargate-proxy/src/adapters/local/audit-file-reader.js';
import { auditDirOf } from '../support/audit-trail.js';

let gw: KubeTestGateway;
let config: string;
let reviewer: string;
const quiet = { out: () => undefined, err: () => undefined };
const EMAIL = 'ada.lovelace@example.com';
const CARD = '4111 1111 1111 1111';
const DB_PASSWORD = 'hunter2-very-secret-db-password';
/** Everything kubectl printed in every test, checked for the cluster token at the end. */
const seen: string[] = [];

/** A request sent exactly as written (fetch would resolve dot segments before sending). */
function raw(method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: gw.kubePort, method, path, headers, ca: gw.ca }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(Buffer.concat(parts).toString('utf8')) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function k(args: string[], o: Parameters<typeof kubectl>[3] = {}) {
  const r = await kubectl(gw, config, args, o);
  seen.push(r.stdout, r.stderr);
  return r;
}

const pod = (ns: string, name: string, extra: Record<string, unknown> = {}) => ({
  metadata: { name, namespace: ns, labels: { app: name } },
  spec: { containers: [{ name: 'main', image: 'nginx:1.27', env: [{ name: 'DB_PASSWORD', value: DB_PASSWORD }, { name: 'OWNER', value: EMAIL }] }] },
  ...extra,
});

before(async () => {
  gw = await startKubeTestGateway({ listener: { approvalWaitSeconds: 30 } });
  config = gw.kubeconfig(await gw.token());
  reviewer = await gw.token(REVIEWER);
  for (const ns of ['default', 'dev', 'prod-x']) gw.api.put('namespaces', { metadata: { name: ns } });
  gw.api.put('pods', pod('dev', 'web'));
  gw.api.put('pods', pod('dev', 'worker'));
  gw.api.put('pods', pod('prod-x', 'api'));
  gw.api.put('pods', pod('prod-x', 'cache'));
  gw.api.put('secrets', {
    metadata: { name: 'db', namespace: 'dev', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'dev' }, stringData: { password: DB_PASSWORD } }) } },
    type: 'Opaque',
    data: { password: Buffer.from(DB_PASSWORD).toString('base64'), user: Buffer.from('app').toString('base64') },
  });
  // An upstream that echoes its own credential back (a misconfigured ConfigMap): scrubbed on the way out.
  gw.api.put('configmaps', { metadata: { name: 'settings', namespace: 'dev' }, data: { contact: EMAIL, leaked: `token=${CLUSTER_TOKEN}`, mode: 'fast' } });
});
after(async () => {
  await gw?.stop();
});

test('kubectl get pods -A lists every namespace through the gateway', { skip: KUBECTL_MISSING }, async () => {
  const r = await k(['get', 'pods', '-A']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0]!, /^NAMESPACE\s+NAME\s+READY\s+STATUS/);
  for (const [ns, name] of [['dev', 'web'], ['dev', 'worker'], ['prod-x', 'api'], ['prod-x', 'cache']]) {
    assert.ok(lines.some((l) => new RegExp(`^${ns}\\s+${name}\\s+1/1\\s+Running`).test(l)), `${ns}/${name} in\n${r.stdout}`);
  }
  // The cluster saw its own credential, never the agent's token; the request asked for JSON.
  const list = gw.api.requests.filter((q) => q.url.startsWith('/api/v1/pods'));
  assert.ok(list.length > 0);
  for (const q of list) {
    assert.equal(q.headers.authorization, `Bearer ${CLUSTER_TOKEN}`);
    assert.ok(!String(q.headers.accept).includes('protobuf'));
  }
});

test('kubectl get secret -o yaml: every data value masked, also inside last-applied-configuration', { skip: KUBECTL_MISSING }, async () => {
  const r = await k(['get', 'secret', 'db', '-n', 'dev', '-o', 'yaml']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /kind: Secret/);
  assert.match(r.stdout, /password: /);
  const b64 = Buffer.from(DB_PASSWORD).toString('base64');
  assert.ok(!r.stdout.includes(DB_PASSWORD) && !r.stdout.includes(b64), r.stdout);
  assert.ok(!r.stdout.includes(Buffer.from('app').toString('base64')), 'every value, not only those a detector finds');
  const masked = /password: (\S+)/.exec(r.stdout)![1]!;
  assert.equal(Buffer.from(masked, 'base64').toString('utf8'), '[airlock:masked]');
  // The value in the cluster is untouched.
  assert.equal(gw.api.get('secrets', 'dev', 'db')!.data.password, b64);
  // jsonpath with base64 decoding, the way people read secrets, gets the mask too.
  const jp = await k(['get', 'secret', 'db', '-n', 'dev', '-o', 'jsonpath={.data.password}']);
  assert.equal(Buffer.from(jp.stdout, 'base64').toString('utf8'), '[airlock:masked]');
});

test('kubectl get (Table) and -o yaml: env values and ConfigMap data through the detectors; the echoed cluster token scrubbed', { skip: KUBECTL_MISSING }, async () => {
  const table = await k(['get', 'configmaps', '-n', 'dev']);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /settings\s+3/);
  const cm = await k(['get', 'configmap', 'settings', '-n', 'dev', '-o', 'json']);
  assert.equal(cm.code, 0, cm.stderr);
  const data = (JSON.parse(cm.stdout) as { data: Record<string, string> }).data;
  assert.notEqual(data.contact, EMAIL);
  assert.equal(data.mode, 'fast');
  assert.ok(!cm.stdout.includes(CLUSTER_TOKEN), 'the credential echoed by the upstream is scrubbed');
  const p = await k(['get', 'pod', 'web', '-n', 'dev', '-o', 'yaml']);
  assert.equal(p.code, 0, p.stderr);
  assert.ok(!p.stdout.includes(EMAIL), 'env value masked by the email detector');
  assert.match(p.stdout, /name: DB_PASSWORD/);
});

test('kubectl delete pod in prod-x is held; approved it runs; denied the pod still exists', { skip: KUBECTL_MISSING }, async () => {
  const approveNext = async (decide: (id: string) => Promise<number>) => {
    for (let i = 0; i < 200; i++) {
      const res = await fetch(`${gw.gw.consoleUrl}/api/approvals`, { headers: { authorization: `Bearer ${reviewer}` } });
      const list = ((await res.json()) as { approvals: { id: string; statement: string; state: string }[] }).approvals.filter((a) => a.state === 'pending');
      if (list.length > 0) {
        assert.match(list[0]!.statement, /delete pods (api|cache) -n prod-x/);
        return decide(list[0]!.id);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('no approval appeared');
  };
  // Denied: kubectl gets a Forbidden Status, and the pod is still there.
  const denied = k(['delete', 'pod', 'cache', '-n', 'prod-x', '--wait=false']);
  assert.equal(await approveNext((id) => approvalsDeny({ url: gw.gw.consoleUrl!, token: reviewer, id, reason: 'not during the sale' }, quiet)), 0);
  const d = await denied;
  assert.notEqual(d.code, 0);
  assert.match(d.stderr, /Error from server \(Forbidden\).*not during the sale/);
  assert.ok(gw.api.get('pods', 'prod-x', 'cache'), 'the denied pod still exists');

  // Approved: the same kubectl invocation, held open, then done.
  const approved = k(['delete', 'pod', 'api', '-n', 'prod-x', '--wait=false']);
  await new Promise((r) => setTimeout(r, 200));
  assert.ok(gw.api.get('pods', 'prod-x', 'api'), 'nothing happens while held');
  assert.equal(await approveNext((id) => approvalsApprove({ url: gw.gw.consoleUrl!, token: reviewer, id }, quiet)), 0);
  const a = await approved;
  assert.equal(a.code, 0, a.stderr);
  assert.match(a.stdout, /pod "api" deleted/);
  assert.equal(gw.api.get('pods', 'prod-x', 'api'), undefined, 'the approved delete ran');

  // Outside prod-* deletes run at once.
  gw.api.put('pods', pod('dev', 'scratch'));
  const free = await k(['delete', 'pod', 'scratch', '-n', 'dev', '--wait=false']);
  assert.equal(free.code, 0, free.stderr);
  assert.equal(gw.api.get('pods', 'dev', 'scratch'), undefined);
});

test('kubectl logs -f is masked line by line while it follows', { skip: KUBECTL_MISSING }, async () => {
  gw.api.appendLog('dev', 'web', `starting, owner ${EMAIL}`);
  const ac = new AbortController();
  let sawLive = false;
  const follow = k(['logs', '-f', 'web', '-n', 'dev'], {
    onStdout: (s) => {
      if (!sawLive && s.includes('charged')) {
        sawLive = true;
        gw.api.endLogs('dev', 'web');
      }
    },
    signal: ac.signal,
  });
  for (let i = 0; i < 100 && !gw.api.requests.some((q) => q.url.includes('/pods/web/log') && q.url.includes('follow=true')); i++) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 200));
  gw.api.appendLog('dev', 'web', `charged card ${CARD}`);
  const r = await follow;
  assert.equal(r.code, 0, r.stderr);
  assert.ok(sawLive, 'a line appended while following arrived');
  assert.match(r.stdout, /starting, owner/);
  assert.ok(!r.stdout.includes(EMAIL) && !r.stdout.includes(CARD), r.stdout);
});

test('kubectl apply -f: each object decided on its own', { skip: KUBECTL_MISSING }, async () => {
  const manifest = join(gw.dir, 'manifest.yaml');
  writeFileSync(
    manifest,
    [
      'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: dev\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n',
      'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: node-agent\n  namespace: dev\nspec:\n  selector:\n    matchLabels: {app: node-agent}\n  template:\n    metadata:\n      labels: {app: node-agent}\n    spec:\n      hostPID: true\n      containers:\n      - name: agent\n        image: busybox\n        securityContext:\n          privileged: yes\n',
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: flags\n  namespace: prod-x\ndata:\n  beta: "on"\n',
    ].join('---\n'),
  );
  const r = await k(['apply', '--server-side', '--validate=false', '-f', manifest]);
  assert.notEqual(r.code, 0, 'two of three objects are refused');
  assert.match(r.stdout, /deployment.apps\/web serverside-applied/);
  assert.match(r.stderr, /node-agent.*Forbidden|Forbidden.*node-agent|privileged/s);
  assert.match(r.stderr, /flags/);
  assert.equal(gw.api.get('deployments', 'dev', 'web', 'apps')!.spec.replicas, 2, 'the allowed object was applied');
  assert.equal(gw.api.get('deployments', 'dev', 'node-agent', 'apps'), undefined, 'the privileged pod template never reached the cluster');
  assert.equal(gw.api.get('configmaps', 'prod-x', 'flags'), undefined, 'no writes in prod-*');
});

test('kubectl patch --type strategic: directives decided as the API server applies them', { skip: KUBECTL_MISSING }, async () => {
  const hardened = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'hardened', namespace: 'dev' },
    spec: { selector: { matchLabels: { app: 'h' } }, template: { metadata: { labels: { app: 'h' } }, spec: { containers: [{ name: 'app', image: 'nginx', env: [{ name: 'MODE', value: 'x' }], securityContext: { capabilities: { drop: ['ALL'] }, allowPrivilegeEscalation: false } }] } } },
  };
  gw.api.put('deployments', structuredClone(hardened), 'apps');
  const patch = (p: unknown) => k(['patch', 'deployment', 'hardened', '-n', 'dev', '--type', 'strategic', '-p', JSON.stringify(p)]);
  const tmpl = (spec: unknown) => ({ spec: { template: { spec } } });
  const before = gw.api.requests.length;
  for (const p of [
    // Gives back every capability `drop: [ALL]` took: nothing in it is "privileged: true".
    tmpl({ containers: [{ name: 'app', securityContext: { capabilities: { '$deleteFromPrimitiveList/drop': ['ALL'] } } }] }),
    // Replaces the container list: the new one is privileged.
    tmpl({ containers: [{ $patch: 'replace' }, { name: 'app', image: 'nginx', securityContext: { privileged: true } }] }),
    tmpl({ containers: [{ name: 'app', securityContext: { $patch: 'delete' } }] }),
  ]) {
    const r = await patch(p);
    assert.notEqual(r.code, 0, JSON.stringify(p));
    assert.match(r.stderr, /k8s-no-privileged-pods/, r.stderr);
  }
  assert.ok(gw.api.requests.slice(before).every((q) => q.method !== 'PATCH'), 'no refused patch reached the cluster');
  assert.deepEqual(gw.api.get('deployments', 'dev', 'hardened', 'apps')!.spec, hardened.spec);
  // A deletion within the object that loosens nothing is an ordinary write.
  const ok = await patch(tmpl({ containers: [{ name: 'app', env: [{ name: 'MODE', $patch: 'delete' }] }] }));
  assert.equal(ok.code, 0, ok.stderr);
  const reader = createLocalAuditReader(auditDirOf(gw));
  const events: AuditRecord[] = [];
  for (const id of await reader.sessionIds()) events.push(...(((await reader.readSession(id)) ?? []) as AuditRecord[]));
  const statements = events.filter((e) => e.type === 'statement' && e.text.includes('hardened') && e.statementTypes.includes('k8s_verb:patch'));
  // One session per kubectl run, listed in no particular order: compared as a set.
  assert.deepEqual(
    statements.map((e) => e.type === 'statement' && `${e.decision.effect} ${e.statementTypes.filter((t) => t.startsWith('k8s_pod_risk:')).sort().join(',')}`).sort(),
    ['allow ', 'deny k8s_pod_risk:privileged,k8s_pod_risk:securityContextRemoved', 'deny k8s_pod_risk:securityContextRemoved', 'deny k8s_pod_risk:securityContextRemoved'],
  );
});

test('kubectl patch --type json: copy and move, which write values from the live object, are pod risks', { skip: KUBECTL_MISSING }, async () => {
  // The API server defaults enableServiceLinks to true on every pod template: a `true` to copy.
  const linked = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'linked', namespace: 'dev', annotations: { note: 'x' } },
    spec: { selector: { matchLabels: { app: 'l' } }, template: { metadata: { labels: { app: 'l' } }, spec: { enableServiceLinks: true, containers: [{ name: 'app', image: 'nginx' }] } } },
  };
  gw.api.put('deployments', structuredClone(linked), 'apps');
  const before = gw.api.requests.length;
  const r = await k(['patch', 'deployment', 'linked', '-n', 'dev', '--type', 'json', '-p', JSON.stringify([{ op: 'copy', from: '/spec/template/spec/enableServiceLinks', path: '/spec/template/spec/hostNetwork' }])]);
  assert.notEqual(r.code, 0, r.stdout);
  assert.match(r.stderr, /k8s-no-privileged-pods/, r.stderr);
  assert.ok(gw.api.requests.slice(before).every((q) => q.method !== 'PATCH'), 'the refused patch did not reach the cluster');
  assert.equal((gw.api.get('deployments', 'dev', 'linked', 'apps')!.spec as { template: { spec: Record<string, unknown> } }).template.spec.hostNetwork, undefined);
  // Within metadata a copy is an ordinary write.
  const ok = await k(['patch', 'deployment', 'linked', '-n', 'dev', '--type', 'json', '-p', JSON.stringify([{ op: 'copy', from: '/metadata/annotations/note', path: '/metadata/annotations/copy' }])]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal((gw.api.get('deployments', 'dev', 'linked', 'apps')!.metadata as { annotations: Record<string, string> }).annotations.copy, 'x');
});

test('a JSON body with a repeated key is refused before the cluster (Go would merge the repeats)', async () => {
  // As the API server decodes it: one securityContext, privileged; as JSON.parse reads it: runAsUser only.
  const merged = '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"merged","namespace":"dev"},"spec":{"containers":[{"name":"a","image":"nginx","securityContext":{"privileged":true},"securityContext":{"runAsUser":1000}}]}}';
  const before = gw.api.requests.length;
  const r = await raw('POST', '/kube/api/v1/namespaces/dev/pods', { authorization: `Bearer ${await gw.token()}`, 'content-type': 'application/json' }, Buffer.from(merged));
  assert.equal(r.status, 400, JSON.stringify(r.json));
  assert.match(String(r.json.message), /appears twice/);
  assert.ok(gw.api.requests.slice(before).every((q) => q.method !== 'POST'), 'the refused create did not reach the cluster');
  assert.equal(gw.api.get('pods', 'dev', 'merged'), undefined);
});

test('agents may not impersonate; credential minting is refused; refusals are Status objects', { skip: KUBECTL_MISSING }, async () => {
  const before = gw.api.requests.length;
  const as = await k(['get', 'pods', '-n', 'dev', '--as', 'system:admin']);
  assert.notEqual(as.code, 0);
  assert.match(as.stderr, /Error from server \(Forbidden\): airlock: agents may not impersonate/);
  assert.ok(gw.api.requests.slice(before).every((q) => !Object.keys(q.headers).some((h) => h.startsWith('impersonate-'))));

  gw.api.put('serviceaccounts', { metadata: { name: 'deployer', namespace: 'dev' } });
  const mint = await k(['create', 'token', 'deployer', '-n', 'dev']);
  assert.notEqual(mint.code, 0);
  assert.match(mint.stderr, /refused by policy.*k8s-no-credential-minting/);
  assert.ok(!gw.api.requests.some((q) => q.url.includes('/serviceaccounts/deployer/token')), 'never forwarded');

  // What the API server could read differently: a Status 400 naming why, nothing forwarded.
  const token = await gw.token();
  const n = gw.api.requests.length;
  for (const path of ['/kube/api/v1/namespaces/dev/pods/', '/kube/api/v1/namespaces/prod-x/../dev/pods', '/kube/api/v1/namespaces/dev%2Fx/pods', '/kube/api/v1/pods?watch=true&watch=false']) {
    const res = await raw('GET', path, { authorization: `Bearer ${token}` });
    assert.equal(res.status, 400, path);
    const s = res.json as { kind: string; apiVersion: string; code: number; reason: string; message: string };
    assert.deepEqual([s.kind, s.apiVersion, s.code, s.reason], ['Status', 'v1', 400, 'BadRequest'], path);
  }
  assert.equal(gw.api.requests.length, n, 'none of them was forwarded');
  // Front-proxy identity headers never reach the cluster from an agent.
  const fp = await raw('GET', '/kube/api/v1/namespaces/dev/pods', { authorization: `Bearer ${token}`, 'x-remote-user': 'system:admin', 'x-remote-group': 'system:masters' });
  assert.equal(fp.status, 200);
  const last = gw.api.requests[gw.api.requests.length - 1]!;
  assert.equal(last.url, '/api/v1/namespaces/dev/pods');
  assert.ok(!('x-remote-user' in last.headers) && !('x-remote-group' in last.headers));
  const n2 = gw.api.requests.length;
  // A protobuf body cannot be inspected: 415, not forwarded.
  const pb = await raw('POST', '/kube/api/v1/namespaces/dev/configmaps', { authorization: `Bearer ${token}`, 'content-type': 'application/vnd.kubernetes.protobuf' }, Buffer.from([0x6b, 0x38, 0x73, 0x00, 0x0a]));
  assert.equal(pb.status, 415);
  assert.equal(pb.json.reason, 'UnsupportedMediaType');
  assert.equal(gw.api.requests.length, n2);
});

test('airlock kubeconfig: kubectl gets its tokens from the exec credential plugin (`airlock token --exec-credential`)', { skip: KUBECTL_MISSING }, async () => {
  const dataDir = join(gw.dir, 'data');
  const cfgFile = join(gw.dir, 'airlock.json');
  const caFile = join(gw.dir, 'listener-ca.pem');
  writeFileSync(caFile, gw.ca);
  writeFileSync(
    cfgFile,
    JSON.stringify({
      dataDir,
      identity: { issuer: 'http://127.0.0.1', audience: AUDIENCE, localIssuer: { port: 0, clients: [AGENT, OTHER_AGENT, REVIEWER] } },
      listeners: { kubernetes: { host: '127.0.0.1', port: 0, tls: { certFile: caFile, keyFile: caFile } } },
      targets: [{ kind: 'kubernetes', name: 'kube', server: gw.api.url, credential: { type: 'token', secret: 'memory:kube' } }],
      policy: { file: gw.policyFile },
    }),
  );
  // The CLI finds the running gateway's addresses in its record, as with `airlock serve`.
  writeGatewayRecord(dataDir, gw.gw, cfgFile);
  const cli = new URL('../../fargate-proxy/bin/airlock.mjs', import.meta.url).pathname;
  const { stdout: kubeconfigYaml } = await promisify(execFile)(process.execPath, [cli, 'kubeconfig', '--target', 'kube', '--client', AGENT.clientId, '-c', cfgFile, '--ca-file', caFile, '--namespace', 'dev', '--command', cli]);
  assert.match(kubeconfigYaml, /client\.authentication\.k8s\.io\/v1/);
  assert.ok(kubeconfigYaml.includes(`${gw.server}`), kubeconfigYaml);
  assert.ok(!/token:/.test(kubeconfigYaml), 'no token is written into the kubeconfig');
  const file = join(gw.dir, 'exec-kubeconfig.yaml');
  writeFileSync(file, kubeconfigYaml);
  const r = await kubectl(gw, file, ['get', 'pods']);
  seen.push(r.stdout, r.stderr);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^web\s+1\/1\s+Running/m);
});

test('the cluster token is in no byte kubectl received (verbose wire logs included)', { skip: KUBECTL_MISSING }, async () => {
  const verbose = await k(['get', 'configmap', 'settings', '-n', 'dev', '-o', 'yaml', '-v=9']);
  assert.equal(verbose.code, 0, verbose.stderr);
  assert.match(verbose.stderr, /Response Body/);
  for (const out of seen) assert.ok(!out.includes(CLUSTER_TOKEN), 'cluster token leaked to kubectl');
  assert.ok(gw.api.requests.some((q) => q.headers.authorization === `Bearer ${CLUSTER_TOKEN}`), 'the cluster did get its token');
});
