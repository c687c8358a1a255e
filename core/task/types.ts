// The task vocabulary: an agent asks for access for one piece of work ("fix invoice #4312"); policy
// grants it at once or through a reviewer; the grant is a short-lived task token bound to the agent,
// bounded by scope, targets, time and budgets. Used by the CLI, the console, the MCP server
// (request_access, task_status) and the protocol engines. No I/O here.
import type { Principal } from '../model.js';

/**
 * What a task may do. Written as strings (`read`, `write`, `write:orders`, `write:public.orders`);
 * parsed into this form. Unqualified tables are `public.` tables; `write` alone means any table.
 */
export interface TaskScope {
  /** The entries as asked, normalised (`write:orders` → `write:public.orders`), sorted. */
  entries: string[];
  /** May read (`read`, or any `write…`: writing implies reading). */
  read: boolean;
  /** Tables it may write, canonical `schema.table`; `*` = any table (`write` alone). */
  writeTables: string[];
}

/** Limits of one task (or one agent). Absent = unlimited. Counted by the gateway, not estimated. */
export interface TaskBudget {
  /** SQL statements run. */
  statements?: number;
  /** Rows returned to the agent (DataRow messages). */
  rowsReturned?: number;
  /** Rows inserted/updated/deleted/merged, from the server's command tags; over it the statement is rolled back. */
  rowsAffected?: number;
  /** Response bytes relayed to the agent. */
  bytesRead?: number;
  /** SSH commands run. */
  commands?: number;
  /** HTTP requests per rolling minute. */
  requestsPerMinute?: number;
  /** Sessions open at once with this task's token. */
  concurrentSessions?: number;
}
export type BudgetName = keyof TaskBudget;
export const BUDGET_NAMES: readonly BudgetName[] = [
  'statements', 'rowsReturned', 'rowsAffected', 'bytesRead', 'commands', 'requestsPerMinute', 'concurrentSessions',
];

/** What a task has used so far (the cumulative counters of TaskBudget; rates and concurrency are live figures). */
export interface TaskUsage {
  statements: number;
  rowsReturned: number;
  rowsAffected: number;
  bytesRead: number;
  commands: number;
  requests: number;
  refusals: number;
  approvals: number;
  sessions: number;
}

export type TaskStatus = 'pending' | 'active' | 'denied' | 'expired' | 'closed';

export interface Task {
  id: string;
  title: string;
  ticket?: string;
  /** The agent the task belongs to (Principal.id) and its issuer: the task token works for this agent only. */
  principalId: string;
  issuer: string;
  /** The agent's groups and client when it opened the task: the task token carries them. */
  groups?: string[];
  clientId?: string;
  /** Why the agent asked, shown to reviewers. */
  reason?: string;
  /** Target names the task may open. */
  targets: string[];
  scope: TaskScope;
  budget: TaskBudget;
  status: TaskStatus;
  /** Milliseconds since epoch. */
  createdAt: number;
  /** Asked duration; the clock starts when the task is granted. */
  durationSeconds: number;
  /** Set once granted. */
  grantedAt?: number;
  expiresAt?: number;
  /** The approval that decides a task needing a reviewer. */
  approvalId?: string;
  reviewUrl?: string;
  /** Who granted (reviewer id, or `policy` when granted at once). */
  grantedBy?: string;
  /** Why it is no longer active (closed, denied, expired). */
  endReason?: string;
  endedBy?: string;
  endedAt?: number;
  usage: TaskUsage;
}

/** What an agent asks for (CLI `airlock task open`, console, MCP `request_access`). */
export interface TaskRequest {
  title: string;
  ticket?: string;
  targets: string[];
  /** Scope strings: `read`, `write`, `write:orders`. */
  scope: string[];
  durationSeconds: number;
  budget?: TaskBudget;
  /** Why the agent needs it, shown to reviewers. */
  reason?: string;
}

export type TaskOpenResult =
  /** Granted at once: use `token` as the password / bearer instead of the plain access token. */
  | { state: 'granted'; task: Task; token: string }
  /** A reviewer must decide; poll `status` (the token comes with the grant). */
  | { state: 'pending'; task: Task; approvalId: string; reviewUrl: string }
  /** Policy refused the task outright. */
  | { state: 'denied'; task: Task; reason: string };

/** `status` of the owner's task: once active, a fresh token for it (same expiry as the task). */
export interface TaskStatusResult {
  task: Task;
  token?: string;
  /** Where `task.usage` was counted (set by the gateway). */
  usageSource?: TaskUsageSource;
}

/** Every counter of TaskUsage: in a fleet each is counted fleet-wide (core/task/lease.ts `fleetUsageKey`). */
export const USAGE_COUNTERS: readonly (keyof TaskUsage)[] = ['statements', 'rowsReturned', 'rowsAffected', 'bytesRead', 'commands', 'requests', 'refusals', 'approvals', 'sessions'];

/** Where a task's usage figures come from (`airlock task show`, the console, MCP `task_status`). */
export type TaskUsageSource =
  /** One gateway: every session of the task ran in this process and was counted here. */
  | { source: 'gateway' }
  /**
   * A fleet: the counters in `fleetWide` (every counter) are read from the fleet's shared ledger,
   * where each proxy task adds what its sessions did at every poll: exact, at most `pollSeconds`
   * behind (a proxy task that crashes loses at most its last interval). `notCounted` is always
   * empty (kept so the JSON keeps its shape). With `error`, nothing could be read.
   */
  | { source: 'fleet'; fleetWide: (keyof TaskUsage)[]; notCounted: (keyof TaskUsage)[]; pollSeconds?: number; error?: string };

export type TaskErrorCode = 'invalid_request' | 'not_found' | 'forbidden' | 'unavailable';

/** Why a task operation failed (not a refusal of a data-path action: see core/refusal.ts for those). */
export class TaskError extends Error {
  constructor(
    readonly code: TaskErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'TaskError';
  }
}

/**
 * The port the CLI, console and MCP server call. Only a task's owner sees or closes it, except
 * principals allowed to administer tasks (reviewers), who may close any task.
 * Rejects with TaskError.
 */
export interface TaskService {
  open(principal: Principal, request: TaskRequest): Promise<TaskOpenResult>;
  status(principal: Principal, id: string): Promise<TaskStatusResult>;
  close(principal: Principal, id: string, reason: string): Promise<Task>;
  list(principal: Principal, filter?: { status?: TaskStatus; all?: boolean }): Promise<Task[]>;
}

/** What Cedar sees as `context.task` for an action done with a task token. */
export interface TaskPolicyContext {
  id: string;
  scope: string[];
  read: boolean;
  writeTables: string[];
  targets: string[];
  /** Seconds since epoch. */
  expiresAt: number;
  /** Budget left; -1 = unlimited. */
  remaining: { statements: number; rowsReturned: number; rowsAffected: number; bytesRead: number; commands: number };
}
