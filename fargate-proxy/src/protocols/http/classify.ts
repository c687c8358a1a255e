// Which Cedar action a request is: the method's, unless one of the target's route rules (matched on
// the canonical path) reclassifies it — a `POST /search` that only reads is a read.
import type { HttpRouteRule } from './config.js';

export type HttpAction = 'read' | 'write' | 'delete';

const BY_METHOD: Record<string, HttpAction> = {
  GET: 'read',
  HEAD: 'read',
  OPTIONS: 'read',
  POST: 'write',
  PUT: 'write',
  PATCH: 'write',
  DELETE: 'delete',
};

/** Methods the gateway forwards at all; TRACE (it reflects the injected credential) and CONNECT never are. */
export const FORWARDED_METHODS = new Set(Object.keys(BY_METHOD));

export interface Classified {
  action: HttpAction;
  /** The rule's id, or "" when the method decided. */
  route: string;
}

/** A compiled path pattern: `*` matches within one segment, `**` any number of whole segments. */
export function compilePattern(pattern: string): RegExp {
  const segments = pattern.split('/').slice(1);
  const body = segments
    .map((seg) => (seg === '**' ? '(?:/[^/]*)*' : `/${seg.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')}`))
    .join('');
  return new RegExp(`^${body === '' ? '/' : body}$`);
}

export function createClassifier(rules: readonly HttpRouteRule[], caseSensitive: boolean): (method: string, path: string) => Classified | undefined {
  const compiled = rules.map((r) => ({ rule: r, re: compilePattern(caseSensitive ? r.path : r.path.toLowerCase()), methods: new Set(r.methods) }));
  return (method, path) => {
    for (const c of compiled) if (c.methods.has(method) && c.re.test(path)) return { action: c.rule.action, route: c.rule.id };
    const action = BY_METHOD[method];
    return action ? { action, route: '' } : undefined;
  };
}
