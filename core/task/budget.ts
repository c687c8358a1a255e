// Budgets: what a task (or an agent) may still spend. The gateway counts; nothing here is estimated.
import type { Principal } from '../model.js';
import { BUDGET_NAMES, type BudgetName, type TaskBudget, type TaskUsage } from './types.js';

export function emptyUsage(): TaskUsage {
  return { statements: 0, rowsReturned: 0, rowsAffected: 0, bytesRead: 0, commands: 0, requests: 0, refusals: 0, approvals: 0, sessions: 0 };
}

/** Validates a budget from the CLI, console or MCP: positive integers only; throws naming the key. */
export function parseBudget(input: Record<string, unknown> | undefined): TaskBudget {
  const out: TaskBudget = {};
  for (const [k, v] of Object.entries(input ?? {})) {
    if (v === undefined || v === null) continue;
    if (!(BUDGET_NAMES as readonly string[]).includes(k)) throw new Error(`unknown budget "${k}" (one of ${BUDGET_NAMES.join(', ')})`);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new Error(`budget "${k}" must be a whole number ≥ 0`);
    out[k as BudgetName] = v;
  }
  return out;
}

const USAGE_OF: Partial<Record<BudgetName, keyof TaskUsage>> = {
  statements: 'statements',
  rowsReturned: 'rowsReturned',
  rowsAffected: 'rowsAffected',
  bytesRead: 'bytesRead',
  commands: 'commands',
};

/** What is left of a cumulative budget; -1 = unlimited. */
export function remaining(budget: TaskBudget, usage: TaskUsage, name: BudgetName): number {
  const limit = budget[name];
  const used = USAGE_OF[name];
  if (limit === undefined || used === undefined) return -1;
  return Math.max(0, limit - usage[used]);
}

/** The first cumulative budget that `extra` more of `name` would overrun, or undefined. */
export function wouldExceed(budget: TaskBudget, usage: TaskUsage, name: BudgetName, extra: number): boolean {
  const left = remaining(budget, usage, name);
  return left !== -1 && extra > left;
}

/** Budget figures as `used/limit` for `airlock task show`. */
export function describeBudget(budget: TaskBudget, usage: TaskUsage): string[] {
  return BUDGET_NAMES.filter((n) => budget[n] !== undefined).map((n) => {
    const used = USAGE_OF[n];
    return used ? `${n}: ${usage[used]}/${budget[n]}` : `${n}: ${budget[n]}`;
  });
}

/** A reviewer approved one of the task's statements, commands or requests (what `task show` calls approvals). */
export function countApproval(p: Principal): void {
  if (p.task) p.task.usage.approvals++;
}

/** Policy or a reviewer refused one of the task's statements, commands or requests (budgets count their own). */
export function countRefusal(p: Principal): void {
  if (p.task) p.task.usage.refusals++;
}
