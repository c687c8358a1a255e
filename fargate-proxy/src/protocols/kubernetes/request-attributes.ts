// Kubernetes request attributes, resolved the way kube-apiserver's RequestInfoFactory does
// (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go): verb, API group and version, resource,
// subresource, namespace, name. Authorization upstream is decided on these attributes, so ours must
// be the same ones. Where the API server could read a request differently from us (how a path is
// percent-decoded, trailing or doubled slashes, dot segments, a parameter given twice, a value its
// parameter decoder rejects and then falls back on), the request has no single reading and is
// refused instead of guessed at. Pure: no I/O, importable by the exec/attach/port-forward code.

export interface KubeRequestAttributes {
  /** true for /api/... and /apis/... resource paths; false for discovery, /version, /healthz, ... */
  isResourceRequest: boolean;
  /** get list watch create update patch delete deletecollection proxy; for non-resource requests the lower-case method. */
  verb: string;
  /** "api" or "apis" ("" for non-resource requests). */
  apiPrefix: string;
  /** "" for the core group. */
  apiGroup: string;
  apiVersion: string;
  /** "" for cluster-scoped resources and non-resource requests. */
  namespace: string;
  resource: string;
  subresource: string;
  name: string;
  /** The path parts from the resource on: resource/name/subresource/... */
  parts: string[];
  /** The decoded path as policy sees it. */
  path: string;
  /** The same path percent-encoded in one canonical way: what is forwarded upstream. */
  encodedPath: string;
  /** Decoded query parameters in order (names may repeat only where allowed). */
  query: [string, string][];
  /** The query as forwarded (re-encoded from `query`). */
  encodedQuery: string;
}

export type ResolvedRequest = { ok: true; attributes: KubeRequestAttributes } | { ok: false; code: string; message: string };

/** Path words that are verbs, not resources (`/api/v1/watch/pods`, `/api/v1/proxy/...`). */
const SPECIAL_VERBS = new Set(['proxy', 'watch']);
const SPECIAL_VERBS_NO_SUBRESOURCES = new Set(['proxy']);
/** `/api/v1/namespaces/NAME/status` is the namespace's subresource, not a resource inside it. */
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);
const API_PREFIXES = new Set(['api', 'apis']);
const GROUPLESS_API_PREFIXES = new Set(['api']);
const VERB_OF_METHOD: Record<string, string> = { POST: 'create', GET: 'get', HEAD: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
/** Parameters the API server reads as lists: exec's argv and port-forward's ports. Any other repeat is ambiguous. */
const REPEATABLE = new Set(['command', 'ports']);
/** Parameters decoded as integers by ListOptions/DeleteOptions/PodLogOptions: a bad value changes how the request is read. */
const INTEGER_PARAMS = new Set(['limit', 'timeoutSeconds', 'gracePeriodSeconds', 'tailLines', 'limitBytes', 'sinceSeconds']);
const BOOLEAN_WORDS = new Set(['true', 'false', '1', '0']);

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });
const HEX2 = /^[0-9A-Fa-f]{2}$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

const refuse = (code: string, message: string): ResolvedRequest => ({ ok: false, code, message });

/** Percent-decodes once (as Go's url.URL.Path does), strictly: bad escapes and invalid UTF-8 are errors. */
function percentDecode(raw: string, plusIsSpace: boolean): string | undefined {
  if (!raw.includes('%') && !(plusIsSpace && raw.includes('+'))) return raw;
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x25) {
      const hex = raw.slice(i + 1, i + 3);
      if (!HEX2.test(hex)) return undefined;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (c === 0x2b && plusIsSpace) bytes.push(0x20);
    else bytes.push(c);
  }
  try {
    return fatalUtf8.decode(Uint8Array.from(bytes));
  } catch {
    return undefined;
  }
}

