// Kubernetes request classes (what a request is allowed to be decided as) and response masking
// (what a response may carry to the agent), on the shapes the API server reads and writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createMasker } from '../../core/mask/index.js';
import { classifyRequest, duplicateKey, isDryRun, podRisks, readBody } from '../../fargate-proxy/src/protocols/kubernetes/classify.js';
import { resolveRequestAttributes } from '../../fargate-proxy/src/protocols/kubernetes/request-attributes.js';
import { JsonValueSplitter, KubeObjectMasker, SECRET_MASK } from '../../fargate-proxy/src/protocols/kubernetes/response-mask.js';
import { KubeRefusalError, statusBody } from '../../fargate-proxy/src/protocols/kubernetes/status.js';
import { jsonAccept } from '../../fargate-proxy/src/protocols/kubernetes/exchange.js';

const attrs = (method: string, url: string) => {
  const r = resolveRequestAttributes(method, url);
  assert.ok(r.ok, url);
  return r.attributes;
};
const body = (type: string, text: string) => readBody(type, Buffer.from(text), 'req');

test('action families from attributes', () => {
  const cases: [string, string, string][] = [
    ['GET', '/api/v1/namespaces/dev/secrets/db', 'k8s_secret_read'],
    ['GET', '/api/v1/secrets?watch=true', 'k8s_secret_read'],
    ['GET', '/api/v1/namespaces/dev/pods', 'k8s_read'],
    ['GET', '/api/v1/namespaces/dev/pods/web/log?follow=true', 'k8s_read'],
    ['GET', '/apis', 'k8s_read'],
    ['POST', '/api/v1/namespaces/dev/serviceaccounts/default/token', 'k8s_credential_mint'],
    ['POST', '/apis/certificates.k8s.io/v1/certificatesigningrequests', 'k8s_credential_mint'],
    ['PUT', '/apis/certificates.k8s.io/v1/certificatesigningrequests/x/approval', 'k8s_credential_mint'],
    ['DELETE', '/api/v1/namespaces/dev/pods/web', 'k8s_delete'],
    ['DELETE', '/api/v1/namespaces/dev/pods', 'k8s_delete'],
    ['GET', '/api/v1/namespaces/dev/pods/web/proxy/metrics', 'k8s_proxy'],
    ['GET', '/api/v1/proxy/namespaces/dev/services/web', 'k8s_proxy'],
    ['PATCH', '/api/v1/namespaces/dev/pods/web/ephemeralcontainers', 'k8s_privileged_pod'],
    ['PATCH', '/apis/apps/v1/namespaces/dev/deployments/web/scale', 'k8s_write'],
  ];
  for (const [m, u, action] of cases) assert.equal(classifyRequest(attrs(m, u), undefined).action, action, `${m} ${u}`);
  const saToken = body('application/json', JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 't', annotations: { 'kubernetes.io/service-account.name': 'default' } }, type: 'kubernetes.io/service-account-token' }));
  assert.equal(classifyRequest(attrs('POST', '/api/v1/namespaces/dev/secrets'), saToken).action, 'k8s_credential_mint');
});

