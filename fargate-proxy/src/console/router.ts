// A tiny method + path router for the console. Other pages (sessions, replay) plug in by adding routes.
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** Named segments from the pattern, e.g. `:id`. Already URI-decoded. */
  params: Record<string, string>;
}

export interface ConsoleRoute {
  method: 'GET' | 'POST';
  /** Path with `:name` segments, e.g. `/api/approvals/:id/approve`. */
  path: string;
  handler: (ctx: RouteContext) => Promise<void> | void;
}

export type RouteMatch = { route: ConsoleRoute; params: Record<string, string> } | { route?: undefined; methodMismatch: boolean };

export function matchRoute(routes: readonly ConsoleRoute[], method: string, pathname: string): RouteMatch {
  const parts = pathname.split('/');
  let methodMismatch = false;
  for (const route of routes) {
    const pattern = route.path.split('/');
    if (pattern.length !== parts.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < pattern.length && ok; i++) {
      const p = pattern[i] ?? '';
      const v = parts[i] ?? '';
      if (p.startsWith(':')) {
        if (v === '') ok = false;
        else {
          try {
            params[p.slice(1)] = decodeURIComponent(v);
          } catch {
            ok = false;
          }
        }
      } else if (p !== v) ok = false;
    }
    if (!ok) continue;
    if (route.method !== method) {
      methodMismatch = true;
      continue;
    }
    return { route, params };
  }
  return { methodMismatch };
}
