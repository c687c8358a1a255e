// The sessions console: the page and its JSON API, added to the console with `startConsole({ routes })`.
//   GET /sessions                       the page (list, filters, replay)
//   GET /api/sessions?principal=&target=&from=&to=&refusedOnly=&limit=
//   GET /api/sessions/:id               the session's replay and whether its hash chain is intact
// Every API call needs `Authorization: Bearer <token>` of a principal in one of `viewerGroups`:
// audit trails hold statements and (masked) results, so being signed in is not enough.
import type { Principal } from '../../../core/model.js';
import { isValidSessionId } from '../../../core/audit/events.js';
import type { AuditReader, SessionFilter } from '../../../core/audit/ports.js';
import { HttpError, bearerToken, sendJson } from './http.js';
import type { ConsoleRoute, RouteContext } from './router.js';
import { buildSessionReplay } from './sessions-replay.js';
import { sessionsPageRoutes } from './sessions-page.js';

export interface SessionRoutesOptions {
  reader: AuditReader;
  /** Verifies an OIDC access token (the identity module's verifier in the gateway). */
  verifyViewer: (token: string) => Promise<Principal>;
  /** Groups whose members may read sessions; empty lets nobody in. */
  viewerGroups: readonly string[];
}

export const DEFAULT_LIST_LIMIT = 200;
export const MAX_LIST_LIMIT = 1000;

async function viewerOf(ctx: RouteContext, o: SessionRoutesOptions): Promise<Principal> {
  const token = bearerToken(ctx.req);
  if (!token) throw new HttpError(401, 'sign in: send Authorization: Bearer <token>');
  let principal: Principal;
  try {
    principal = await o.verifyViewer(token);
  } catch {
    // The verifier's message may describe the token; say nothing about it.
    throw new HttpError(401, 'invalid or expired token');
  }
  if (!principal.groups.some((g) => o.viewerGroups.includes(g))) {
    throw new HttpError(403, `${principal.id} may not read sessions: viewers need one of the groups ${o.viewerGroups.join(', ') || '(none configured)'}`);
  }
  return principal;
}

/** `YYYY-MM-DD` (as a date input gives it; `to` then means the end of that day) or any ISO time. */
function isoParam(url: URL, name: 'from' | 'to'): string | undefined {
  const value = url.searchParams.get(name)?.trim();
  if (!value) return undefined;
  const dateOnly = /^\d{4}-\d\d-\d\d$/.test(value);
  const t = Date.parse(dateOnly ? `${value}T00:00:00.000Z` : value);
  if (Number.isNaN(t)) throw new HttpError(400, `${name}: not a date or time`);
  return new Date(dateOnly && name === 'to' ? t + 86_400_000 - 1 : t).toISOString();
}

function filterOf(url: URL): SessionFilter {
  const text = (name: string) => url.searchParams.get(name)?.trim() || undefined;
  const limitText = text('limit');
  const limit = limitText === undefined ? DEFAULT_LIST_LIMIT : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) throw new HttpError(400, `limit: a whole number from 1 to ${MAX_LIST_LIMIT}`);
  const refused = text('refusedOnly');
  return {
    principal: text('principal'),
    target: text('target'),
    from: isoParam(url, 'from'),
    to: isoParam(url, 'to'),
    refusedOnly: refused === 'true' || refused === '1' || refused === 'on',
    limit,
  };
}

export function sessionRoutes(o: SessionRoutesOptions): ConsoleRoute[] {
  return [
    ...sessionsPageRoutes(),
    {
      method: 'GET',
      path: '/api/sessions',
      handler: async (ctx) => {
        const viewer = await viewerOf(ctx, o);
        const filter = filterOf(ctx.url);
        const sessions = await o.reader.listSessions(filter);
        sendJson(ctx.res, 200, { viewer: { id: viewer.id }, limit: filter.limit, sessions });
      },
    },
    {
      method: 'GET',
      path: '/api/sessions/:id',
      handler: async (ctx) => {
        await viewerOf(ctx, o);
        const id = ctx.params.id ?? '';
        // Ids become file names and store keys: only the safe alphabet reaches a reader.
        const entries = isValidSessionId(id) ? await o.reader.readSession(id) : undefined;
        if (!entries) throw new HttpError(404, 'no such session');
        sendJson(ctx.res, 200, buildSessionReplay(id, entries));
      },
    },
  ];
}
