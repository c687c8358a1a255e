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
import { taskUsable } from '../../../core/task/service.js';
import type { KillOrders } from '../adapters/aws/task-dynamo-store.js';
import type { AuditSink } from '../../../core/audit/ports.js';
import { BudgetMeter, type AgentBudgetRule } from '../../../core/task/meter.js';
import { TaskAuditTrail, type TaskEventName } from './task-audit.js';
import { fleetUsageKey, type BudgetLedger } from '../../../core/task/lease.js';
import { USAGE_COUNTERS, type TaskService, type TaskStatusResult } from '../../../core/task/types.js';
import type { SlotLedger } from '../../../core/task/slots.js';
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';

/** Kill orders are read back this far before the last poll: clocks of the fleet's tasks differ a little. */
const KILL_SKEW_MS = 5000;

export interface TasksOptions {
  log: Logger;
  key: TaskTokenKey;
  policy(): PolicyEngine;
  approvals?: ApprovalService;
  targets: readonly TargetInfo[];
  reviewerGroups: readonly string[];
  verifier: TokenVerifierPort;
  store?: TaskStore;
  /** How often expiry is checked in one gateway (default 1 s); a fleet sweeps every `fleet.sweepMs`. */
  tickMs?: number;
  /**
   * The fleet's shared store (AWS: the approvals table, adapters/aws/task-dynamo-store.ts): tasks
   * ended and kill orders given through any proxy task reach this one's sessions at the next poll.
   * `ledger`: statements, commands and request rates of tasks and agents are counted fleet-wide, by
   * leased batches, and what each task did is added to it at every poll; `slots`: their concurrent sessions, exactly. Each poll heartbeats this process's
   * slots; a process silent for `staleMs` (default three polls) is taken for dead and its slots reclaimed.
   */
  fleet?: {
    kills: KillOrders;
    pollMs: number;
    ledger?: BudgetLedger;
    slots?: SlotLedger;
    staleMs?: number;
    /**
     * How often this proxy task sweeps the table for tasks whose time is up and that have no
     * session here (default 60 s): one scan, never per second. Tasks with sessions here expire at
     * the poll, within `pollMs`.
     */
    sweepMs?: number;
  };
  /** Task lifecycle events (opened, granted, denied, closed, expired, killed) go into the audit trail here. */
  audit?: AuditSink;
  /** Budgets per agent (config `tasks.agentBudgets`), counted per `agentBudgetWindowSeconds`. */
  agentBudgets?: readonly AgentBudgetRule[];
  agentBudgetWindowSeconds?: number;
}

export type RunningTasks = ReturnType<typeof startTasks>;