test('privileged and host-namespace pods are found in pods, templates and every patch kind', () => {
  const deploy = (spec: unknown) => ({ apiVersion: 'apps/v1', kind: 'Deployment', spec: { template: { spec } } });
  const cases: [string, string, string[]][] = [
    ['application/json', JSON.stringify({ kind: 'Pod', spec: { containers: [{ name: 'a', securityContext: { privileged: true } }] } }), ['privileged']],
    ['application/json', JSON.stringify(deploy({ hostNetwork: true, hostPID: true, containers: [] })), ['hostNetwork', 'hostPID']],
    ['application/json', JSON.stringify({ kind: 'CronJob', spec: { jobTemplate: { spec: { template: { spec: { volumes: [{ name: 'root', hostPath: { path: '/' } }] } } } } } }), ['hostPath']],
    ['application/strategic-merge-patch+json', JSON.stringify({ spec: { template: { spec: { containers: [{ name: 'a', securityContext: { capabilities: { add: ['SYS_ADMIN'] } } }] } } } }), ['capabilities']],
    ['application/json-patch+json', JSON.stringify([{ op: 'add', path: '/spec/template/spec/hostIPC', value: true }]), ['hostIPC']],
    ['application/json-patch+json', JSON.stringify([{ op: 'replace', path: '/spec/containers/0/securityContext', value: { privileged: true } }]), ['privileged']],
    ['application/json-patch+json', JSON.stringify([{ op: 'add', path: '/spec/volumes/-', value: { name: 'h', hostPath: { path: '/var/run' } } }]), ['hostPath']],
    ['application/json-patch+json', JSON.stringify([{ op: 'add', path: '/spec/containers/0/securityContext/capabilities/add/-', value: 'NET_ADMIN' }]), ['capabilities']],
    // YAML 1.1 as the API server's decoder reads it: `yes` is true.
    ['application/apply-patch+yaml', 'kind: Pod\nspec:\n  containers:\n  - name: a\n    securityContext:\n      privileged: yes\n', ['privileged']],
    ['application/json', JSON.stringify({ spec: { HostNetwork: true } }), ['hostNetwork']],
    // The rest of the Pod Security Standards' baseline.
    ['application/json', JSON.stringify({ spec: { securityContext: { windowsOptions: { hostProcess: true } }, containers: [{ name: 'a', ports: [{ containerPort: 80, hostPort: 80 }] }] } }), ['hostPort', 'hostProcess']],
    ['application/json', JSON.stringify(deploy({ containers: [{ name: 'a', securityContext: { procMount: 'Unmasked', seccompProfile: { type: 'Unconfined' } } }] })), ['procMount', 'unconfined']],
    ['application/json', JSON.stringify({ metadata: { annotations: { 'container.apparmor.security.beta.kubernetes.io/a': 'unconfined' } }, spec: { containers: [] } }), ['unconfined']],
    ['application/json-patch+json', JSON.stringify([{ op: 'replace', path: '/spec/containers/0/securityContext/appArmorProfile/type', value: 'Unconfined' }]), ['unconfined']],
    ['application/json', JSON.stringify(deploy({ containers: [{ name: 'a', ports: [{ containerPort: 80 }], securityContext: { procMount: 'Default', seccompProfile: { type: 'RuntimeDefault' } } }] })), []],
    ['application/json', JSON.stringify(deploy({ containers: [{ name: 'a', image: 'nginx', securityContext: { privileged: false, runAsNonRoot: true } }] })), []],
  ];
  for (const [type, text, risks] of cases) assert.deepEqual(podRisks(body(type, text)), [...risks].sort(), text);
  const pod = attrs('POST', '/api/v1/namespaces/dev/pods');
  assert.equal(classifyRequest(pod, body('application/json', cases[0]![1])).action, 'k8s_privileged_pod');
  assert.equal(classifyRequest(pod, body('application/json', cases[14]![1])).action, 'k8s_write');
  assert.equal(classifyRequest(pod, body('application/json', cases[15]![1])).action, 'k8s_write');
});

