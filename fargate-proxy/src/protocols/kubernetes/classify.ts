// Which Cedar action a Kubernetes request is, from its attributes and (for writes) its body: reads,
// Secret reads, writes, deletes, and classes of their own for what hands out more than it seems —
// credential minting (serviceaccounts/token, certificate signing requests, service-account token
// Secrets), privileged or host-namespace pods (in pods and in any object's pod template, in
// create/update bodies and in patches of every kind, and patches that take a securityContext's
// restrictions away), and proxying into the cluster's network.
import { parse as parseYaml } from 'yaml';
import type { KubeRequestActionId } from '../../../../core/policy/request.js';
import { loosensPodSecurity, patchRemovals } from './patch-removals.js';
import type { KubeRequestAttributes } from './request-attributes.js';
import { refusal } from './status.js';

const READ_VERBS = new Set(['get', 'list', 'watch']);

/** Request body media types the gateway reads; anything else with a body is refused (415). */
const JSON_TYPES = new Set(['application/json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/json-patch+json']);
const YAML_TYPES = new Set(['application/apply-patch+yaml', 'application/yaml']);

/**
 * The request body as the API server will read it. YAML is read as YAML 1.1 (sigs.k8s.io/yaml's
 * go-yaml reads `yes`/`on` as true), so `privileged: yes` is not a string to us and true to it.
 */
export function readBody(contentType: string, body: Buffer, requestId: string): unknown {
  if (body.length === 0) return undefined;
  if (contentType.includes('protobuf')) {
    throw refusal(415, 'protobuf_body', 'airlock: protobuf request bodies cannot be inspected (the gateway reads JSON and YAML request bodies)', { requestId });
  }
  const text = body.toString('utf8');
  if (JSON_TYPES.has(contentType)) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw refusal(400, 'body_not_json', 'airlock: the request body is not valid JSON', { requestId });
    }
    // JSON.parse keeps a repeated key's last value; Go's decoder decodes each repeat into the same
    // struct field, merging objects: `"securityContext": {"privileged": true}, "securityContext": {}`
    // is an empty securityContext to us and a privileged one to the API server. No one reading: refused.
    const dup = duplicateKey(text);
    if (dup !== undefined) throw refusal(400, 'body_duplicate_key', `airlock: the key "${dup.slice(0, 64)}" appears twice in one JSON object (the API server would merge what the gateway reads as replaced)`, { requestId });
    return value;
  }
  if (YAML_TYPES.has(contentType)) {
    try {
      return parseYaml(text, { version: '1.1', uniqueKeys: true, maxAliasCount: 100 });
    } catch (err) {
      throw refusal(400, 'body_not_yaml', `airlock: the request body is not a single valid YAML document (${(err as Error).message.split('\n')[0]})`, { requestId });
    }
  }
  throw refusal(415, 'body_media_type', `airlock: request bodies of type "${contentType || '(none)'}" cannot be inspected`, { requestId });
}

/**
 * The first key that appears twice in one object of `text` (already known to be valid JSON), compared
 * after unescaping (`"privil\u0065ged"` is `"privileged"`), or undefined.
 */
export function duplicateKey(text: string): string | undefined {
  const frames: { keys: Set<string> | undefined; expectKey: boolean }[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{') frames.push({ keys: new Set(), expectKey: true });
    else if (c === '[') frames.push({ keys: undefined, expectKey: false });
    else if (c === '}' || c === ']') frames.pop();
    else if (c === ',') {
      const top = frames[frames.length - 1];
      if (top?.keys) top.expectKey = true;
    } else if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const top = frames[frames.length - 1];
      if (top?.keys && top.expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) return key;
        top.keys.add(key);
        top.expectKey = false;
      }
      i = j;
    }
  }
  return undefined;
}

const DRY_RUN_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

/**
 * `dryRun=All` as the API server honours it: on writes to resources. A proxy subresource passes the
 * query on to the pod, service or node (which writes what it likes), and reads and non-resource
 * requests have nothing to dry-run: there it is no promise, so it is not reported as one.
 */
export function isDryRun(a: KubeRequestAttributes): boolean {
  if (!a.isResourceRequest || a.verb === 'proxy' || a.subresource === 'proxy' || !DRY_RUN_VERBS.has(a.verb)) return false;
  return a.query.some(([k, v]) => k === 'dryRun' && v === 'All');
}

const HOST_FLAGS: Record<string, string> = { privileged: 'privileged', hostnetwork: 'hostNetwork', hostpid: 'hostPID', hostipc: 'hostIPC', allowprivilegeescalation: 'allowPrivilegeEscalation', hostprocess: 'hostProcess' };
/** Annotations that still turn a container's AppArmor or seccomp confinement off. */
const UNCONFINING_ANNOTATION = /^(?:container\.apparmor\.security\.beta\.kubernetes\.io\/|container\.seccomp\.security\.alpha\.kubernetes\.io\/|seccomp\.security\.alpha\.kubernetes\.io\/pod$)/;
const isUnconfined = (v: unknown): boolean => typeof v === 'string' && /^unconfined$/i.test(v);