export function startTasks(o: TasksOptions) {
  const meter = new BudgetMeter({ rules: o.agentBudgets, windowSeconds: o.agentBudgetWindowSeconds, ratesInFleet: o.fleet?.ledger !== undefined });
  const slots = o.fleet?.slots && {
    ledger: o.fleet.slots,
    // This process's name in the shared counts: a restarted process is a new holder.
    holder: `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`,
    staleMs: o.fleet.staleMs ?? 3 * o.fleet.pollMs,
  };
  const sessions = new LiveSessions(meter, o.fleet?.ledger, (err) => o.log.error({ err: err.message }, 'the fleet budget ledger failed (budgets fail closed)'), slots);
  const store = o.store ?? new MemoryTaskStore();
  const trail = o.audit && new TaskAuditTrail(o.audit, o.log, (name) => o.targets.find((t) => t.name === name)?.kind);
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
      meter.forgetTask(task.id);
      if (ended.length) o.log.info({ task: task.id, sessions: ended, code }, 'task ended; its sessions were closed');
      return ended;
    },
    audit: (e) => {
      o.log.info({ event: e.type, task: e.task.id, principal: e.task.principalId, by: e.by, reason: e.reason, sessions: e.sessions }, 'task');
      void trail?.record(e.type.replace(/^task\./, '') as TaskEventName, e.task, { by: e.by, reason: e.reason, ...(e.sessions?.length ? { sessions: e.sessions } : {}) });
    },
  });
  // One gateway checks expiry every second in memory. In a fleet the poll below expires the tasks
  // that have sessions here (one read per such task), and a slow sweep of the table catches tasks
  // with no session anywhere, so their `expired` event is written without anyone asking. Whoever
  // ends a task first wins a conditional write; only the winner records it (exactly once).
  const timer = setInterval(
    () => {
      service.expireDue().catch((err: Error) => o.log.error({ err: err.message }, 'task expiry failed'));
    },
    o.fleet ? (o.fleet.sweepMs ?? 60_000) : (o.tickMs ?? 1000),
  );
  timer.unref();

  const killLocal = (principalId: string, by: string, reason: string): string[] => {
    const live = sessions.list().filter((s) => s.principal === principalId);
    const ended = sessions.killPrincipal(principalId, { code: 'session_killed', message: `session ended by ${by}: ${reason}` });
    o.log.warn({ principal: principalId, by, reason, sessions: ended }, 'kill switch');
    // Every active task of the principal hears of it in its own log, with the sessions it lost here.
    if (trail) {
      void store
        .list()
        .then((tasks) => {
          for (const t of tasks.filter((x) => x.principalId === principalId && x.status === 'active')) {
            void trail.record('killed', t, { by, reason, sessions: live.filter((s) => s.taskId === t.id).map((s) => s.sessionId) });
          }
        })
        .catch((err: Error) => o.log.error({ err: err.message }, 'listing tasks for the kill switch audit failed'));
    }
    return ended;
  };
  const kill = async (principalId: string, by: string, reason: string): Promise<string[]> => {
    const at = Date.now();
    if (o.fleet) seenKills.add(`${principalId}#${at}`);
    let unshared: unknown;
    try {
      await o.fleet?.kills.publish({ principalId, by, reason, at });
    } catch (err) {
      unshared = err;
    }
    // This task's sessions end whatever happened to the fleet's copy; the caller hears if it failed.
    const ended = killLocal(principalId, by, reason);
    if (unshared) throw new Error(`ended ${ended.length} session(s) here, but the kill order could not reach the fleet: ${(unshared as Error).message}`);
    return ended;
  };
  const seenKills = new Set<string>();
  let killsReadAt = Date.now();

  /** One poll of the fleet's store: tasks ended elsewhere, kill orders given elsewhere; what tasks did here goes out. */
  const pollFleet = async (): Promise<void> => {
    const fleet = o.fleet;
    if (!fleet) return;
    try {
      await pollStore(fleet);
    } finally {
      // Last: the sessions this poll ended are counted now, not one poll later.
      await sessions.flushUsage().catch((err: Error) => o.log.error({ err: err.message }, 'adding task usage to the fleet ledger failed'));
    }
  };
  const pollStore = async (fleet: NonNullable<TasksOptions['fleet']>): Promise<void> => {
    // First: a late heartbeat lets the fleet take this process's sessions for dead.
    await sessions.heartbeat().catch((err: Error) => o.log.error({ err: err.message }, 'heartbeating the fleet\'s concurrent-session counts failed'));
    const ids = new Set(sessions.list().flatMap((s) => (s.taskId ? [s.taskId] : [])));
    for (const id of ids) {
      // A task whose time is up is ended here (once fleet-wide: see expireIfDue), its event recorded.
      const task = await service.expireIfDue(id);
      if (task && taskUsable(task).ok) continue;
      sessions.endTask(id, { code: 'task_expired', message: `task ${id} ended: ${task?.endReason ?? 'it no longer exists'}`, next: { taskId: id } });
    }
    const readAt = Date.now();
    for (const order of await fleet.kills.since(killsReadAt - KILL_SKEW_MS)) {
      const key = `${order.principalId}#${order.at}`;
      if (seenKills.has(key)) continue;
      seenKills.add(key);
      killLocal(order.principalId, order.by, order.reason);
    }
    killsReadAt = readAt;
  };
  const fleetTimer =
    o.fleet &&
    setInterval(() => {
      pollFleet().catch((err: Error) => o.log.error({ err: err.message }, 'polling the fleet store for ended tasks and kill orders failed'));
    }, o.fleet.pollMs);
  fleetTimer && fleetTimer.unref();

  /** The task's usage as the fleet counted it (every counter), where there is a fleet ledger; the source named either way. */
  const withUsage = async (r: TaskStatusResult): Promise<TaskStatusResult> => {
    const ledger = o.fleet?.ledger;
    if (!ledger) return { ...r, usageSource: { source: 'gateway' } };
    const t = r.task;
    const pollSeconds = o.fleet!.pollMs / 1000;
    try {
      const used = await Promise.all(USAGE_COUNTERS.map((c) => ledger.used(fleetUsageKey(t.id, c))));
      const usage = { ...t.usage };
      USAGE_COUNTERS.forEach((c, i) => (usage[c] = used[i]!));
      return { ...r, task: { ...t, usage }, usageSource: { source: 'fleet', fleetWide: [...USAGE_COUNTERS], notCounted: [], pollSeconds } };
    } catch (err) {
      o.log.error({ err: (err as Error).message, task: t.id }, 'reading the fleet ledger for a task\'s usage failed');
      return { ...r, usageSource: { source: 'fleet', fleetWide: [], notCounted: [], pollSeconds, error: 'the fleet ledger could not be read' } };
    }
  };
  const visible: TaskService & Omit<typeof service, 'status'> = { ...service, status: async (p, id) => withUsage(await service.status(p, id)) };

  return {
    service: visible,
    sessions,
    kill,
    verifier: withTaskTokens(o.verifier, o.key, (id) => service.get(id)),
    pollFleet,
    close: () => {
      clearInterval(timer);
      if (fleetTimer) clearInterval(fleetTimer);
      // Best effort: on a crash the leases held are lost (the fleet under-spends, never over-spends),
      // and what tasks did here since the last poll is not counted.
      return sessions.releaseAll();
    },
  };
}
