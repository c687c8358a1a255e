// The budget meter: charges SSH commands, SQL statements and HTTP requests against the budget of the
// task a token carries and against the budget configured for the agent, and says which ran out.
// Task usage lives on the task record (what `airlock task show` reads); an agent's usage lives here,
// in this process, counted over a fixed window; request rates are counted over a rolling minute.
// In a fleet the same budgets are also counted across every process (the keys come from here:
// `fleetKeys`, `fleetRateKeys`, `fleetSessionKeys`; the counting is lease.ts, rate.ts, slots.ts).
// No I/O; the clock is injected.
import type { Principal } from '../model.js';
import type { Refusal } from '../refusal.js';
import { wouldExceed } from './budget.js';
import { fleetTaskKey } from './lease.js';
import type { TaskBudget } from './types.js';

/** What may be budgeted per agent (rows and bytes are task budgets: they need a task's guard). */
export type AgentBudget = Pick<TaskBudget, 'statements' | 'commands' | 'requestsPerMinute' | 'concurrentSessions'>;
export const AGENT_BUDGET_NAMES = ['statements', 'commands', 'requestsPerMinute', 'concurrentSessions'] as const;

/** One configured rule: the first rule naming the agent (by principal id, else by group) applies. */
export interface AgentBudgetRule {
  principal?: string;
  group?: string;
  budget: AgentBudget;
}

export type Metered = 'statements' | 'commands' | 'requests';

const MINUTE_MS = 60_000;