test('strategic-merge patch directives are decided as the API server applies them', () => {
  const pod = attrs('PATCH', '/api/v1/namespaces/dev/pods/web');
  const deployment = attrs('PATCH', '/apis/apps/v1/namespaces/dev/deployments/web');
  const SMP = 'application/strategic-merge-patch+json';
  const decide = (a: ReturnType<typeof attrs>, type: string, patch: unknown) => classifyRequest(a, body(type, JSON.stringify(patch)), type);
  const tmpl = (spec: unknown) => ({ spec: { template: { spec } } });
  const cases: [ReturnType<typeof attrs>, string, unknown, string, string[]][] = [
    // What is written, inside every directive: `$patch: replace` of the container list writes what follows it.
    [pod, SMP, { spec: { containers: [{ $patch: 'replace' }, { name: 'a', image: 'x', securityContext: { privileged: true } }] } }, 'k8s_privileged_pod', ['privileged', 'securityContextRemoved']],
    [deployment, SMP, tmpl({ $patch: 'replace', containers: [{ name: 'a', securityContext: { privileged: true } }] }), 'k8s_privileged_pod', ['privileged', 'securityContextRemoved']],
    [pod, SMP, { spec: { '$setElementOrder/containers': [{ name: 'a' }], containers: [{ name: 'a', securityContext: { privileged: true } }] } }, 'k8s_privileged_pod', ['privileged']],
    // Inside a replaced map the API server keeps a nested `$patch: delete` map's fields (the `$patch` key is then just unknown): still read.
    [pod, SMP, { spec: { $patch: 'replace', containers: [{ name: 'a', securityContext: { $patch: 'delete', privileged: true } }] } }, 'k8s_privileged_pod', ['privileged', 'securityContextRemoved']],
    // What is taken away: a restriction removed loosens the pod.
    [pod, SMP, { spec: { containers: [{ name: 'a', securityContext: { capabilities: { '$deleteFromPrimitiveList/drop': ['ALL'] } } }] } }, 'k8s_privileged_pod', ['securityContextRemoved']],
    [pod, SMP, { spec: { containers: [{ name: 'a', securityContext: { capabilities: { drop: ['NET_RAW'] } } }] } }, 'k8s_privileged_pod', ['securityContextRemoved']],
    [pod, SMP, { spec: { containers: [{ name: 'a', securityContext: { allowPrivilegeEscalation: null } }] } }, 'k8s_privileged_pod', ['securityContextRemoved']],
    [deployment, SMP, tmpl({ securityContext: { $patch: 'delete' } }), 'k8s_privileged_pod', ['securityContextRemoved']],
    [deployment, SMP, tmpl({ containers: [{ name: 'a', $retainKeys: ['name', 'image'], image: 'nginx' }] }), 'k8s_privileged_pod', ['securityContextRemoved']],
    [deployment, SMP, tmpl({ containers: [{ name: 'a', $patch: 'replace', image: 'nginx' }] }), 'k8s_privileged_pod', ['securityContextRemoved']],
    [pod, 'application/merge-patch+json', { spec: { securityContext: { runAsNonRoot: null } } }, 'k8s_privileged_pod', ['securityContextRemoved']],
    [pod, 'application/json-patch+json', [{ op: 'remove', path: '/spec/containers/0/securityContext/capabilities/drop/0' }], 'k8s_privileged_pod', ['securityContextRemoved']],
    [pod, 'application/json-patch+json', [{ op: 'move', from: '/spec/securityContext', path: '/metadata/annotations/x' }], 'k8s_privileged_pod', ['securityContextRemoved']],
    // Deletions that loosen nothing: a container deleted whole, an env var, an annotation; a `$patch: delete` element is a deletion, not a write.
    [deployment, SMP, tmpl({ '$setElementOrder/containers': [{ name: 'a' }], containers: [{ name: 'sidecar', $patch: 'delete' }] }), 'k8s_write', []],
    [deployment, SMP, tmpl({ containers: [{ name: 'a', env: [{ name: 'X', $patch: 'delete' }] }] }), 'k8s_write', []],
    [deployment, SMP, { metadata: { annotations: { note: null } }, spec: { template: { spec: { containers: [{ name: 'a', image: 'nginx:2' }] } } } }, 'k8s_write', []],
    [deployment, SMP, tmpl({ containers: [{ name: 'a', args: ['--v=2'], securityContext: { runAsNonRoot: true } }] }), 'k8s_write', []],
    [pod, 'application/json-patch+json', [{ op: 'remove', path: '/spec/containers/1' }], 'k8s_write', []],
  ];
  for (const [a, type, patch, action, risks] of cases) {
    const r = decide(a, type, patch);
    assert.deepEqual({ action: r.action, risks: [...r.podRisks].sort() }, { action, risks: [...risks].sort() }, JSON.stringify(patch));
  }
  // The same removals in a create or a full update are not patches: nothing is taken away by them that the gateway can see.
  assert.equal(classifyRequest(attrs('PUT', '/api/v1/namespaces/dev/pods/web'), { spec: { securityContext: null } }, 'application/json').action, 'k8s_write');
});

