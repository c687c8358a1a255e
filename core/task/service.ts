// The task service: open (policy decides: granted at once, a reviewer through the approval
// machinery, or denied), status (with a fresh token once active), close, list; expiry. Storage,
// approvals, policy and signing are ports; what ending a task does to live sessions is the
// caller's `onEnded` (the gateway ends them with the refusal code). No I/O of its own.
import { randomBytes } from 'node:crypto';
import type { ApprovalService } from '../approval/types.js';
import type { Decision, Principal, TargetInfo } from '../model.js';
import { emptyUsage, parseBudget, remaining } from './budget.js';
import { parseScope } from './scope.js';
import { signTaskToken, type TaskTokenKey } from './token.js';
import {
  TaskError,
  type Task,
  type TaskOpenResult,
  type TaskPolicyContext,
  type TaskRequest,
  type TaskService,
  type TaskStatus,
  type TaskStatusResult,
} from './types.js';

export const MAX_TASK_SECONDS = 24 * 3600;
const MAX_TITLE = 200;

/** Where tasks live (in-process locally; a shared table in AWS). `put` replaces. */
export interface TaskStore {
  get(id: string): Promise<Task | undefined>;
  put(task: Task): Promise<void>;
  list(): Promise<Task[]>;
  /**
   * Writes `task` only while the stored record's status is one of `from` (atomic: a conditional
   * write in a shared table); false when someone else moved it first. Ending a task goes through
   * here, so when several gateway processes end it at the same moment (its expiry noticed by each,
   * a close racing the clock) one wins and only the winner records the event.
   */
  transition(task: Task, from: readonly TaskStatus[]): Promise<boolean>;
}

export interface TaskOpenFacts {
  scope: string[];
  write: boolean;
  writeTables: string[];
  durationSeconds: number;
}

export interface TaskServiceDeps {
  store: TaskStore;
  key: TaskTokenKey;
  approvals?: ApprovalService;
  /** Policy's `task_open` decision for one target. */
  authorize(principal: Principal, target: TargetInfo, facts: TaskOpenFacts): Decision;
  target(name: string): TargetInfo | undefined;
  /** Groups allowed to close anyone's task (the reviewer groups). */
  adminGroups: readonly string[];
  /** A task became inactive (closed, expired, denied): end what runs under it; the ids of the sessions ended here. */
  onEnded?(task: Task, code: 'task_expired' | 'session_killed', reason: string): string[] | void;
  /** Audit of task lifecycle events (opened, granted, denied, closed, expired); `sessions`: ended here by it. */
  audit?(event: { type: string; task: Task; by?: string; reason?: string; sessions?: string[] }): void;
  now?: () => number;
}

export function newTaskId(): string {
  return `t_${randomBytes(9).toString('base64url')}`;
}

/** The live task's facts for Cedar (`context.task`). */
export function taskPolicyContext(task: Task): TaskPolicyContext {
  const left = (n: Parameters<typeof remaining>[2]) => remaining(task.budget, task.usage, n);
  return {
    id: task.id,
    scope: task.scope.entries,
    read: task.scope.read,
    writeTables: task.scope.writeTables,
    targets: task.targets,
    expiresAt: Math.floor((task.expiresAt ?? 0) / 1000),
    remaining: { statements: left('statements'), rowsReturned: left('rowsReturned'), rowsAffected: left('rowsAffected'), bytesRead: left('bytesRead'), commands: left('commands') },
  };
}

/** Whether a task token may be used now. */
export function taskUsable(task: Task, now = Date.now()): { ok: true } | { ok: false; code: 'task_expired'; reason: string } {
  if (task.status === 'active' && task.expiresAt !== undefined && task.expiresAt > now) return { ok: true };
  const why = task.status === 'active' ? 'its time is up' : `it is ${task.status}${task.endReason ? ` (${task.endReason})` : ''}`;
  return { ok: false, code: 'task_expired', reason: `task ${task.id} is no longer active: ${why}` };
}

function validate(req: TaskRequest): void {
  if (typeof req.title !== 'string' || req.title.trim() === '' || req.title.length > MAX_TITLE) throw new TaskError('invalid_request', `a task needs a title of 1–${MAX_TITLE} characters`);
  if (!Array.isArray(req.targets) || req.targets.length === 0) throw new TaskError('invalid_request', 'a task needs at least one target');
  if (!Number.isSafeInteger(req.durationSeconds) || req.durationSeconds <= 0 || req.durationSeconds > MAX_TASK_SECONDS) {
    throw new TaskError('invalid_request', `a task lasts between 1 second and ${MAX_TASK_SECONDS / 3600} hours`);
  }
}

