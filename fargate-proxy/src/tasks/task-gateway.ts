// Assembles tasks for one gateway process: the task key, the task service (policy + approvals),
// the live-session registry the engines register with, the verifier that accepts task tokens,
// the expiry clock, and the kill switch. gateway.ts calls startTasks once.
import type { Logger } from 'pino';
import type { ApprovalService } from '../../../core/approval/types.js';
import type { TargetInfo } from '../../../core/model.js';
import type { PolicyEngine } from '../../../core/policy/index.js';
import type { Refusal } from '../../../core/refusal.js';
import { MemoryTaskStore, createTaskService, type TaskStore } from '../../../core/task/service.js';
import type { TaskTokenKey } from '../../../core/task/token.js';
import type { TokenVerifierPort } from '../context.js';
import { LiveSessions } from './live-sessions.js';
import { withTaskTokens } from './task-verifier.js';

export interface TasksOptions {
  log: Logger;
  key: TaskTokenKey;
  policy(): PolicyEngine;
  approvals?: ApprovalService;
  targets: readonly TargetInfo[];
  reviewerGroups: readonly string[];
  verifier: TokenVerifierPort;
  store?: TaskStore;
  /** How often expiry is checked (default 1 s). */
  tickMs?: number;
}

export type RunningTasks = ReturnType<typeof startTasks>;

export function startTasks(o: TasksOptions) {
  const sessions = new LiveSessions();
  const store = o.store ?? new MemoryTaskStore();
  const service = createTaskService({
    store,
    key: o.key,
    approvals: o.approvals,
    authorize: (principal, target, facts) => o.policy().authorizeTaskOpen(principal, target, facts),
    target: (name) => o.targets.find((t) => t.name === name),
    adminGroups: o.reviewerGroups,
    onEnded: (task, code, reason) => {
      const refusal: Refusal = { code, message: `task ${task.id} ended: ${reason}`, next: { taskId: task.id } };
      const ended = sessions.endTask(task.id, refusal);
      if (ended.length) o.log.info({ task: task.id, sessions: ended, code }, 'task ended; its sessions were closed');
    },
    audit: (e) => o.log.info({ event: e.type, task: e.task.id, principal: e.task.principalId, by: e.by, reason: e.reason }, 'task'),
  });
  const timer = setInterval(() => {
    service.expireDue().catch((err: Error) => o.log.error({ err: err.message }, 'task expiry failed'));
  }, o.tickMs ?? 1000);
  timer.unref();

  const kill = async (principalId: string, by: string, reason: string): Promise<string[]> => {
    const ended = sessions.killPrincipal(principalId, { code: 'session_killed', message: `session ended by ${by}: ${reason}` });
    o.log.warn({ principal: principalId, by, reason, sessions: ended }, 'kill switch');
    return ended;
  };

  return {
    service,
    sessions,
    kill,
    verifier: withTaskTokens(o.verifier, o.key, (id) => service.get(id)),
    close: () => clearInterval(timer),
  };
}