/** Timestamps of recent events, for a rolling one-minute rate. */
class RollingMinute {
  readonly #times: number[] = [];
  count(now: number): number {
    while (this.#times.length > 0 && this.#times[0]! <= now - MINUTE_MS) this.#times.shift();
    return this.#times.length;
  }
  /** Seconds until the oldest event leaves the window (a retry then may pass). */
  retryAfter(now: number): number {
    return Math.max(1, Math.ceil(((this.#times[0] ?? now) + MINUTE_MS - now) / 1000));
  }
  add(now: number): void {
    this.#times.push(now);
  }
  /** Takes back the latest event (the fleet refused what this process had let through). */
  removeLast(): void {
    this.#times.pop();
  }
}

interface AgentUsage {
  windowStart: number;
  statements: number;
  commands: number;
  rate: RollingMinute;
}

export interface BudgetMeterOptions {
  rules?: readonly AgentBudgetRule[];
  /** Statements and commands of an agent are counted per window of this length (default one hour). */
  windowSeconds?: number;
  /**
   * Request rates are counted across the fleet (core/task/rate.ts) and decided there alone: a
   * rolling minute kept here as well would answer with a Retry-After the fleet does not keep.
   */
  ratesInFleet?: boolean;
  now?: () => number;
}

export class BudgetMeter {
  readonly #rules: readonly AgentBudgetRule[];
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #ratesInFleet: boolean;
  readonly #agents = new Map<string, AgentUsage>();
  readonly #taskRates = new Map<string, RollingMinute>();

  constructor(o: BudgetMeterOptions = {}) {
    this.#rules = o.rules ?? [];
    this.#windowMs = (o.windowSeconds ?? 3600) * 1000;
    this.#ratesInFleet = o.ratesInFleet ?? false;
    this.#now = o.now ?? (() => Date.now());
  }

  /** The agent's configured budget: the first rule naming its id, else the first naming one of its groups. */
  agentBudget(p: Principal): AgentBudget | undefined {
    return (this.#rules.find((r) => r.principal === p.id) ?? this.#rules.find((r) => r.group !== undefined && p.groups.includes(r.group)))?.budget;
  }

  /**
   * Charges `n` of `what` to the principal's task and to the agent. Nothing is counted when either
   * would be overrun: the refusal names the budget that ran out (and when a rate frees up).
   * `agentOnly`: the caller keeps the task's count itself (the PostgreSQL relay counts statements).
   */
  charge(p: Principal, what: Metered, n = 1, o: { agentOnly?: boolean } = {}): Refusal | undefined {
    const task = o.agentOnly ? undefined : p.task;
    // The common case on the statement path: no task to charge, no agent rules configured.
    if (!task && this.#rules.length === 0) return undefined;
    const now = this.#now();
    const refusal = (task ? this.#taskRefusal(p, what, n, now) : undefined) ?? this.#agentRefusal(p, what, n, now);
    if (refusal) {
      if (p.task) p.task.usage.refusals++;
      return refusal;
    }
    if (task) {
      task.usage[what] += n;
      if (what === 'requests' && task.budget.requestsPerMinute !== undefined && !this.#ratesInFleet) this.#taskRate(task.id).add(now);
    }
    const budget = this.agentBudget(p);
    if (budget) {
      const u = this.#agent(p, now);
      if (what !== 'requests') u[what] += n;
      else if (budget.requestsPerMinute !== undefined && !this.#ratesInFleet) u.rate.add(now);
    }
    return undefined;
  }

  /** Refuses a new session when the agent already has its `concurrentSessions` open. */
  sessionRefusal(p: Principal, open: number): Refusal | undefined {
    const limit = this.agentBudget(p)?.concurrentSessions;
    if (limit === undefined || open < limit) return undefined;
    return { code: 'budget_exceeded', message: `agent ${p.id} already has ${limit} session(s) open`, next: { budget: 'concurrentSessions' } };
  }

  #taskRefusal(p: Principal, what: Metered, n: number, now: number): Refusal | undefined {
    const task = p.task;
    if (!task) return undefined;
    if (what === 'requests') {
      const limit = task.budget.requestsPerMinute;
      if (limit === undefined || this.#ratesInFleet) return undefined;
      const rate = this.#taskRate(task.id);
      if (rate.count(now) + n <= limit) return undefined;
      return { code: 'budget_exceeded', message: `task ${task.id} may make ${limit} requests a minute`, next: { taskId: task.id, budget: 'requestsPerMinute', retryAfterSeconds: rate.retryAfter(now) } };
    }
    if (!wouldExceed(task.budget, task.usage, what, n)) return undefined;
    return { code: 'budget_exceeded', message: `task ${task.id} may run ${task.budget[what]} ${what} and has run ${task.usage[what]}`, next: { taskId: task.id, budget: what } };
  }

  #agentRefusal(p: Principal, what: Metered, n: number, now: number): Refusal | undefined {
    const budget = this.agentBudget(p);
    if (!budget) return undefined;
    const u = this.#agent(p, now);
    if (what === 'requests') {
      const limit = budget.requestsPerMinute;
      if (limit === undefined || this.#ratesInFleet || u.rate.count(now) + n <= limit) return undefined;
      return { code: 'budget_exceeded', message: `agent ${p.id} may make ${limit} requests a minute`, next: { budget: 'requestsPerMinute', retryAfterSeconds: u.rate.retryAfter(now) } };
    }
    const limit = budget[what];
    if (limit === undefined || u[what] + n <= limit) return undefined;
    const retryAfterSeconds = Math.max(1, Math.ceil((u.windowStart + this.#windowMs - now) / 1000));
    return { code: 'budget_exceeded', message: `agent ${p.id} may run ${limit} ${what} every ${this.#windowMs / 1000} s and has run ${u[what]}`, next: { budget: what, retryAfterSeconds } };
  }

  #agent(p: Principal, now: number): AgentUsage {
    const key = JSON.stringify([p.issuer, p.id]);
    let u = this.#agents.get(key);
    if (!u || now - u.windowStart >= this.#windowMs) {
      u = { windowStart: now, statements: 0, commands: 0, rate: u?.rate ?? new RollingMinute() };
      this.#agents.set(key, u);
    }
    return u;
  }

  #taskRate(id: string): RollingMinute {
    let r = this.#taskRates.get(id);
    if (!r) this.#taskRates.set(id, (r = new RollingMinute()));
    return r;
  }

  /**
   * The fleet-wide counts `n` of `what` is charged to (core/task/lease.ts): the task's and the
   * agent's, each with its limit. An agent's window is aligned to the epoch so every process of the
   * fleet names the same one. Request rates: `fleetRateKeys`; concurrent sessions: `fleetSessionKeys`.
   */
  fleetKeys(p: Principal, what: 'statements' | 'commands', o: { agentOnly?: boolean } = {}): { key: string; limit: number; budget: 'task' | 'agent' }[] {
    const out: { key: string; limit: number; budget: 'task' | 'agent' }[] = [];
    const taskLimit = o.agentOnly ? undefined : p.task?.budget[what];
    if (p.task && taskLimit !== undefined) out.push({ key: fleetTaskKey(p.task.id, what), limit: taskLimit, budget: 'task' });
    const agentLimit = this.agentBudget(p)?.[what];
    if (agentLimit !== undefined) {
      const window = Math.floor(this.#now() / this.#windowMs);
      out.push({ key: `agent#${JSON.stringify([p.issuer, p.id])}/${window}/${what}`, limit: agentLimit, budget: 'agent' });
    }
    return out;
  }

  /**
   * The fleet-wide request rates a request is charged to (core/task/rate.ts): the task's and the
   * agent's, each the base of its 10-second buckets, with its limit per minute.
   */
  fleetRateKeys(p: Principal): { base: string; limit: number; budget: 'task' | 'agent' }[] {
    const out: { base: string; limit: number; budget: 'task' | 'agent' }[] = [];
    const taskLimit = p.task?.budget.requestsPerMinute;
    if (p.task && taskLimit !== undefined) out.push({ base: `task#${p.task.id}/requestsPerMinute`, limit: taskLimit, budget: 'task' });
    const agentLimit = this.agentBudget(p)?.requestsPerMinute;
    if (agentLimit !== undefined) out.push({ base: `agent#${JSON.stringify([p.issuer, p.id])}/requestsPerMinute`, limit: agentLimit, budget: 'agent' });
    return out;
  }

  /** The fleet-wide concurrent-session counts a session of `p` takes a slot of (core/task/slots.ts). */
  fleetSessionKeys(p: Principal): { key: string; limit: number; budget: 'task' | 'agent' }[] {
    const out: { key: string; limit: number; budget: 'task' | 'agent' }[] = [];
    const taskLimit = p.task?.budget.concurrentSessions;
    if (p.task && taskLimit !== undefined) out.push({ key: `task#${p.task.id}/concurrentSessions`, limit: taskLimit, budget: 'task' });
    const agentLimit = this.agentBudget(p)?.concurrentSessions;
    if (agentLimit !== undefined) out.push({ key: `agent#${JSON.stringify([p.issuer, p.id])}/concurrentSessions`, limit: agentLimit, budget: 'agent' });
    return out;
  }

  /** Takes back a charge the fleet then refused (nothing ran). */
  uncharge(p: Principal, what: Metered, n: number, o: { agentOnly?: boolean } = {}): void {
    if (what === 'requests') {
      if (p.task) {
        p.task.usage.requests = Math.max(0, p.task.usage.requests - n);
        if (p.task.budget.requestsPerMinute !== undefined) for (let i = 0; i < n; i++) this.#taskRates.get(p.task.id)?.removeLast();
      }
      const u = this.#agents.get(JSON.stringify([p.issuer, p.id]));
      if (u && this.agentBudget(p)?.requestsPerMinute !== undefined) for (let i = 0; i < n; i++) u.rate.removeLast();
      return;
    }
    if (p.task && !o.agentOnly) p.task.usage[what] = Math.max(0, p.task.usage[what] - n);
    const u = this.#agents.get(JSON.stringify([p.issuer, p.id]));
    if (u && this.agentBudget(p)) u[what] = Math.max(0, u[what] - n);
  }

  /** A task ended: its rate window is no longer needed. */
  forgetTask(id: string): void {
    this.#taskRates.delete(id);
  }
}
