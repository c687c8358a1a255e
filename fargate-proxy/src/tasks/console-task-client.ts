// The TaskService port over a running gateway's console API, for callers outside the gateway
// process (`airlock mcp` over stdio beside the CLI). The access token sent identifies the caller:
// the `principal` argument is ignored here, the gateway verifies who it is.
import type { Principal } from '../../../core/model.js';
import { TaskError, type Task, type TaskOpenResult, type TaskRequest, type TaskService, type TaskStatus, type TaskStatusResult } from '../../../core/task/types.js';

const CODE_OF: Record<number, TaskError['code']> = { 400: 'invalid_request', 401: 'forbidden', 403: 'forbidden', 404: 'not_found' };

export function consoleTaskService(baseUrl: string, accessToken: () => string | Promise<string>, fetchImpl: typeof fetch = fetch): TaskService {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${await accessToken()}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetchImpl(new URL(path, base), { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(15_000) });
    } catch (err) {
      throw new TaskError('unavailable', `cannot reach the gateway's console at ${baseUrl}: ${(err as Error).message}`);
    }
    const parsed = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (!res.ok) throw new TaskError(CODE_OF[res.status] ?? 'unavailable', typeof parsed.error === 'string' ? parsed.error : res.statusText);
    return parsed as T;
  }
  return {
    open: (_p: Principal, request: TaskRequest) => call<TaskOpenResult>('POST', 'api/tasks', request),
    status: (_p: Principal, id: string) => call<TaskStatusResult>('GET', `api/tasks/${encodeURIComponent(id)}`),
    close: async (_p: Principal, id: string, reason: string) => (await call<{ task: Task }>('POST', `api/tasks/${encodeURIComponent(id)}/close`, { reason })).task,
    list: async (_p: Principal, filter: { status?: TaskStatus; all?: boolean } = {}) => {
      const { tasks } = await call<{ tasks: Task[] }>('GET', `api/tasks${filter.all ? '?all=1' : ''}`);
      return filter.status ? tasks.filter((t) => t.status === filter.status) : tasks;
    },
  };
}