test('request bodies: protobuf and unknown types refused (415), malformed JSON and YAML refused (400)', () => {
  const code = (type: string, text: string) => {
    try {
      body(type, text);
      return 0;
    } catch (err) {
      assert.ok(err instanceof KubeRefusalError);
      return err.refusal.code;
    }
  };
  assert.equal(code('application/vnd.kubernetes.protobuf', 'k8s\0'), 415);
  assert.equal(code('application/octet-stream', 'x'), 415);
  assert.equal(code('application/json', '{"a":'), 400);
  assert.equal(code('application/apply-patch+yaml', 'a: 1\na: 2\n'), 400, 'duplicate keys have no one reading');
  assert.equal(code('application/json', ''), 0);
  // Go decodes a repeated key into the same field again (merging objects); JSON.parse keeps the last.
  const merged = '{"kind":"Pod","spec":{"containers":[{"name":"a","securityContext":{"privileged":true},"securityContext":{"runAsUser":1000}}]}}';
  assert.equal(code('application/json', merged), 400, 'a repeated key is refused');
  assert.equal(code('application/merge-patch+json', '{"spec":{"hostNetwork":true,"host\\u004eetwork":false}}'), 400, 'compared after unescaping');
  assert.equal(code('application/json', '{"a":{"x":1},"b":{"x":1},"c":["x",{"x":"\\"x\\""}]}'), 0, 'the same key in different objects is fine');
  assert.equal(duplicateKey('{"a":[{"k":1},{"k":2}],"k":{"a":1}}'), undefined);
  assert.equal(duplicateKey('[{"a":1,"b":{"c":1},"a":2}]'), 'a');
});

test('dryRun=All is reported only where the API server dry-runs: resource writes, not proxies', () => {
  assert.equal(isDryRun(attrs('POST', '/api/v1/namespaces/dev/pods?dryRun=All')), true);
  assert.equal(isDryRun(attrs('DELETE', '/api/v1/namespaces/dev/pods?dryRun=All')), true);
  assert.equal(isDryRun(attrs('POST', '/api/v1/namespaces/dev/pods/web/proxy/admin?dryRun=All')), false);
  assert.equal(isDryRun(attrs('POST', '/api/v1/namespaces/dev/services/web:80/proxy/reset?dryRun=All')), false);
  assert.equal(isDryRun(attrs('POST', '/api/v1/proxy/namespaces/dev/pods/web?dryRun=All')), false);
  assert.equal(isDryRun(attrs('POST', '/api/v1/namespaces/dev/pods?dryRun=all')), false);
});

test('JSON Patch copy and move write values the patch does not show: a pod risk outside metadata', () => {
  const JP = 'application/json-patch+json';
  const deployment = attrs('PATCH', '/apis/apps/v1/namespaces/dev/deployments/web');
  const decide = (ops: unknown) => classifyRequest(deployment, body(JP, JSON.stringify(ops)), JP);
  // enableServiceLinks is defaulted to true on every pod: copied, it turns the host network on.
  assert.deepEqual(decide([{ op: 'copy', from: '/spec/template/spec/enableServiceLinks', path: '/spec/template/spec/hostNetwork' }]), { action: 'k8s_privileged_pod', podRisks: ['copiedValue'] });
  assert.deepEqual(decide([{ op: 'move', from: '/metadata/annotations/vol', path: '/spec/template/spec/volumes/0/hostPath' }]).podRisks, ['copiedValue']);
  assert.deepEqual(decide([{ op: 'copy', from: '/metadata/labels/app', path: '/metadata/annotations/app' }]), { action: 'k8s_write', podRisks: [] });
  assert.deepEqual(decide([{ op: 'copy', from: '/metadata/annotations/mode', path: '/metadata/annotations/container.apparmor.security.beta.kubernetes.io~1app' }]).podRisks, ['copiedValue']);
});

const masker = () => createMasker({ enabled: true, detectors: {}, columnRules: [{ pattern: '*password*', style: 'redact' }], tokenizationKey: 'k'.repeat(32) });
const b64 = (s: string) => Buffer.from(s).toString('base64');

test('Secrets: every data and stringData value masked whole, in lists, watch events, Tables and last-applied', () => {
  const secret = (name: string) => ({
    metadata: { name, namespace: 'dev', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ kind: 'Secret', stringData: { token: 'plain-token-value' } }) } },
    data: { token: b64('plain-token-value'), n: b64('1') },
    stringData: { extra: 'plain-extra' },
  });
  const m = new KubeObjectMasker(masker(), 'Secret');
  const list = JSON.stringify(m.mask({ kind: 'SecretList', apiVersion: 'v1', metadata: {}, items: [secret('a'), secret('b')] }));
  const event = JSON.stringify(m.mask({ type: 'MODIFIED', object: { kind: 'Secret', ...secret('c') } }));
  const table = JSON.stringify(m.mask({ kind: 'Table', columnDefinitions: [{ name: 'Name' }], rows: [{ cells: ['d'], object: { kind: 'Secret', ...secret('d') } }] }));
  for (const out of [list, event, table]) {
    assert.ok(!out.includes('plain-token-value') && !out.includes(b64('plain-token-value')) && !out.includes(b64('1')) && !out.includes('plain-extra'), out);
    assert.ok(out.includes(b64(SECRET_MASK)));
  }
});

