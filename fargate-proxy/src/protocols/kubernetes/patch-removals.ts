// What a patch takes away from the object it is applied to, read the way the API server applies each
// patch kind (k8s.io/apimachinery strategicpatch, RFC 7386 merge patch, RFC 6902 JSON Patch).
//
// What a patch WRITES is found by podRisks (classify.ts), which reads every value in the body,
// directive contents included: that is the conservative reading, because whether the API server
// writes a `$patch: delete` element's other fields depends on the live object (merged: dropped;
// inside a replaced map or list: kept literally, the `$patch` key then an unknown field). What a
// patch REMOVES is invisible to such a scan, and removing a restriction loosens a pod as surely as
// adding a privilege: dropping `capabilities.drop: [ALL]` gives the capabilities back, dropping
// `allowPrivilegeEscalation: false` turns it on (its default), dropping `runAsNonRoot` lets it run
// as root. So the removals are listed here, by path, and `loosensPodSecurity` says whether one of
// them can take away part of a pod's securityContext.
//
// Strategic merge patch removals (patch.go): a `null` value deletes its key (mergeMap);
// `$patch: delete` in a map empties it, in a list element deletes the elements with its merge key
// (mergeSliceWithSpecialElements); `$patch: replace` in a map, or as a list element, replaces the
// map or list wholesale (what is not in the patch is gone); a list of scalars is written whole; `$retainKeys: [...]` clears every key
// of the map not listed (applyRetainKeysDirective); `$deleteFromPrimitiveList/<field>: [...]`
// removes those values from the primitive list <field>. `$setElementOrder/<field>` only orders.
// A merge patch removes with `null` alone (its `$` keys are ordinary, unknown field names). JSON
// Patch removes with `remove`, `replace` (the old value) and `move` (its `from`).

export type RemovalKind = 'null' | 'delete' | 'delete-element' | 'replace' | 'retain-keys' | 'delete-from-list' | 'json-remove' | 'json-replace';

export interface Removal {
  /** Keys from the object's root; list elements as `[name]` (their merge key, or their index). */
  path: string[];
  kind: RemovalKind;
  /** For `retain-keys`: the keys kept. */
  keep?: string[];
}

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** An element's label in a path: its merge key if it has a usual one, else its index. */
function label(e: unknown, i: number): string {
  if (isMap(e)) for (const k of ['name', 'mountPath', 'containerPort', 'devicePath', 'ip', 'key', 'topologyKey']) if (e[k] !== undefined) return `[${String(e[k])}]`;
  return `[${i}]`;
}

export function strategicMergeRemovals(patch: unknown): Removal[] {
  const out: Removal[] = [];
  const walk = (v: unknown, path: string[], element: boolean, depth: number): void => {
    if (depth > 64) return void out.push({ path, kind: 'replace' }); // deeper than the scan follows: assume the worst
    if (Array.isArray(v)) {
      // A list of maps merges by its merge key unless told to replace; a list of scalars is atomic
      // (capabilities.drop, supplementalGroups: no patch strategy), so writing it replaces the old one.
      if (v.some((e) => isMap(e) && e.$patch === 'replace') || !v.some(isMap)) out.push({ path, kind: 'replace' });
      v.forEach((e, i) => walk(e, [...path, label(e, i)], true, depth + 1));
      return;
    }
    if (!isMap(v)) return;
    if (v.$patch === 'delete') out.push({ path, kind: element ? 'delete-element' : 'delete' });
    else if (v.$patch === 'replace' && !element) out.push({ path, kind: 'replace' });
    if ('$retainKeys' in v) out.push({ path, kind: 'retain-keys', keep: Array.isArray(v.$retainKeys) ? v.$retainKeys.map(String) : [] });
    for (const [k, child] of Object.entries(v)) {
      if (k === '$patch' || k === '$retainKeys' || k.startsWith('$setElementOrder/')) continue;
      if (k.startsWith('$deleteFromPrimitiveList/')) {
        out.push({ path: [...path, k.slice('$deleteFromPrimitiveList/'.length)], kind: 'delete-from-list' });
        continue;
      }
      if (child === null) out.push({ path: [...path, k], kind: 'null' });
      else walk(child, [...path, k], false, depth + 1);
    }
  };
  walk(patch, [], false, 0);
  return out;
}

export function mergePatchRemovals(patch: unknown): Removal[] {
  const out: Removal[] = [];
  const walk = (v: unknown, path: string[], depth: number): void => {
    if (!isMap(v)) return; // a merge patch replaces lists whole; only maps merge (RFC 7386)
    if (depth > 64) return void out.push({ path, kind: 'replace' });
    for (const [k, child] of Object.entries(v)) {
      if (child === null) out.push({ path: [...path, k], kind: 'null' });
      else if (Array.isArray(child)) out.push({ path: [...path, k], kind: 'replace' });
      else walk(child, [...path, k], depth + 1);
    }
  };
  walk(patch, [], 0);
  return out;
}

/** RFC 6901: `/a/b~1c/0` → ['a', 'b/c', '[0]']. */
function pointer(p: string): string[] {
  return p
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^(\d+|-)$/.test(s) ? `[${s}]` : s));
}

export function jsonPatchRemovals(patch: unknown): Removal[] {
  if (!Array.isArray(patch)) return [];
  const out: Removal[] = [];
  for (const op of patch) {
    if (!isMap(op)) continue;
    if (op.op === 'remove' && typeof op.path === 'string') out.push({ path: pointer(op.path), kind: 'json-remove' });
    if (op.op === 'replace' && typeof op.path === 'string') out.push({ path: pointer(op.path), kind: 'json-replace' });
    if (op.op === 'move' && typeof op.from === 'string') out.push({ path: pointer(op.from), kind: 'json-remove' });
  }
  return out;
}

/** The removals of a PATCH body of this media type; other bodies remove nothing the gateway can see. */
export function patchRemovals(contentType: string, body: unknown): Removal[] {
  if (contentType === 'application/strategic-merge-patch+json') return strategicMergeRemovals(body);
  if (contentType === 'application/merge-patch+json') return mergePatchRemovals(body);
  if (contentType === 'application/json-patch+json') return jsonPatchRemovals(body);
  return [];
}

/** Maps and lists that hold pod or container securityContexts below them (or are the object itself). */
const HOLDERS = new Set(['', 'spec', 'template', 'jobtemplate', 'containers', 'initcontainers', 'ephemeralcontainers']);
const CONTAINER_LISTS = new Set(['containers', 'initcontainers', 'ephemeralcontainers']);

/**
 * Can one of these removals take away part of a securityContext (a pod's or a container's)? Anything
 * removed at or under a `securityContext`; and a holder of securityContexts cleared, replaced or
 * pruned wholesale. A container deleted whole is not: nothing of it runs any more.
 */
export function loosensPodSecurity(removals: readonly Removal[]): boolean {
  return removals.some((r) => {
    const path = r.path.map((s) => s.toLowerCase());
    if (path.includes('securitycontext')) return true;
    const last = path.at(-1) ?? '';
    const isElement = last.startsWith('[');
    const holder = isElement ? path.at(-2) ?? '' : last;
    if (!HOLDERS.has(holder)) return false;
    const containerElement = isElement && CONTAINER_LISTS.has(holder);
    if (containerElement && (r.kind === 'delete-element' || r.kind === 'json-remove')) return false;
    if (r.kind === 'retain-keys' && containerElement) return !(r.keep ?? []).some((k) => k.toLowerCase() === 'securitycontext');
    return r.kind !== 'delete-from-list';
  });
}
