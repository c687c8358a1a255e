// Which Cedar action a request is: the method's, unless one of the target's route rules (matched on
// the canonical path, or naming the request's OpenAPI operation) reclassifies it — a `POST /search`
// that only reads is a read. A target whose OpenAPI document says so makes a request that matches no
// operation and no rule `opaque` (Cedar `http_opaque`, refused unless a policy permits it).
import type { HttpRouteRule } from './config.js';

export type HttpAction = 'read' | 'write' | 'delete' | 'opaque';

const BY_METHOD: Record<string, Exclude<HttpAction, 'opaque'>> = {
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

/**
 * `operationId` is the request's OpenAPI operation ("" when none matched, undefined when the target
 * has no document); `unmatchedIsOpaque` is the target's `openapi.unmatched: opaque`.
 */
export function createClassifier(
  rules: readonly HttpRouteRule[],
  caseSensitive: boolean,
  unmatchedIsOpaque = false,
): (method: string, path: string, operationId?: string) => Classified | undefined {
  const compiled = rules.map((r) => ({
    rule: r,
    re: r.path === undefined ? undefined : compilePattern(caseSensitive ? r.path : r.path.toLowerCase()),
    methods: r.methods && new Set(r.methods),
    operations: r.operations && new Set(r.operations),
  }));
  return (method, path, operationId) => {
    for (const c of compiled) {
      if (c.methods && !c.methods.has(method)) continue;
      if (c.re && !c.re.test(path)) continue;
      if (c.operations && !(operationId && c.operations.has(operationId))) continue;
      return { action: c.rule.action, route: c.rule.id };
    }
    const action = BY_METHOD[method];
    if (!action) return undefined;
    return unmatchedIsOpaque && operationId === '' ? { action: 'opaque', route: '' } : { action, route: '' };
  };
}