test('ConfigMap data, env values (by variable name) and Table cells through the detectors and column rules', () => {
  const m = new KubeObjectMasker(masker(), '');
  const cm = m.mask({ kind: 'ConfigMap', data: { owner: 'ada@example.com', mode: 'fast' }, binaryData: { card: b64('4111 1111 1111 1111') } }) as { data: Record<string, string>; binaryData: Record<string, string> };
  assert.notEqual(cm.data.owner, 'ada@example.com');
  assert.equal(cm.data.mode, 'fast');
  assert.ok(!Buffer.from(cm.binaryData.card!, 'base64').toString().includes('4111 1111 1111 1111'));
  const pod = m.mask({ kind: 'Pod', spec: { containers: [{ env: [{ name: 'DB_PASSWORD', value: 'no detector finds this' }, { name: 'MODE', value: 'fast' }] }] } }) as { spec: { containers: { env: { value: string }[] }[] } };
  assert.notEqual(pod.spec.containers[0]!.env[0]!.value, 'no detector finds this', 'the column rule applies to the env name');
  assert.equal(pod.spec.containers[0]!.env[1]!.value, 'fast');
  const t = m.mask({ kind: 'Table', columnDefinitions: [{ name: 'Name' }, { name: 'Password' }, { name: 'Owner' }], rows: [{ cells: ['x', 'hunter2', 'bo@example.org'] }] }) as { rows: { cells: string[] }[] };
  assert.equal(t.rows[0]!.cells[0], 'x');
  assert.notEqual(t.rows[0]!.cells[1], 'hunter2');
  assert.notEqual(t.rows[0]!.cells[2], 'bo@example.org');
});

test('JSON values are split the same wherever the stream is cut; oversize values refused', () => {
  const values = [{ type: 'ADDED', object: { s: 'a } " \\" {', n: [1, 2, { x: '}' }] } }, { type: 'DELETED', object: { kind: 'Pod' } }, [1, 2]];
  const text = values.map((v) => JSON.stringify(v)).join('\n') + '\n';
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: text.length }), { maxLength: 6 }), (cuts) => {
      const points = [...new Set(cuts)].sort((a, b) => a - b);
      const s = new JsonValueSplitter(1 << 20);
      const out: string[] = [];
      let prev = 0;
      for (const p of [...points, text.length]) {
        out.push(...s.push(text.slice(prev, p)));
        prev = p;
      }
      s.end();
      assert.deepEqual(out.map((o) => JSON.parse(o)), values);
    }),
  );
  assert.throws(() => new JsonValueSplitter(1024).push(`{"a":"${'x'.repeat(2000)}`), /larger than/);
  assert.throws(() => new JsonValueSplitter(1024).push('nope'), /not a JSON object/);
});

test('Accept is rewritten to what the gateway inspects; refusals are Status objects', () => {
  assert.equal(jsonAccept('application/vnd.kubernetes.protobuf,application/json'), 'application/json');
  assert.equal(jsonAccept('application/json;as=Table;v=v1;g=meta.k8s.io,application/json'), 'application/json;as=Table;v=v1;g=meta.k8s.io, application/json');
  assert.equal(jsonAccept('application/yaml'), 'application/json, */*');
  assert.equal(jsonAccept('application/cbor'), 'application/json, */*');
  assert.equal(jsonAccept(undefined), 'application/json, */*');
  const s = JSON.parse(statusBody({ code: 403, reason: 'Forbidden', message: 'm', airlockCode: 'policy_denied', requestId: 'r', policyIds: ['p'] })) as Record<string, unknown>;
  assert.deepEqual([s.kind, s.apiVersion, s.status, s.code, s.reason, s.message], ['Status', 'v1', 'Failure', 403, 'Forbidden', 'm']);
  assert.deepEqual((s.details as { causes: { field: string; message: string }[] }).causes.map((c) => `${c.field}=${c.message}`), ['code=policy_denied', 'requestId=r', 'policyId=p']);
});
