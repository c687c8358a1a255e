// Every live session of this gateway process, by principal and task: what the kill switch, a task's
// close and its expiry end, and what admits a task token to a target (active, right target,
// concurrent-session budget). Engines register at session start and release at the end, and charge
// commands, statements and requests to the task's and the agent's budgets here (core/task/meter.ts).
import type { Principal } from '../../../core/model.js';
import type { Refusal } from '../../../core/refusal.js';
import { taskUsable } from '../../../core/task/service.js';
import { BudgetMeter, type Metered } from '../../../core/task/meter.js';

export interface LiveSession {
  sessionId: string;
  principal: Principal;
  target: string;
  protocol: string;
  startedAt: number;
  /** Ends the session now, telling the client why (FATAL / stderr / problem+json). */
  end(refusal: Refusal): void;
}

export type Admission = { ok: true; release(): void } | { ok: false; refusal: Refusal };

export interface LiveSessionSummary {
  sessionId: string;
  principal: string;
  taskId?: string;
  target: string;
  protocol: string;
  startedAt: number;
}

export class LiveSessions {
  readonly #sessions = new Map<string, LiveSession>();

  constructor(readonly meter: BudgetMeter = new BudgetMeter()) {}

  /** Charges one command, statement or request; the refusal when a task or agent budget is spent. */
  charge(p: Principal, what: Metered, n = 1, o: { agentOnly?: boolean } = {}): Refusal | undefined {
    return this.meter.charge(p, what, n, o);
  }

  /** Admits a session (a task token must name this target and have sessions left) and registers it. */
  admit(s: LiveSession, now = Date.now()): Admission {
    const task = s.principal.task;
    if (task) {
      const usable = taskUsable(task, now);
      if (!usable.ok) return { ok: false, refusal: { code: 'task_expired', message: usable.reason, next: { taskId: task.id } } };
      if (!task.targets.includes(s.target)) {
        return { ok: false, refusal: { code: 'policy_denied', message: `task ${task.id} does not cover target "${s.target}"`, next: { taskId: task.id } } };
      }
      const limit = task.budget.concurrentSessions;
      if (limit !== undefined && this.byTask(task.id).length >= limit) {
        return { ok: false, refusal: { code: 'budget_exceeded', message: `task ${task.id} already has ${limit} session(s) open`, next: { taskId: task.id, budget: 'concurrentSessions' } } };
      }
    }
    const mine = [...this.#sessions.values()].filter((x) => x.principal.id === s.principal.id && x.principal.issuer === s.principal.issuer);
    const agentFull = this.meter.sessionRefusal(s.principal, mine.length);
    if (agentFull) return { ok: false, refusal: agentFull };
    if (task) task.usage.sessions++;
    this.#sessions.set(s.sessionId, s);
    return { ok: true, release: () => this.#sessions.delete(s.sessionId) };
  }

  byTask(taskId: string): LiveSession[] {
    return [...this.#sessions.values()].filter((s) => s.principal.task?.id === taskId);
  }

  /** Ends the sessions of a task; returns their ids. */
  endTask(taskId: string, refusal: Refusal): string[] {
    return this.#endAll(this.byTask(taskId), refusal);
  }

  /** The kill switch: every session of one principal (plain or task token). */
  killPrincipal(principalId: string, refusal: Refusal): string[] {
    return this.#endAll([...this.#sessions.values()].filter((s) => s.principal.id === principalId), refusal);
  }

  list(): LiveSessionSummary[] {
    return [...this.#sessions.values()].map((s) => ({
      sessionId: s.sessionId,
      principal: s.principal.id,
      ...(s.principal.task ? { taskId: s.principal.task.id } : {}),
      target: s.target,
      protocol: s.protocol,
      startedAt: s.startedAt,
    }));
  }

  #endAll(list: LiveSession[], refusal: Refusal): string[] {
    for (const s of list) {
      this.#sessions.delete(s.sessionId);
      s.end(refusal);
    }
    return list.map((s) => s.sessionId);
  }
}
