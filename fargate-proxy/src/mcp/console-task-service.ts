// The TaskService port over the console's task API (`/api/tasks`, fargate-proxy/src/tasks/task-routes.ts),
// for `airlock mcp` (stdio), which runs outside the gateway. The console identifies the agent by the
// token it sends and decides everything; the `principal` argument of the port is not sent.
import { Agent, request, type Dispatcher } from 'undici';
import type { Principal } from '../../../core/model.js';
import { TaskError, type Task, type TaskErrorCode, type TaskOpenResult, type TaskRequest, type TaskService, type TaskStatusResult } from '../../../core/task/types.js';
import { pinnedTls, type TlsPin } from './endpoints.js';

const CODE_OF: Record<number, TaskErrorCode> = { 400: 'invalid_request', 401: 'forbidden', 403: 'forbidden', 404: 'not_found' };

export function consoleTaskService(o: { url: string; token: () => Promise<string>; tls?: TlsPin }): TaskService {
  const dispatcher: Dispatcher | undefined = o.tls ? new Agent({ connect: pinnedTls(o.tls) as Agent.Options['connect'] }) : undefined;
  async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    let res: Dispatcher.ResponseData;
    try {
      res = await request(`${o.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${await o.token()}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        dispatcher,
      });
    } catch (err) {
      throw new TaskError('unavailable', `the gateway's console is not reachable: ${(err as Error).message}`);
    }
    const text = await res.body.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (res.statusCode !== 200) {
      const message = (json as { error?: string } | undefined)?.error ?? `HTTP ${res.statusCode}`;
      throw new TaskError(CODE_OF[res.statusCode] ?? 'unavailable', message);
    }
    return json as T;
  }
  const unsupported = () => Promise.reject(new TaskError('unavailable', 'not offered over MCP: use `airlock task`'));
  return {
    open: (_p: Principal, req: TaskRequest) => call<TaskOpenResult>('POST', '/api/tasks', req),
    status: (_p: Principal, id: string) => call<TaskStatusResult>('GET', `/api/tasks/${encodeURIComponent(id)}`),
    close: (): Promise<Task> => unsupported(),
    list: (): Promise<Task[]> => unsupported(),
  };
}