// RFC 3986 unreserved plus sub-delims and ":" "@" stay as they are in a path segment (";" never occurs: refused).
const PATH_KEEP = /[A-Za-z0-9\-._~!$&'()*+,=:@]/;
const QUERY_KEEP = /[A-Za-z0-9\-._~!$'()*,:@/?]/;

function encode(s: string, keep: RegExp): string {
  let out = '';
  for (const ch of s) {
    if (keep.test(ch)) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Go's path.IsValidPathSegmentName: what a fieldSelector's metadata.name must be to count as the request's name. */
function validPathSegmentName(name: string): boolean {
  return name !== '.' && name !== '..' && !name.includes('/') && !name.includes('%');
}

/**
 * The name a list/watch is narrowed to by `fieldSelector=metadata.name=NAME` (fields.Selector's
 * RequiresExactMatch). Escapes and spacing are refused rather than re-implemented.
 */
function nameFromFieldSelector(selector: string): { name: string } | { error: string } {
  if (selector.includes('\\')) return { error: 'escaped characters in fieldSelector' };
  if (/\s/.test(selector)) return { error: 'whitespace in fieldSelector' };
  let name = '';
  let seen = 0;
  for (const term of selector.split(',')) {
    if (term === '') continue;
    let field: string;
    let value: string;
    let exact: boolean;
    const ne = term.indexOf('!=');
    const eqeq = term.indexOf('==');
    const eq = term.indexOf('=');
    if (ne >= 0 && ne < eq) {
      field = term.slice(0, ne);
      value = term.slice(ne + 2);
      exact = false;
    } else if (eqeq >= 0 && eqeq === eq) {
      field = term.slice(0, eqeq);
      value = term.slice(eqeq + 2);
      exact = true;
    } else if (eq >= 0) {
      field = term.slice(0, eq);
      value = term.slice(eq + 1);
      exact = true;
    } else return { error: `fieldSelector term "${term}" has no operator` };
    if (field === 'metadata.name' && exact) {
      seen++;
      name = value;
    }
  }
  if (seen > 1) return { error: 'fieldSelector names metadata.name more than once' };
  return { name: seen === 1 && validPathSegmentName(name) ? name : '' };
}

/** The parts of a path, as splitPath does after the checks below made trimming a no-op. */
function splitParts(path: string): string[] {
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  return trimmed === '' ? [] : trimmed.split('/');
}

/**
 * Resolves `method` and the origin-form request target `rawUrl` (path and query, as the API server
 * would receive it) into request attributes, or refuses it as having no single reading.
 */
export function resolveRequestAttributes(method: string, rawUrl: string): ResolvedRequest {
  if (!rawUrl.startsWith('/')) return refuse('bad_request_target', 'only origin-form request targets are accepted');
  if (rawUrl.includes('#')) return refuse('bad_request_target', 'a fragment in the request target');
  if (/[^\x21-\x7e]/.test(rawUrl)) return refuse('path_bad_character', 'the request target holds characters outside printable ASCII');
  const q = rawUrl.indexOf('?');
  const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
  const rawQuery = q < 0 ? '' : rawUrl.slice(q + 1);

  // --- the path: one reading or none
  if (rawPath.includes(';')) return refuse('path_parameters', '";" in the path');
  if (rawPath.includes('\\')) return refuse('path_bad_character', 'a "\\" in the path');
  const segments: string[] = [];
  if (rawPath !== '/') {
    const raw = rawPath.slice(1).split('/');
    for (let i = 0; i < raw.length; i++) {
      const r = raw[i]!;
      if (r === '') return refuse('path_empty_segment', i === raw.length - 1 ? 'a trailing "/" (the API server routes it differently from the path without it)' : 'an empty path segment ("//")');
      const seg = percentDecode(r, false);
      if (seg === undefined) return refuse('path_bad_encoding', 'the path is not validly percent-encoded UTF-8');
      if (seg.includes('/') || seg.includes('\\')) return refuse('path_encoded_separator', 'an encoded "/" or "\\" in the path');
      if (seg === '.' || seg === '..') return refuse('path_dot_segment', 'a "." or ".." segment in the path');
      if (CONTROL.test(seg)) return refuse('path_bad_character', 'a control character in the path');
      segments.push(seg);
    }
  }
  const path = `/${segments.join('/')}`;
  const encodedPath = `/${segments.map((s) => encode(s, PATH_KEEP)).join('/')}`;

  // --- the query: Go's url.ParseQuery, minus what it and the parameter decoders read leniently
  if (rawQuery.includes(';')) return refuse('query_semicolon', '";" in the query (Go refuses it as a separator)');
  const query: [string, string][] = [];
  const seen = new Set<string>();
  for (const pair of rawQuery.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const k = percentDecode(eq < 0 ? pair : pair.slice(0, eq), true);
    const v = percentDecode(eq < 0 ? '' : pair.slice(eq + 1), true);
    if (k === undefined || v === undefined) return refuse('query_bad_encoding', 'the query is not validly percent-encoded UTF-8');
    if (seen.has(k) && !REPEATABLE.has(k)) return refuse('query_duplicate_parameter', `the query parameter "${k}" is given more than once`);
    if (CONTROL.test(k) || CONTROL.test(v)) return refuse('query_bad_character', 'a control character in the query');
    seen.add(k);
    query.push([k, v]);
  }
  const param = (name: string): string | undefined => query.find(([k]) => k === name)?.[1];
  for (const [k, v] of query) {
    if (INTEGER_PARAMS.has(k) && !/^-?[0-9]{1,18}$/.test(v)) return refuse('query_bad_value', `the query parameter "${k}" must be an integer`);
  }
  const encodedQuery = query.map(([k, v]) => `${encode(k, QUERY_KEEP)}=${encode(v, QUERY_KEEP)}`).join('&');

  const attrs: KubeRequestAttributes = {
    isResourceRequest: false,
    verb: method.toLowerCase(),
    apiPrefix: '',
    apiGroup: '',
    apiVersion: '',
    namespace: '',
    resource: '',
    subresource: '',
    name: '',
    parts: [],
    path,
    encodedPath,
    query,
    encodedQuery,
  };
  const ok = (): ResolvedRequest => ({ ok: true, attributes: attrs });

  // --- RequestInfoFactory.NewRequestInfo
  let parts = splitParts(path);
  if (parts.length < 3 || !API_PREFIXES.has(parts[0]!)) return ok();
  attrs.apiPrefix = parts[0]!;
  parts = parts.slice(1);
  if (!GROUPLESS_API_PREFIXES.has(attrs.apiPrefix)) {
    if (parts.length < 3) return ok();
    attrs.apiGroup = parts[0]!;
    parts = parts.slice(1);
  }
  attrs.isResourceRequest = true;
  attrs.apiVersion = parts[0]!;
  parts = parts.slice(1);

  if (SPECIAL_VERBS.has(parts[0]!)) {
    if (parts.length < 2) return refuse('unresolvable_request', `"${parts[0]}" names no resource (the API server cannot determine kind and namespace)`);
    attrs.verb = parts[0]!;
    parts = parts.slice(1);
    // The verb comes from the path here, whatever the method says: a DELETE to /watch/... would be
    // read as "watch" by the authorizer and as something else by the handler.
    if (method !== 'GET' && method !== 'HEAD' && attrs.verb === 'watch') return refuse('unresolvable_request', `${method} on a /watch/ path`);
  } else {
    const verb = VERB_OF_METHOD[method];
    if (verb === undefined) return refuse('method_not_allowed', `${method} is not a Kubernetes API method`);
    attrs.verb = verb;
  }

  if (parts[0] === 'namespaces') {
    if (parts.length > 1) {
      attrs.namespace = parts[1]!;
      if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2]!)) parts = parts.slice(2);
    }
  }
  attrs.parts = parts;
  if (parts.length >= 3 && !SPECIAL_VERBS_NO_SUBRESOURCES.has(attrs.verb)) attrs.subresource = parts[2]!;
  if (parts.length >= 2) attrs.name = parts[1]!;
  if (parts.length >= 1) attrs.resource = parts[0]!;

  const watch = param('watch');
  if (watch !== undefined && !BOOLEAN_WORDS.has(watch.toLowerCase())) {
    // The API server reads any other value as true in one place and may fall back in another.
    return refuse('query_bad_value', 'watch must be true, false, 1 or 0');
  }
  if (attrs.name === '' && attrs.verb === 'get') {
    attrs.verb = watch !== undefined && !['false', '0'].includes(watch.toLowerCase()) ? 'watch' : 'list';
    // A list or watch narrowed by fieldSelector=metadata.name=NAME carries the name (ListOptions decoding in NewRequestInfo).
    const selector = param('fieldSelector');
    if (selector !== undefined) {
      const r = nameFromFieldSelector(selector);
      if ('error' in r) return refuse('query_bad_value', r.error);
      attrs.name = r.name;
    }
  } else if (watch !== undefined && attrs.verb !== 'watch') {
    // watch= on a named or non-GET request is ignored by the resolver; refuse rather than let a handler disagree.
    return refuse('query_bad_value', 'watch applies only to collection reads');
  }
  if (attrs.name === '' && attrs.verb === 'delete') attrs.verb = 'deletecollection';
  return ok();
}
