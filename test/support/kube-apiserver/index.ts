// A small Kubernetes API server for tests (no kube-apiserver can be installed here). It speaks the
// wire formats kubectl 1.32 and @kubernetes/client-node use: legacy and aggregated discovery
// (apidiscovery.k8s.io/v2), get/list/watch with resourceVersion and fieldSelector metadata.name,
// Table conversion (Accept: application/json;as=Table;g=meta.k8s.io;v=v1), create, update, patch
// (merge, strategic merge — read as a merge patch —, JSON patch with copy and move), server-side apply, delete, pod
// logs with follow, Status errors, bearer-token authentication. It records every request it got
// (with the headers) so tests can see what reached the cluster. Extra upgrade handlers (exec and
// the like, written elsewhere) are mounted with `upgrade`.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { parse as parseYaml } from 'yaml';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface ResourceType {
  group: string;
  version: string;
  resource: string;
  kind: string;
  namespaced: boolean;
  shortNames?: string[];
  subresources?: string[];
}

export const RESOURCE_TYPES: ResourceType[] = [
  { group: '', version: 'v1', resource: 'namespaces', kind: 'Namespace', namespaced: false, shortNames: ['ns'] },
  { group: '', version: 'v1', resource: 'pods', kind: 'Pod', namespaced: true, shortNames: ['po'], subresources: ['log', 'exec', 'attach', 'portforward', 'status', 'ephemeralcontainers'] },
  { group: '', version: 'v1', resource: 'secrets', kind: 'Secret', namespaced: true },
  { group: '', version: 'v1', resource: 'configmaps', kind: 'ConfigMap', namespaced: true, shortNames: ['cm'] },
  { group: '', version: 'v1', resource: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true, shortNames: ['sa'], subresources: ['token'] },
  { group: 'apps', version: 'v1', resource: 'deployments', kind: 'Deployment', namespaced: true, shortNames: ['deploy'], subresources: ['scale', 'status'] },
];

export interface RecordedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export type UpgradeHandler = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => boolean;

export interface FakeKubeApiServer {
  url: string;
  port: number;
  requests: RecordedRequest[];
  /** Puts an object in the store (as if created), returning it with metadata filled in. */
  put(resource: string, obj: Obj, group?: string): Obj;
  get(resource: string, namespace: string, name: string, group?: string): Obj | undefined;
  /** Appends a line to a pod's log (followers receive it). */
  appendLog(namespace: string, pod: string, line: string): void;
  /** Ends every follower of a pod's log. */
  endLogs(namespace: string, pod: string): void;
  close(): Promise<void>;
}

const statusObj = (code: number, reason: string, message: string, details?: Obj) => ({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details && { details }), code });

function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Obj = target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Obj) } : {};
  for (const [k, v] of Object.entries(patch as Obj)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function jsonPatch(doc: Obj, ops: Obj[]): Obj {
  const copy = structuredClone(doc);
  const at = (pointer: string): unknown => {
    let v: unknown = copy;
    for (const s of pointer.split('/').slice(1).map((x) => x.replace(/~1/g, '/').replace(/~0/g, '~'))) v = (v as Obj | undefined)?.[s];
    if (v === undefined) throw new Error(`no value at ${pointer}`);
    return v;
  };
  for (const original of ops) {
    // RFC 6902 §4.4, §4.5: move is remove + add, copy an add of the value found at `from`.
    const moved = original.op === 'move' || original.op === 'copy' ? structuredClone(at(String(original.from))) : undefined;
    if (original.op === 'move') applyOp({ op: 'remove', path: original.from });
    applyOp(moved === undefined ? original : { op: 'add', path: original.path, value: moved });
  }
  return copy;

  function applyOp(op: Obj): void {
    const segs = String(op.path).split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = segs.pop()!;
    let parent: Obj = copy;
    for (const s of segs) parent = (parent[s] ??= {}) as Obj;
    if (op.op === 'remove') {
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
    } else if (op.op === 'add' || op.op === 'replace') {
      if (Array.isArray(parent) && op.op === 'add') parent.splice(last === '-' ? parent.length : Number(last), 0, op.value);
      else (parent as Obj)[last] = op.value;
    } else if (op.op === 'test') {
      if (JSON.stringify(parent[last]) !== JSON.stringify(op.value)) throw new Error('test failed');
    } else throw new Error(`unsupported op ${op.op}`);
  }
}

function age(ts: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(ts)) / 1000));
  return s < 120 ? `${s}s` : `${Math.round(s / 60)}m`;
}