export function createTaskService(deps: TaskServiceDeps): TaskService & {
  /** Ends every active task whose time is up; the gateway calls it on a timer. */
  expireDue(): Promise<Task[]>;
  expireIfDue(id: string): Promise<Task | undefined>;
  get(id: string): Promise<Task | undefined>;
} {
  const now = deps.now ?? (() => Date.now());
  const isAdmin = (p: Principal) => p.groups.some((g) => deps.adminGroups.includes(g));

  async function token(task: Task): Promise<string> {
    return signTaskToken(deps.key, { taskId: task.id, principal: { id: task.principalId, groups: task.groups ?? [], issuer: task.issuer, clientId: task.clientId }, expiresAt: Math.floor(task.expiresAt! / 1000) }, now());
  }

  async function grant(task: Task, by: string): Promise<Task> {
    const at = now();
    const granted: Task = { ...task, status: 'active', grantedAt: at, expiresAt: at + task.durationSeconds * 1000, grantedBy: by };
    // A task closed while it waited for its reviewer stays closed.
    if (!(await deps.store.transition(granted, ['pending']))) return (await deps.store.get(task.id)) ?? task;
    Object.assign(task, granted);
    deps.audit?.({ type: 'task.granted', task, by });
    return task;
  }

  /** Where each ending may come from: a task ends once, whoever notices first. */
  const ENDS_FROM: Record<'denied' | 'expired' | 'closed', readonly TaskStatus[]> = { denied: ['pending'], expired: ['active'], closed: ['pending', 'active'] };

  async function end(task: Task, status: 'denied' | 'expired' | 'closed', by: string, reason: string, code: 'task_expired' | 'session_killed'): Promise<Task> {
    const ended: Task = { ...task, status, endedAt: now(), endedBy: by, endReason: reason };
    if (!(await deps.store.transition(ended, ENDS_FROM[status]))) {
      // Another process (or call) ended it first and recorded it; what runs here still ends.
      const current = (await deps.store.get(task.id)) ?? task;
      if (current.status !== 'active' && current.status !== 'pending') deps.onEnded?.(current, code, current.endReason ?? reason);
      return current;
    }
    Object.assign(task, ended);
    const sessions = deps.onEnded?.(task, code, reason) ?? undefined;
    deps.audit?.({ type: `task.${status}`, task, by, reason, ...(sessions ? { sessions } : {}) });
    return task;
  }

  async function owned(principal: Principal, id: string): Promise<Task> {
    const task = await deps.store.get(id);
    if (!task) throw new TaskError('not_found', `no task ${id}`);
    const mine = task.principalId === principal.id && task.issuer === principal.issuer;
    if (!mine && !isAdmin(principal)) throw new TaskError('forbidden', `task ${id} belongs to another agent`);
    return task;
  }

  async function waitForReviewer(task: Task, outcome: Promise<import('../approval/types.js').ApprovalOutcome>): Promise<void> {
    const o: import('../approval/types.js').ApprovalOutcome = await outcome.catch((err: Error) => ({ state: 'expired' as const, reason: `approval failed: ${err.message}` }));
    const current = await deps.store.get(task.id);
    if (!current || current.status !== 'pending') return;
    if (o.state === 'approved') {
      await grant(current, o.reviewer);
      return;
    }
    await end(current, 'denied', o.reviewer ?? 'approval', `${o.state}: ${o.reason}`, 'task_expired');
  }

  const service = {
    async open(principal: Principal, req: TaskRequest): Promise<TaskOpenResult> {
      validate(req);
      if (principal.task) throw new TaskError('forbidden', 'a task token cannot open tasks; use your own access token');
      let scope;
      let budget;
      try {
        scope = parseScope(req.scope);
        budget = parseBudget(req.budget as Record<string, unknown> | undefined);
      } catch (err) {
        throw new TaskError('invalid_request', (err as Error).message);
      }
      const targets = [...new Set(req.targets)];
      const infos = targets.map((name) => {
        const info = deps.target(name);
        if (!info) throw new TaskError('invalid_request', `no target "${name}"`);
        return info;
      });
      const task: Task = {
        id: newTaskId(),
        title: req.title.trim(),
        ...(req.ticket ? { ticket: req.ticket } : {}),
        principalId: principal.id,
        issuer: principal.issuer,
        groups: [...principal.groups],
        ...(principal.clientId !== undefined ? { clientId: principal.clientId } : {}),
        targets,
        scope,
        budget,
        status: 'pending',
        createdAt: now(),
        durationSeconds: req.durationSeconds,
        usage: emptyUsage(),
        ...(req.reason ? { reason: req.reason } : {}),
      };
      const facts: TaskOpenFacts = { scope: scope.entries, write: scope.writeTables.length > 0, writeTables: scope.writeTables, durationSeconds: req.durationSeconds };
      const decisions = infos.map((info) => deps.authorize(principal, info, facts));
      const denied = decisions.find((d) => d.effect === 'deny');
      await deps.store.put(task);
      deps.audit?.({ type: 'task.opened', task, by: principal.id });
      if (denied) {
        await end(task, 'denied', 'policy', denied.reason, 'task_expired');
        return { state: 'denied', task, reason: denied.reason };
      }
      const needsReviewer = decisions.find((d) => d.effect === 'approve');
      if (!needsReviewer) {
        await grant(task, 'policy');
        return { state: 'granted', task, token: await token(task) };
      }
      if (!deps.approvals) {
        const reason = 'this task needs a reviewer and no approval service is configured';
        await end(task, 'denied', 'policy', reason, 'task_expired');
        return { state: 'denied', task, reason };
      }
      const pending = await deps.approvals.request({
        requester: principal,
        target: infos[0]!,
        sessionId: `task:${task.id}`,
        statementId: task.id,
        statementText: describeTask(task),
        statementClass: facts.write ? 'write' : 'read',
        policyIds: needsReviewer.policyIds,
        // Unique per task: a standing grant for another task's request must not grant this one.
        shape: `task:${task.id}`,
        agentReason: req.reason ?? req.title,
      });
      task.approvalId = pending.id;
      task.reviewUrl = pending.reviewUrl;
      await deps.store.put(task);
      void waitForReviewer(task, pending.outcome);
      return { state: 'pending', task, approvalId: pending.id, reviewUrl: pending.reviewUrl };
    },

    async status(principal: Principal, id: string): Promise<TaskStatusResult> {
      let task = await owned(principal, id);
      if (task.status === 'active' && !taskUsable(task, now()).ok) task = await end(task, 'expired', 'clock', 'its time is up', 'task_expired');
      const mine = task.principalId === principal.id && task.issuer === principal.issuer;
      return task.status === 'active' && mine && !principal.task ? { task, token: await token(task) } : { task };
    },

    async close(principal: Principal, id: string, reason: string): Promise<Task> {
      const task = await owned(principal, id);
      if (task.status !== 'active' && task.status !== 'pending') return task;
      // Closing a task whose time is already up records what happened: it expired.
      if (task.status === 'active' && !taskUsable(task, now()).ok) return end(task, 'expired', 'clock', 'its time is up', 'task_expired');
      return end(task, 'closed', principal.id, reason || 'closed', 'task_expired');
    },

    async list(principal: Principal, filter: { status?: TaskStatus; all?: boolean } = {}): Promise<Task[]> {
      const all = await deps.store.list();
      const visible = filter.all && isAdmin(principal) ? all : all.filter((t) => t.principalId === principal.id && t.issuer === principal.issuer);
      return visible.filter((t) => !filter.status || t.status === filter.status).sort((a, b) => b.createdAt - a.createdAt);
    },

    async expireDue(): Promise<Task[]> {
      const t = now();
      const due = (await deps.store.list()).filter((x) => x.status === 'active' && (x.expiresAt ?? 0) <= t);
      return Promise.all(due.map((x) => end(x, 'expired', 'clock', 'its time is up', 'task_expired')));
    },

    /**
     * Ends the task if its time is up and it is still active (a fleet's poll, for tasks with sessions
     * here): exactly one process records `expired`; the task as it now stands.
     */
    async expireIfDue(id: string): Promise<Task | undefined> {
      const task = await deps.store.get(id);
      if (!task || task.status !== 'active' || taskUsable(task, now()).ok) return task;
      return end(task, 'expired', 'clock', 'its time is up', 'task_expired');
    },

    get: (id: string) => deps.store.get(id),
  };
  return service;
}

/** What reviewers see of a task request. */
export function describeTask(task: Task): string {
  const budget = Object.entries(task.budget).map(([k, v]) => `${k}=${v}`).join(' ');
  return [
    `task: ${task.title}${task.ticket ? ` [${task.ticket}]` : ''}`,
    `targets: ${task.targets.join(', ')}`,
    `scope: ${task.scope.entries.join(', ')}`,
    `for: ${Math.round(task.durationSeconds / 60)} min${budget ? `; budget: ${budget}` : ''}`,
  ].join('\n');
}

/** In-process store (local gateway). */
export class MemoryTaskStore implements TaskStore {
  readonly #tasks = new Map<string, Task>();
  async get(id: string) {
    return this.#tasks.get(id);
  }
  async put(task: Task) {
    this.#tasks.set(task.id, task);
  }
  async list() {
    return [...this.#tasks.values()];
  }
  async transition(task: Task, from: readonly TaskStatus[]) {
    const stored = this.#tasks.get(task.id);
    if (!stored || !from.includes(stored.status)) return false;
    // The live record is shared by every session of this process: it changes in place.
    Object.assign(stored, task);
    return true;
  }
}
