// `request_access` and `task_status`: the agent asks for access for one piece of work and follows
// the request. Both call the gateway's TaskService port (core/task/types.ts); policy and reviewers
// decide there, never here. The task token is handed to the agent only through the tools' `task`
// argument: the MCP server fetches it from the service per call, so it is never printed.
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Principal } from '../../../../core/model.js';
import { TaskError, type Task, type TaskRequest, type TaskService } from '../../../../core/task/types.js';
import { toolError } from '../refusals.js';

/** What an agent may see of a task (no token: tools take `task: <id>` instead). */
export function taskView(t: Task): Record<string, unknown> {
  return {
    id: t.id,
    title: t.title,
    ...(t.ticket && { ticket: t.ticket }),
    status: t.status,
    targets: t.targets,
    scope: t.scope.entries,
    budget: t.budget,
    usage: t.usage,
    ...(t.expiresAt !== undefined && { expiresAt: new Date(t.expiresAt).toISOString() }),
    ...(t.approvalId && { approvalId: t.approvalId }),
    ...(t.reviewUrl && { reviewUrl: t.reviewUrl }),
    ...(t.endReason && { endReason: t.endReason }),
  };
}

function taskFailure(err: unknown): CallToolResult {
  if (err instanceof TaskError) return toolError({ code: `task_${err.code}`, message: err.message });
  return toolError({ code: 'task_unavailable', message: `the task service failed: ${(err as Error).message}` });
}

const unavailable = () =>
  toolError({ code: 'task_unavailable', message: 'this MCP server has no task service (tasks are opened on the gateway: use the gateway\'s MCP endpoint or `airlock task open`)' });

export async function requestAccess(tasks: TaskService | undefined, principal: Principal | undefined, req: TaskRequest): Promise<CallToolResult> {
  if (!tasks || !principal) return unavailable();
  try {
    const r = await tasks.open(principal, req);
    const use = 'pass `task: "<id>"` to query, exec and http_request to act under this task';
    const body =
      r.state === 'granted'
        ? { state: 'granted', task: taskView(r.task), next: use.replace('<id>', r.task.id) }
        : r.state === 'pending'
          ? { state: 'pending', task: taskView(r.task), approvalId: r.approvalId, reviewUrl: r.reviewUrl, next: `a reviewer must decide; call task_status with id "${r.task.id}"` }
          : { state: 'denied', task: taskView(r.task), reason: r.reason };
    return { content: [{ type: 'text', text: JSON.stringify(body, null, 1) }], ...(r.state === 'denied' && { isError: true }) };
  } catch (err) {
    return taskFailure(err);
  }
}

export async function taskStatus(tasks: TaskService | undefined, principal: Principal | undefined, id: string): Promise<CallToolResult> {
  if (!tasks || !principal) return unavailable();
  try {
    const r = await tasks.status(principal, id);
    const view = taskView(r.task);
    // In a fleet every counter is counted fleet-wide; when the ledger could not be read none is shown (not 0).
    const src = r.usageSource;
    if (src?.source === 'fleet') view.usage = Object.fromEntries(src.fleetWide.map((c) => [c, r.task.usage[c]]));
    return { content: [{ type: 'text', text: JSON.stringify({ task: view, ...(src && { usageSource: src }), usable: Boolean(r.token) }, null, 1) }] };
  } catch (err) {
    return taskFailure(err);
  }
}

/** The token to act under a task: the owner's fresh task token, or a tool error saying why not. */
export async function taskToken(tasks: TaskService | undefined, principal: Principal | undefined, id: string): Promise<string | CallToolResult> {
  if (!tasks || !principal) return unavailable();
  try {
    const r = await tasks.status(principal, id);
    if (r.token) return r.token;
    const code = r.task.status === 'expired' || r.task.status === 'closed' ? 'task_expired' : r.task.status === 'denied' ? 'approval_denied' : 'approval_required';
    return toolError({ code, message: `task ${id} is ${r.task.status}${r.task.endReason ? `: ${r.task.endReason}` : ''}`, next: { taskId: id, approvalId: r.task.approvalId, reviewUrl: r.task.reviewUrl } });
  } catch (err) {
    return taskFailure(err);
  }
}