function tableOf(type: ResourceType, items: Obj[], rv: string, includeObject: string): Obj {
  const col = (name: string, t = 'string', format = '') => ({ name, type: t, format, description: name, priority: 0 });
  let columns: Obj[];
  let cells: (o: Obj) => unknown[];
  if (type.resource === 'pods') {
    columns = [col('Name', 'string', 'name'), col('Ready'), col('Status'), col('Restarts', 'string'), col('Age')];
    cells = (o) => {
      const n = (o.spec?.containers ?? []).length;
      return [o.metadata.name, `${n}/${n}`, o.status?.phase ?? 'Running', '0', age(o.metadata.creationTimestamp)];
    };
  } else if (type.resource === 'secrets') {
    columns = [col('Name', 'string', 'name'), col('Type'), col('Data', 'string'), col('Age')];
    cells = (o) => [o.metadata.name, o.type ?? 'Opaque', String(Object.keys(o.data ?? {}).length), age(o.metadata.creationTimestamp)];
  } else if (type.resource === 'configmaps') {
    columns = [col('Name', 'string', 'name'), col('Data', 'string'), col('Age')];
    cells = (o) => [o.metadata.name, String(Object.keys(o.data ?? {}).length), age(o.metadata.creationTimestamp)];
  } else {
    columns = [col('Name', 'string', 'name'), col('Age')];
    cells = (o) => [o.metadata.name, age(o.metadata.creationTimestamp)];
  }
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion: rv },
    columnDefinitions: columns,
    rows: items.map((o) => ({
      cells: cells(o),
      object:
        includeObject === 'Object'
          ? o
          : includeObject === 'None'
            ? undefined
            : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata },
    })),
  };
}

function discoveryResource(t: ResourceType): Obj {
  return {
    resource: t.resource,
    responseKind: { group: t.group, version: t.version, kind: t.kind },
    scope: t.namespaced ? 'Namespaced' : 'Cluster',
    singularResource: t.kind.toLowerCase(),
    verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
    ...(t.shortNames && { shortNames: t.shortNames }),
    ...(t.subresources && { subresources: t.subresources.map((s) => ({ subresource: s, responseKind: { group: t.group, version: t.version, kind: t.kind }, verbs: s === 'log' ? ['get'] : ['get', 'create', 'update', 'patch'] })) }),
  };
}

