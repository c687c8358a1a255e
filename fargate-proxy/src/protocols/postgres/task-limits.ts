// A task's limits on a PostgreSQL session (issue 32): checked before statements run, and counted
// from the server's command tags as they are answered.
import type { Refusal } from '../../../../core/refusal.js';
import { remaining, wouldExceed } from '../../../../core/task/budget.js';
import { taskUsable } from '../../../../core/task/service.js';
import type { Task } from '../../../../core/task/types.js';
import type { TransactionStatus } from './backend.js';
import { Refused, statementRefusal } from './refusal.js';
import { countableDml, uncountableWrite } from './rows-affected-guard.js';
import type { Decided } from './statement-decisions.js';

/** Where the statements being decided stand in the session's run of messages. */
export interface RunFacts {
  txStatus: TransactionStatus;
  /** The run ends with Sync (a Query always does). */
  endsWithSync: boolean;
  /** Earlier messages of this extended-protocol run already went upstream. */
  forwardedSinceSync: boolean;
}

/**
 * A task's limits before statements run: still active, statements left, rows returned and bytes
 * read not spent, and writes the server's count can measure when rows affected are limited. Passing
 * counts the statements; `guardRows` is then the rows the one write may affect (the guard runs it
 * under a savepoint).
 */
export function checkTaskBudget(task: Task | undefined, decided: Decided[], run: RunFacts): { refused?: Refused; guardRows?: number } {
  if (!task || decided.length === 0) return {};
  const refuse = (r: Refusal) => {
    task.usage.refusals++;
    return { refused: new Refused(statementRefusal(r)) };
  };
  const usable = taskUsable(task);
  if (!usable.ok) return refuse({ code: 'task_expired', message: usable.reason, next: { taskId: task.id } });
  const spent = (budget: 'statements' | 'rowsReturned' | 'bytesRead' | 'rowsAffected', message: string) =>
    refuse({ code: 'budget_exceeded', message, next: { taskId: task.id, budget } });
  if (wouldExceed(task.budget, task.usage, 'statements', decided.length)) return spent('statements', `task ${task.id} may run ${task.budget.statements} statements and has run ${task.usage.statements}`);
  if (remaining(task.budget, task.usage, 'rowsReturned') === 0) return spent('rowsReturned', `task ${task.id} has returned all ${task.budget.rowsReturned} rows it may`);
  if (remaining(task.budget, task.usage, 'bytesRead') === 0) return spent('bytesRead', `task ${task.id} has read all ${task.budget.bytesRead} bytes it may`);
  const left = remaining(task.budget, task.usage, 'rowsAffected');
  const writes = decided.filter((x) => x.s.class === 'write' || x.s.class === 'destructive');
  let guardRows: number | undefined;
  if (left !== -1 && writes.length > 0 && run.txStatus !== 'E') {
    const countable = decided.length === 1 && countableDml(decided[0]!.s) && run.endsWithSync && !run.forwardedSinceSync;
    if (!countable) {
      const what = writes.some((x) => uncountableWrite(x.s)) ? 'a write whose rows the server does not count (COPY FROM, a data-modifying CTE, a function)' : 'several statements at once';
      return spent('rowsAffected', `under a rows-affected budget, send one INSERT, UPDATE, DELETE or MERGE at a time (this is ${what})`);
    }
    if (left === 0) return spent('rowsAffected', `task ${task.id} has affected all ${task.budget.rowsAffected} rows it may`);
    guardRows = left;
  }
  task.usage.statements += decided.length;
  return { guardRows };
}

/** What a task has done, from the server's command tags (rows affected under a guard are counted there). */
export function countCommandTag(task: Task | undefined, tag: string, rows: number | undefined): void {
  if (!task || rows === undefined) return;
  if (/^(INSERT|UPDATE|DELETE|MERGE)\b/.test(tag)) task.usage.rowsAffected += rows;
  else if (/^(SELECT|FETCH)\b/.test(tag)) task.usage.rowsReturned += rows;
}