/** What a written object (or patch) asks of the node: found anywhere in it, keys compared case-insensitively. */
export function podRisks(body: unknown): string[] {
  const found = new Set<string>();
  const visit = (key: string, value: unknown, depth: number): void => {
    if (depth > 64) {
      found.add('too_deep');
      return;
    }
    const k = key.toLowerCase();
    if (HOST_FLAGS[k] && value === true) found.add(HOST_FLAGS[k]);
    if (k === 'hostpath' && value !== null && value !== undefined) found.add('hostPath');
    // The rest of the Pod Security Standards' baseline: a host port, an unmasked /proc, no
    // seccomp or AppArmor confinement (by field or by the older annotations).
    if (k === 'hostport' && typeof value === 'number' && value !== 0) found.add('hostPort');
    if (k === 'procmount' && typeof value === 'string' && value.toLowerCase() !== 'default') found.add('procMount');
    if ((k === 'seccompprofile' || k === 'apparmorprofile') && value && typeof value === 'object' && Object.entries(value).some(([n, v]) => n.toLowerCase() === 'type' && isUnconfined(v))) found.add('unconfined');
    if (UNCONFINING_ANNOTATION.test(k) && isUnconfined(value)) found.add('unconfined');
    if (k === 'ephemeralcontainers' && Array.isArray(value) && value.length > 0) found.add('ephemeralContainers');
    if (k === 'capabilities' && value && typeof value === 'object') {
      const add = Object.entries(value as Record<string, unknown>).find(([n]) => n.toLowerCase() === 'add')?.[1];
      if (Array.isArray(add) && add.length > 0) found.add('capabilities');
    }
    if (Array.isArray(value)) {
      for (const v of value) visit('', v, depth + 1);
    } else if (value && typeof value === 'object') {
      const o = value as Record<string, unknown>;
      // A JSON Patch operation: its path's last segment is the key its value is written under.
      if (typeof o.op === 'string' && typeof o.path === 'string') {
        const segs = o.path.split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
        const last = segs[segs.length - 1] ?? '';
        const lower = o.path.toLowerCase();
        if (lower.includes('/capabilities/add') || (lower.endsWith('/capabilities') && o.value)) found.add('capabilities');
        if (/\/(?:seccompprofile|apparmorprofile)\/type$/.test(lower) && isUnconfined(o.value)) found.add('unconfined');
        // `copy` and `move` write a value the patch does not show, taken from the live object: a
        // defaulted `enableServiceLinks: true` copied to `hostNetwork`, an annotation map
        // `{"path": "/"}` copied to a volume's `hostPath`. Outside `metadata` (and into the
        // annotations that unconfine a container) that is a pod risk.
        if (o.op === 'copy' || o.op === 'move') {
          const intoMetadata = segs[1] === 'metadata' && (segs[2] !== 'annotations' || (segs.length === 4 && !UNCONFINING_ANNOTATION.test(last.toLowerCase())));
          if (!intoMetadata) found.add('copiedValue');
        }
        visit(/^(\d+|-)$/.test(last) ? (segs[segs.length - 2] ?? '') : last, o.value, depth + 1);
        if (/^(\d+|-)$/.test(last)) visit('', o.value, depth + 1);
      }
      for (const [n, v] of Object.entries(o)) visit(n, v, depth + 1);
    }
  };
  visit('', body, 0);
  return [...found].sort();
}

/**
 * The request's action family and the pod risks its body carries: what it writes (podRisks) and, for
 * a PATCH, `securityContextRemoved` when it can take part of a securityContext away (patch-removals.ts).
 */
export function classifyRequest(a: KubeRequestAttributes, body: unknown, contentType = ''): { action: KubeRequestActionId; podRisks: string[] } {
  if (!a.isResourceRequest) return { action: a.verb === 'get' || a.verb === 'head' ? 'k8s_read' : 'k8s_write', podRisks: [] };
  if (a.verb === 'proxy' || a.subresource === 'proxy') return { action: 'k8s_proxy', podRisks: [] };
  const core = a.apiGroup === '';
  if (core && a.resource === 'serviceaccounts' && a.subresource === 'token') return { action: 'k8s_credential_mint', podRisks: [] };
  if (READ_VERBS.has(a.verb)) return { action: core && a.resource === 'secrets' ? 'k8s_secret_read' : 'k8s_read', podRisks: [] };
  if (a.verb === 'delete' || a.verb === 'deletecollection') return { action: 'k8s_delete', podRisks: [] };
  if (a.apiGroup === 'certificates.k8s.io' && a.resource === 'certificatesigningrequests') return { action: 'k8s_credential_mint', podRisks: [] };
  if (core && a.resource === 'secrets' && body && typeof body === 'object' && JSON.stringify(body).includes('kubernetes.io/service-account-token')) {
    return { action: 'k8s_credential_mint', podRisks: [] };
  }
  const risks = podRisks(body);
  if (a.verb === 'patch' && loosensPodSecurity(patchRemovals(contentType, body))) risks.push('securityContextRemoved');
  if (a.resource === 'pods' && a.subresource === 'ephemeralcontainers' && !risks.includes('ephemeralContainers')) risks.push('ephemeralContainers');
  return { action: risks.length > 0 ? 'k8s_privileged_pod' : 'k8s_write', podRisks: risks };
}
