// The tasks JSON API on the console, used by `airlock task …` and `airlock sessions kill`:
//   POST /api/tasks                 open      { title, ticket?, targets[], scope[], durationSeconds, budget?, reason? }
//   GET  /api/tasks                 list      (?all=1 for reviewers: every agent's)
//   GET  /api/tasks/:id             status    (+ token for the owner of an active task, + live sessions, + audited lifecycle events)
//   POST /api/tasks/:id/close       close     { reason? }
//   GET  /api/live-sessions         this gateway's live sessions, by task (reviewers)
//   POST /api/sessions/kill         kill switch { principal, reason? } (reviewers)
// The agent signs in with its own access token; task tokens cannot open or close tasks.
import type { Principal } from '../../../core/model.js';
import { TaskError, type TaskRequest, type TaskService } from '../../../core/task/types.js';
import { HttpError, bearerToken, readJson, sendJson } from '../console/http.js';
import type { ConsoleRoute, RouteContext } from '../console/router.js';
import type { LiveSessions } from './live-sessions.js';

export interface TaskRouteDeps {
  tasks: TaskService;
  sessions: LiveSessions;
  verify(token: string): Promise<Principal>;
  reviewerGroups: readonly string[];
  /** The kill switch, fleet-wide where a shared store exists; returns this process's ended sessions. */
  kill(principalId: string, by: string, reason: string): Promise<string[]>;
  /** The task's lifecycle events from this gateway's audit trail (opened, granted, closed, killed…). */
  events?(taskId: string): Promise<unknown[]>;
}

const STATUS: Record<TaskError['code'], number> = { invalid_request: 400, not_found: 404, forbidden: 403, unavailable: 503 };

export function taskRoutes(d: TaskRouteDeps): ConsoleRoute[] {
  async function who(ctx: RouteContext): Promise<Principal> {
    const token = bearerToken(ctx.req);
    if (!token) throw new HttpError(401, 'sign in: send Authorization: Bearer <token>');
    try {
      return await d.verify(token);
    } catch {
      throw new HttpError(401, 'invalid or expired token');
    }
  }
  async function reviewer(ctx: RouteContext): Promise<Principal> {
    const p = await who(ctx);
    if (p.task || !p.groups.some((g) => d.reviewerGroups.includes(g))) throw new HttpError(403, 'only reviewers may do this');
    return p;
  }
  const guard =
    (fn: (ctx: RouteContext) => Promise<void>) =>
    async (ctx: RouteContext): Promise<void> => {
      try {
        await fn(ctx);
      } catch (err) {
        if (err instanceof TaskError) throw new HttpError(STATUS[err.code], err.message);
        throw err;
      }
    };
  const body = async (ctx: RouteContext) => {
    const b = await readJson(ctx.req);
    return (typeof b === 'object' && b !== null ? b : {}) as Record<string, unknown>;
  };

  return [
    {
      method: 'POST',
      path: '/api/tasks',
      handler: guard(async (ctx) => {
        const p = await who(ctx);
        const b = await body(ctx);
        const req: TaskRequest = {
          title: String(b.title ?? ''),
          ...(typeof b.ticket === 'string' ? { ticket: b.ticket } : {}),
          targets: Array.isArray(b.targets) ? b.targets.map(String) : [],
          scope: Array.isArray(b.scope) ? b.scope.map(String) : [],
          durationSeconds: Number(b.durationSeconds),
          ...(typeof b.budget === 'object' && b.budget !== null ? { budget: b.budget as TaskRequest['budget'] } : {}),
          ...(typeof b.reason === 'string' ? { reason: b.reason } : {}),
        };
        sendJson(ctx.res, 200, await d.tasks.open(p, req));
      }),
    },
    {
      method: 'GET',
      path: '/api/tasks',
      handler: guard(async (ctx) => {
        const p = await who(ctx);
        sendJson(ctx.res, 200, { tasks: await d.tasks.list(p, { all: ctx.url.searchParams.get('all') === '1' }) });
      }),
    },
    {
      method: 'GET',
      path: '/api/tasks/:id',
      handler: guard(async (ctx) => {
        const p = await who(ctx);
        const result = await d.tasks.status(p, ctx.params.id ?? '');
        const events = d.events ? await d.events(result.task.id).catch(() => []) : [];
        sendJson(ctx.res, 200, { ...result, sessions: d.sessions.list().filter((s) => s.taskId === result.task.id), events });
      }),
    },
    {
      method: 'POST',
      path: '/api/tasks/:id/close',
      handler: guard(async (ctx) => {
        const p = await who(ctx);
        if (p.task) throw new HttpError(403, 'a task token cannot close tasks; use your own access token');
        const b = await body(ctx);
        sendJson(ctx.res, 200, { task: await d.tasks.close(p, ctx.params.id ?? '', typeof b.reason === 'string' ? b.reason : 'closed') });
      }),
    },
    {
      method: 'GET',
      path: '/api/live-sessions',
      handler: guard(async (ctx) => {
        await reviewer(ctx);
        sendJson(ctx.res, 200, { sessions: d.sessions.list() });
      }),
    },
    {
      method: 'POST',
      path: '/api/sessions/kill',
      handler: guard(async (ctx) => {
        const p = await reviewer(ctx);
        const b = await body(ctx);
        if (typeof b.principal !== 'string' || b.principal === '') throw new HttpError(400, 'kill needs { principal }');
        const reason = typeof b.reason === 'string' && b.reason ? b.reason : `ended by ${p.id}`;
        sendJson(ctx.res, 200, { ended: await d.kill(b.principal, p.id, reason) });
      }),
    },
  ];
}