function legacyResource(t: ResourceType): Obj[] {
  return [
    { name: t.resource, singularName: t.kind.toLowerCase(), namespaced: t.namespaced, kind: t.kind, verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'], ...(t.shortNames && { shortNames: t.shortNames }) },
    ...(t.subresources ?? []).map((s) => ({ name: `${t.resource}/${s}`, singularName: '', namespaced: t.namespaced, kind: t.kind, verbs: ['get', 'create'] })),
  ];
}

export async function startKubeApiServer(o: { token: string; upgrade?: UpgradeHandler[] }): Promise<FakeKubeApiServer> {
  let rv = 100;
  const store = new Map<string, Obj>(); // key: group/resource/namespace/name
  const history: { rv: number; type: string; key: string; obj: Obj }[] = [];
  const watchers = new Set<{ type: ResourceType; namespace: string; name: string; send: (ev: Obj) => void }>();
  const logs = new Map<string, string[]>();
  const followers = new Map<string, Set<http.ServerResponse>>();
  const requests: RecordedRequest[] = [];
  const typeOf = (group: string, resource: string) => RESOURCE_TYPES.find((t) => t.group === group && t.resource === resource);
  const keyOf = (t: ResourceType, ns: string, name: string) => `${t.group}/${t.resource}/${t.namespaced ? ns : ''}/${name}`;

  const record = (type: string, t: ResourceType, obj: Obj) => {
    const key = keyOf(t, obj.metadata.namespace ?? '', obj.metadata.name);
    history.push({ rv: Number(obj.metadata.resourceVersion), type, key, obj });
    for (const w of watchers) {
      if (w.type !== t) continue;
      if (w.namespace && obj.metadata.namespace !== w.namespace) continue;
      if (w.name && obj.metadata.name !== w.name) continue;
      w.send({ type, object: obj });
    }
  };
  const put = (t: ResourceType, obj: Obj, event: 'ADDED' | 'MODIFIED'): Obj => {
    rv++;
    const o2 = structuredClone(obj);
    o2.apiVersion = t.group ? `${t.group}/${t.version}` : t.version;
    o2.kind = t.kind;
    o2.metadata = { ...o2.metadata, resourceVersion: String(rv) };
    o2.metadata.uid ??= `uid-${rv}`;
    o2.metadata.creationTimestamp ??= new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    if (!t.namespaced) delete o2.metadata.namespace;
    if (t.resource === 'pods') o2.status ??= { phase: 'Running' };
    store.set(keyOf(t, o2.metadata.namespace ?? '', o2.metadata.name), o2);
    record(event, t, o2);
    return o2;
  };
  const remove = (t: ResourceType, obj: Obj) => {
    rv++;
    store.delete(keyOf(t, obj.metadata.namespace ?? '', obj.metadata.name));
    const gone = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(rv) } };
    record('DELETED', t, gone);
    if (t.resource === 'pods') endLogs(obj.metadata.namespace, obj.metadata.name);
    return gone;
  };
  const endLogs = (ns: string, pod: string) => {
    for (const r of followers.get(`${ns}/${pod}`) ?? []) r.end();
    followers.delete(`${ns}/${pod}`);
  };

  const send = (res: http.ServerResponse, code: number, body: unknown, type = 'application/json') => {
    const text = `${JSON.stringify(body)}\n`;
    res.writeHead(code, { 'content-type': type, 'content-length': Buffer.byteLength(text), 'audit-id': `audit-${rv}` });
    res.end(text);
  };
  const fail = (res: http.ServerResponse, code: number, reason: string, message: string, details?: Obj) => send(res, code, statusObj(code, reason, message, details));

  const readBody = (req: http.IncomingMessage) =>
    new Promise<string>((resolve) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    });

  const server = http.createServer(async (req, res) => {
    const body = await readBody(req);
    requests.push({ method: req.method!, url: req.url!, headers: req.headers, body });
    if (req.headers.authorization !== `Bearer ${o.token}`) return fail(res, 401, 'Unauthorized', 'Unauthorized');
    const url = new URL(req.url!, 'http://x');
    const accept = String(req.headers.accept ?? '');
    const path = url.pathname;

    // --- discovery
    if (path === '/version') return send(res, 200, { major: '1', minor: '32', gitVersion: 'v1.32.0-airlock-test', platform: 'linux/amd64' });
    if (path === '/api' || path === '/apis') {
      const groups = path === '/api' ? [''] : [...new Set(RESOURCE_TYPES.map((t) => t.group).filter(Boolean))];
      if (accept.includes('as=APIGroupDiscoveryList') && accept.includes('v=v2')) {
        const items = groups.map((g) => ({
          metadata: g ? { name: g, creationTimestamp: null } : { creationTimestamp: null },
          versions: [{ version: 'v1', resources: RESOURCE_TYPES.filter((t) => t.group === g).map(discoveryResource), freshness: 'Current' }],
        }));
        return send(res, 200, { kind: 'APIGroupDiscoveryList', apiVersion: 'apidiscovery.k8s.io/v2', metadata: {}, items }, 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList');
      }
      if (path === '/api') return send(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] });
      return send(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups: groups.map((g) => ({ name: g, versions: [{ groupVersion: `${g}/v1`, version: 'v1' }], preferredVersion: { groupVersion: `${g}/v1`, version: 'v1' } })) });
    }
    const gv = /^\/(?:api\/(v1)|apis\/([^/]+)\/(v1))$/.exec(path);
    if (gv) {
      const group = gv[2] ?? '';
      return send(res, 200, { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/v1` : 'v1', resources: RESOURCE_TYPES.filter((t) => t.group === group).flatMap(legacyResource) });
    }
    if (path.startsWith('/openapi/')) return fail(res, 404, 'NotFound', 'the server could not find the requested resource');

    // --- resources
    const m = /^\/(?:api\/v1|apis\/([^/]+)\/v1)(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?(?:\/([^/]+))?$/.exec(path);
    let group = m?.[1] ?? '';
    let ns = m?.[2] ?? '';
    let resource = m?.[3] ?? '';
    let name = m?.[4] ?? '';
    const sub = m?.[5] ?? '';
    if (m && !m[2] && resource === 'namespaces' && name === '' ) ns = '';
    if (m && m[2] && !m[3]) {
      group = '';
      resource = 'namespaces';
      name = ns;
    }
    const t = m ? typeOf(group, resource) : undefined;
    if (!t) return fail(res, 404, 'NotFound', 'the server could not find the requested resource');
    if (resource === 'namespaces' && ns && !name) {
      name = ns;
      ns = '';
    }
    const existing = name ? store.get(keyOf(t, ns, name)) : undefined;
    const notFound = () => fail(res, 404, 'NotFound', `${t.resource}${t.group ? `.${t.group}` : ''} "${name}" not found`, { name, group: t.group, kind: t.resource });

    if (sub === 'log' && t.resource === 'pods' && req.method === 'GET') {
      if (!existing) return notFound();
      const key = `${ns}/${name}`;
      res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
      for (const line of logs.get(key) ?? []) res.write(`${line}\n`);
      if (url.searchParams.get('follow') === 'true') {
        let set = followers.get(key);
        if (!set) followers.set(key, (set = new Set()));
        set.add(res);
        res.on('close', () => set!.delete(res));
        return;
      }
      return res.end();
    }
    if (sub === 'token' && t.resource === 'serviceaccounts' && req.method === 'POST') {
      if (!existing) return notFound();
      return send(res, 201, { kind: 'TokenRequest', apiVersion: 'authentication.k8s.io/v1', metadata: {}, spec: JSON.parse(body || '{}').spec ?? {}, status: { token: `minted-${rv}`, expirationTimestamp: new Date(Date.now() + 3600_000).toISOString() } });
    }
    if (sub) return fail(res, 404, 'NotFound', `subresource ${sub} is not served by this test server`);

    const asTable = accept.includes('as=Table');
    switch (req.method) {
      case 'GET': {
        if (name) {
          if (!existing) return notFound();
          return send(res, 200, asTable ? tableOf(t, [existing], existing.metadata.resourceVersion, url.searchParams.get('includeObject') ?? 'Metadata') : existing);
        }
        const selector = url.searchParams.get('fieldSelector') ?? '';
        const byName = /^metadata\.name==?(.+)$/.exec(selector)?.[1] ?? '';
        const items = [...store.values()].filter((obj) => obj.kind === t.kind && (!ns || obj.metadata.namespace === ns) && (!byName || obj.metadata.name === byName)).sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
        if (url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1') {
          res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
          const from = Number(url.searchParams.get('resourceVersion') || '0');
          const write = (ev: Obj) => res.write(`${JSON.stringify(asTable ? { type: ev.type, object: tableOf(t, [ev.object], ev.object.metadata.resourceVersion, 'Object') } : ev)}\n`);
          if (from > 0) for (const h of history) if (h.rv > from && h.obj.kind === t.kind && (!ns || h.obj.metadata.namespace === ns) && (!byName || h.obj.metadata.name === byName)) write({ type: h.type, object: h.obj });
          if (!from) for (const obj of items) write({ type: 'ADDED', object: obj });
          const w = { type: t, namespace: ns, name: byName, send: write };
          watchers.add(w);
          const timeout = setTimeout(() => res.end(), Number(url.searchParams.get('timeoutSeconds') || '300') * 1000);
          res.on('close', () => {
            watchers.delete(w);
            clearTimeout(timeout);
          });
          return;
        }
        const listRv = String(rv);
        if (asTable) return send(res, 200, tableOf(t, items, listRv, url.searchParams.get('includeObject') ?? 'Metadata'));
        return send(res, 200, { kind: `${t.kind}List`, apiVersion: t.group ? `${t.group}/v1` : 'v1', metadata: { resourceVersion: listRv }, items: items.map((i) => { const c = { ...i }; delete c.kind; delete c.apiVersion; return c; }) });
      }
      case 'POST': {
        let obj: Obj;
        try {
          obj = JSON.parse(body) as Obj;
        } catch {
          return fail(res, 400, 'BadRequest', 'the body is not JSON');
        }
        obj.metadata ??= {};
        if (t.namespaced) obj.metadata.namespace ??= ns;
        if (store.has(keyOf(t, obj.metadata.namespace ?? '', obj.metadata.name))) return fail(res, 409, 'AlreadyExists', `${t.resource} "${obj.metadata.name}" already exists`);
        if (url.searchParams.get('dryRun') === 'All') return send(res, 201, obj);
        return send(res, 201, put(t, obj, 'ADDED'));
      }
      case 'PUT': {
        if (!existing) return notFound();
        return send(res, 200, put(t, JSON.parse(body) as Obj, 'MODIFIED'));
      }
      case 'PATCH': {
        const ct = String(req.headers['content-type'] ?? '').split(';')[0];
        let next: Obj;
        try {
          if (ct === 'application/apply-patch+yaml') {
            const applied = parseYaml(body) as Obj;
            applied.metadata ??= {};
            if (t.namespaced) applied.metadata.namespace ??= ns;
            next = existing ? (mergePatch(existing, applied) as Obj) : applied;
            return send(res, existing ? 200 : 201, put(t, next, existing ? 'MODIFIED' : 'ADDED'));
          }
          if (!existing) return notFound();
          if (ct === 'application/json-patch+json') next = jsonPatch(existing, JSON.parse(body) as Obj[]);
          else if (ct === 'application/merge-patch+json' || ct === 'application/strategic-merge-patch+json') next = mergePatch(existing, JSON.parse(body)) as Obj;
          else return fail(res, 415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`);
        } catch (err) {
          return fail(res, 422, 'Invalid', (err as Error).message);
        }
        return send(res, 200, put(t, next, 'MODIFIED'));
      }
      case 'DELETE': {
        if (name) {
          if (!existing) return notFound();
          return send(res, 200, remove(t, existing));
        }
        const gone = [...store.values()].filter((obj) => obj.kind === t.kind && (!ns || obj.metadata.namespace === ns)).map((obj) => remove(t, obj));
        return send(res, 200, { kind: `${t.kind}List`, apiVersion: 'v1', metadata: { resourceVersion: String(rv) }, items: gone });
      }
      default:
        return fail(res, 405, 'MethodNotAllowed', `${req.method} is not allowed`);
    }
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    requests.push({ method: req.method!, url: req.url!, headers: req.headers, body: '' });
    for (const h of o.upgrade ?? []) if (h(req, socket, head)) return;
    const body = JSON.stringify(statusObj(400, 'BadRequest', 'no upgrade handler for this request'));
    socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  });
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const typeByResource = (resource: string, group = '') => {
    const t = typeOf(group, resource);
    if (!t) throw new Error(`unknown resource ${group}/${resource}`);
    return t;
  };
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    put: (resource, obj, group = '') => put(typeByResource(resource, group), obj, store.has(keyOf(typeByResource(resource, group), obj.metadata?.namespace ?? '', obj.metadata?.name)) ? 'MODIFIED' : 'ADDED'),
    get: (resource, namespace, name, group = '') => store.get(keyOf(typeByResource(resource, group), namespace, name)),
    appendLog(namespace, pod, line) {
      const key = `${namespace}/${pod}`;
      if (!logs.has(key)) logs.set(key, []);
      logs.get(key)!.push(line);
      for (const r of followers.get(key) ?? []) r.write(`${line}\n`);
    },
    endLogs,
    close: async () => {
      for (const set of followers.values()) for (const r of set) r.destroy();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
  };
}
