// A target's OpenAPI 3 document, read once at start: each request is matched to the operation the
// upstream would route it to (method + path template below a server's base path), so policy can name
// operations (`context.operationId`, `context.operationTags`) instead of re-describing paths.
// Matching follows OpenAPI 3 §4.8.8 (Paths Object): concrete paths before templated ones; a template
// parameter is exactly one path segment. The path matched is the canonical one (canonical-path.ts),
// so `/%63ustomers/./1` is the operation `/customers/{id}` exactly as the upstream routes it.
import { readFileSync } from 'node:fs';
import YAML from 'yaml';

export interface Operation {
  operationId: string;
  tags: string[];
  method: string;
  /** The path template as written in the document, e.g. `/customers/{id}`. */
  template: string;
}

export interface OperationMatcher {
  /** `path` is the full upstream path: the target's base path followed by the canonical path. */
  match(method: string, path: string): Operation | undefined;
  readonly operations: readonly Operation[];
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

interface Compiled {
  op: Operation;
  bases: string[];
  re: RegExp;
  /** Per segment: 2 literal, 1 partly templated, 0 a whole parameter (higher is more concrete). */
  rank: number[];
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A server URL's path (variables replaced by their defaults), without a trailing "/". */
function serverBase(server: unknown): string {
  const s = server as { url?: unknown; variables?: Record<string, { default?: unknown }> };
  if (typeof s?.url !== 'string') throw new Error('a server without a url');
  const url = s.url.replace(/\{([^}]+)\}/g, (_, v: string) => String(s.variables?.[v]?.default ?? ''));
  return decodeURIComponent(new URL(url, 'http://relative.invalid').pathname).replace(/\/+$/, '');
}

function compileTemplate(template: string, caseSensitive: boolean): { re: RegExp; rank: number[] } {
  const segments = template.replace(/\/+$/, '').split('/').slice(1);
  const rank: number[] = [];
  const body = segments
    .map((seg) => {
      const parts = seg.split(/\{[^}/]+\}/);
      rank.push(parts.length === 1 ? 2 : parts.every((p) => p === '') ? 0 : 1);
      return `/${parts.map(escape).join('[^/]+')}`;
    })
    .join('');
  return { re: new RegExp(`^${body || '/'}$`, caseSensitive ? '' : 'i'), rank };
}

/** Lexicographic: the first segment where they differ decides, the more concrete wins. */
function moreConcrete(a: number[], b: number[]): boolean {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! > b[i]!;
  return false;
}

export function parseOpenApi(text: string, opts: { caseSensitive: boolean; source: string }): OperationMatcher {
  const doc = YAML.parse(text) as Record<string, unknown> | null;
  if (!doc || typeof doc !== 'object' || typeof doc.openapi !== 'string' || !/^3\./.test(doc.openapi)) {
    throw new Error(`${opts.source}: not an OpenAPI 3 document (no "openapi: 3.x")`);
  }
  const paths = (doc.paths ?? {}) as Record<string, Record<string, unknown>>;
  const docServers = Array.isArray(doc.servers) && doc.servers.length > 0 ? doc.servers.map(serverBase) : [''];
  const compiled: Compiled[] = [];
  const seen = new Set<string>();
  for (const [template, item] of Object.entries(paths)) {
    if (!template.startsWith('/') || !item || typeof item !== 'object') continue;
    const bases = Array.isArray(item.servers) && item.servers.length > 0 ? item.servers.map(serverBase) : docServers;
    const { re, rank } = compileTemplate(template, opts.caseSensitive);
    for (const method of METHODS) {
      const o = item[method] as { operationId?: unknown; tags?: unknown; servers?: unknown } | undefined;
      if (!o || typeof o !== 'object') continue;
      const operationId = typeof o.operationId === 'string' ? o.operationId : '';
      if (operationId && seen.has(operationId)) throw new Error(`${opts.source}: operationId "${operationId}" appears twice`);
      seen.add(operationId);
      const tags = Array.isArray(o.tags) ? o.tags.filter((t): t is string => typeof t === 'string') : [];
      const opBases = Array.isArray(o.servers) && o.servers.length > 0 ? o.servers.map(serverBase) : bases;
      compiled.push({ op: { operationId, tags, method: method.toUpperCase(), template }, bases: opBases, re, rank });
    }
  }
  const fold = (s: string) => (opts.caseSensitive ? s : s.toLowerCase());

  const find = (method: string, path: string): Operation | undefined => {
    let best: Compiled | undefined;
    for (const c of compiled) {
      if (c.op.method !== method) continue;
      for (const base of c.bases) {
        const b = fold(base);
        const p = fold(path);
        if (p !== b && !p.startsWith(`${b}/`)) continue;
        if (!c.re.test(path.slice(base.length) || '/')) continue;
        if (!best || moreConcrete(c.rank, best.rank)) best = c;
        break;
      }
    }
    return best?.op;
  };
  return {
    operations: compiled.map((c) => c.op),
    // HEAD is GET without a body (RFC 9110 §9.3.2): a HEAD the document does not name is its GET.
    match: (method, path) => find(method, path) ?? (method === 'HEAD' ? find('GET', path) : undefined),
  };
}

export function loadOpenApi(file: string, opts: { caseSensitive: boolean }): OperationMatcher {
  return parseOpenApi(readFileSync(file, 'utf8'), { ...opts, source: file });
}
