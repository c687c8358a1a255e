// Every live session of this gateway process, by principal and task: what the kill switch, a task's
// close and its expiry end, and what admits a task token to a target (active, right target,
// concurrent-session budget). Engines register at session start and release at the end, and charge
// commands, statements and requests to the task's and the agent's budgets here (core/task/meter.ts).
import type { Principal } from '../../../core/model.js';
import { USAGE_COUNTERS, type Task, type TaskUsage } from '../../../core/task/types.js';
import type { Refusal } from '../../../core/refusal.js';
import { taskUsable } from '../../../core/task/service.js';
import { BudgetMeter, type Metered } from '../../../core/task/meter.js';
import { LeaseHolder, fleetTaskKey, fleetUsageKey, type BudgetLedger } from '../../../core/task/lease.js';
import { SessionSlots, type SlotLedger } from '../../../core/task/slots.js';
import { ClosedBuckets, RATE_BUCKET_MS, rateLease, rateLeaseCap, rateRetryAfter } from '../../../core/task/rate.js';

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

/** Concurrent sessions counted fleet-wide: the shared counts, this process's name in them, the stale window. */
export interface FleetSlotsOptions {
  ledger: SlotLedger;
  holder: string;
  staleMs: number;
}

export class LiveSessions {
  readonly #sessions = new Map<string, LiveSession>();
  readonly #leases = new Map<string, LeaseHolder>();
  readonly #slots?: SessionSlots;
  readonly #closedBuckets?: ClosedBuckets;
  /** The fleet-wide slot keys each live session holds. */
  readonly #slotKeys = new Map<string, string[]>();
  /** Per session, the rate bucket keys it leased last (an old bucket's balance goes back when a new one starts). */
  readonly #rateKeys = new Map<string, Map<string, string>>();
  /**
   * In a fleet, per task object (sessions may or may not share one), its usage as last added to the
   * fleet's usage counts: the statement path only bumps counters in memory, `flushUsage` sends the rest.
   */
  readonly #flushed = new WeakMap<Task, TaskUsage>();
  /** Tasks of sessions that ended since the last flush: what they did last is added at the next one. */
  readonly #endedTasks = new Set<Task>();
  /** Deltas the ledger has not taken yet, by usage key: retried at the next flush, never lost or sent twice. */
  readonly #unsent = new Map<string, number>();
  #flushing: Promise<void> = Promise.resolve();

  /**
   * `ledger`: the fleet's shared counts (AWS: adapters/aws/budget-dynamo-ledger.ts); `slots`: the
   * fleet's concurrent-session counts (adapters/aws/session-slot-ledger.ts). Without them budgets
   * are counted in this process only (local mode, one gateway).
   */
  constructor(
    readonly meter: BudgetMeter = new BudgetMeter(),
    private readonly ledger?: BudgetLedger,
    private readonly onLeaseError: (err: Error) => void = () => undefined,
    slots?: FleetSlotsOptions,
  ) {
    if (ledger) this.#closedBuckets = new ClosedBuckets(ledger);
    if (slots) {
      this.#slots = new SessionSlots(slots.ledger, {
        holder: slots.holder,
        staleMs: slots.staleMs,
        // The fleet took this process's slots for dead (it could not heartbeat for the stale window):
        // its sessions there no longer count, so they end rather than exceed the budget.
        onLost: (key) => {
          const lost = [...this.#slotKeys].filter(([, keys]) => keys.includes(key)).map(([id]) => this.#sessions.get(id));
          this.#endAll(
            lost.filter((x): x is LiveSession => x !== undefined),
            { code: 'budget_exceeded', message: 'this gateway lost its concurrent-session slot in the fleet (it could not reach the shared count for too long)', next: { budget: 'concurrentSessions' } },
          );
        },
      });
    }
  }

  /** Charges one command, statement or request; the refusal when a task or agent budget is spent. */
  charge(p: Principal, what: Metered, n = 1, o: { agentOnly?: boolean } = {}): Refusal | undefined {
    return this.meter.charge(p, what, n, o);
  }

  /**
   * In a fleet, charges a request (already charged here by `charge`) to the task's and the agent's
   * fleet-wide rates (core/task/rate.ts); the refusal, with the seconds until a bucket would admit
   * it, when either is spent. Undefined (no wait) when no rate is budgeted or there is no fleet.
   */
  chargeFleetRate(sessionId: string, p: Principal, n = 1): Promise<Refusal | undefined> | undefined {
    const closed = this.#closedBuckets;
    if (!this.ledger || !closed || n <= 0) return undefined;
    const rates = this.meter.fleetRateKeys(p);
    if (rates.length === 0) return undefined;
    const h = this.#holder(sessionId)!;
    return (async () => {
      const taken: string[] = [];
      for (const r of rates) {
        const now = Date.now();
        let ok = false;
        let retryAfterSeconds = RATE_BUCKET_MS / 1000;
        try {
          const lease = await rateLease(closed, r.base, r.limit, now);
          this.#moveRateBucket(sessionId, h, r.base, lease.key);
          ok = await h.take(lease.key, lease.limit, n, rateLeaseCap(r.limit));
          if (!ok) retryAfterSeconds = rateRetryAfter([...lease.behind, await this.ledger!.used(lease.key)], r.limit, n, Date.now());
        } catch (err) {
          // Fail closed: a ledger that cannot be reached grants nothing.
          this.onLeaseError(err as Error);
        }
        if (ok) {
          taken.push(r.base);
          continue;
        }
        for (const base of taken) {
          const key = this.#rateKeys.get(sessionId)?.get(base);
          if (key) h.refund(key, n);
        }
        this.meter.uncharge(p, 'requests', n);
        if (p.task) p.task.usage.refusals++;
        const message = r.budget === 'task' ? `task ${p.task!.id} may make ${r.limit} requests a minute across the fleet` : `agent ${p.id} may make ${r.limit} requests a minute across the fleet`;
        return { code: 'budget_exceeded', message, next: { ...(r.budget === 'task' ? { taskId: p.task!.id } : {}), budget: 'requestsPerMinute', retryAfterSeconds } } satisfies Refusal;
      }
      return undefined;
    })();
  }

  /** A session's lease of a rate bucket that has closed goes back (it can no longer be spent). */
  #moveRateBucket(sessionId: string, h: LeaseHolder, base: string, key: string): void {
    let m = this.#rateKeys.get(sessionId);
    if (!m) this.#rateKeys.set(sessionId, (m = new Map()));
    const old = m.get(base);
    if (old === key) return;
    m.set(base, key);
    if (old) h.giveBackNow(old).catch((err: Error) => this.onLeaseError(err));
  }

  /** In a fleet: heartbeats this process's concurrent-session slots (the fleet poll calls it). */
  heartbeat(): Promise<void> {
    return this.#slots?.heartbeat() ?? Promise.resolve();
  }

  /**
   * In a fleet, charges statements or commands (already charged here by `charge`) to the fleet-wide
   * counts through this session's leases; a refusal (and this process's charge undone) when the
   * fleet has spent the budget. Synchronous and free when nothing is budgeted or there is no fleet.
   */
  chargeFleet(sessionId: string, p: Principal, what: 'statements' | 'commands', n: number, o: { agentOnly?: boolean } = {}): Promise<Refusal | undefined> | undefined {
    if (!this.ledger || n <= 0) return undefined;
    const keys = this.meter.fleetKeys(p, what, o);
    if (keys.length === 0) return undefined;
    const h = this.#holder(sessionId)!;
    return (async () => {
      const taken: typeof keys = [];
      for (const k of keys) {
        let ok = false;
        try {
          ok = await h.take(k.key, k.limit, n);
        } catch (err) {
          // Fail closed: a ledger that cannot be reached grants nothing.
          this.onLeaseError(err as Error);
        }
        if (ok) {
          taken.push(k);
          continue;
        }
        for (const t of taken) h.refund(t.key, n);
        this.meter.uncharge(p, what, n, o);
        if (p.task) p.task.usage.refusals++;
        const message = k.budget === 'task' ? `task ${p.task!.id} may run ${k.limit} ${what} across the fleet, and they are spent` : `agent ${p.id} may run ${k.limit} ${what} per window across the fleet, and they are spent`;
        return { code: 'budget_exceeded', message, next: { ...(k.budget === 'task' ? { taskId: p.task!.id } : {}), budget: what } } satisfies Refusal;
      }
      return undefined;
    })();
  }

  #holder(sessionId: string): LeaseHolder | undefined {
    if (!this.ledger) return undefined;
    let h = this.#leases.get(sessionId);
    if (!h) this.#leases.set(sessionId, (h = new LeaseHolder(this.ledger)));
    return h;
  }

  /**
   * In a fleet, before a statement runs: the task's rows returned and bytes read must have some
   * left fleet-wide (they are counted after the fact, as in one process), and under a rows-affected
   * budget what remains fleet-wide is reserved for the one guarded write (`reserved`: the guard's
   * limit; settle it with `settleRowsAffected`). Undefined when there is nothing to do.
   */
  fleetRowsCheck(sessionId: string, p: Principal, guarded: boolean): Promise<{ refusal?: Refusal; reserved?: number }> | undefined {
    const task = p.task;
    const h = task && this.#holder(sessionId);
    if (!task || !h) return undefined;
    const afterTheFact = (['rowsReturned', 'bytesRead'] as const).filter((n) => task.budget[n] !== undefined);
    const reserve = guarded && task.budget.rowsAffected !== undefined;
    if (afterTheFact.length === 0 && !reserve) return undefined;
    const spent = (budget: 'rowsReturned' | 'bytesRead' | 'rowsAffected') => {
      task.usage.refusals++;
      return { refusal: { code: 'budget_exceeded', message: `task ${task.id} has spent all its ${budget} across the fleet`, next: { taskId: task.id, budget } } satisfies Refusal };
    };
    return (async () => {
      try {
        for (const n of afterTheFact) {
          const key = fleetTaskKey(task.id, n);
          // One unit proves some is left; it stays in this session's lease for the count after.
          if ((await h.takeUpTo(key, task.budget[n]!, 1)) === 0) return spent(n);
          h.refund(key, 1);
        }
        if (!reserve) return {};
        const reserved = await h.takeUpTo(fleetTaskKey(task.id, 'rowsAffected'), task.budget.rowsAffected!, Number.POSITIVE_INFINITY);
        return reserved === 0 ? spent('rowsAffected') : { reserved };
      } catch (err) {
        this.onLeaseError(err as Error);
        return spent(afterTheFact[0] ?? 'rowsAffected');
      }
    })();
  }

  /** In a fleet, counts rows returned or bytes read after the fact (what is over the budget is not counted). */
  chargeFleetAfter(sessionId: string, task: Task, what: 'rowsReturned' | 'bytesRead', n: number): void {
    const limit = task.budget[what];
    const h = limit !== undefined && n > 0 ? this.#holder(sessionId) : undefined;
    if (!h) return;
    h.takeUpTo(fleetTaskKey(task.id, what), limit!, n).catch((err: Error) => this.onLeaseError(err));
  }

  /** The guarded write is settled: of the reservation, `rows` were affected; the rest goes back to the fleet now. */
  settleRowsAffected(sessionId: string, p: Principal, reserved: number, rows: number): void {
    const task = p.task;
    const h = task && this.#leases.get(sessionId);
    if (!h) return;
    const key = fleetTaskKey(task!.id, 'rowsAffected');
    h.refund(key, reserved - Math.min(rows, reserved));
    h.giveBackNow(key).catch((err: Error) => this.onLeaseError(err));
  }

  /**
   * In a fleet: adds to the fleet's usage counts what each task did here since the last flush (live
   * sessions' tasks and those of sessions ended since), one `add` per changed (task, counter). What
   * the ledger refuses is kept and sent again next time. The fleet poll calls it; so does the end.
   * Rejects (after trying every key) when some delta could not be added.
   */
  flushUsage(): Promise<void> {
    if (!this.ledger) return Promise.resolve();
    // One flush at a time: each delta is taken once, and sent once it is taken.
    const run = this.#flushing.then(() => this.#flushUsage(this.ledger!));
    this.#flushing = run.catch(() => undefined);
    return run;
  }

  async #flushUsage(ledger: BudgetLedger): Promise<void> {
    const tasks = new Set(this.#endedTasks);
    this.#endedTasks.clear();
    for (const s of this.#sessions.values()) if (s.principal.task) tasks.add(s.principal.task);
    for (const t of tasks) {
      const last = this.#flushed.get(t);
      const now = { ...t.usage };
      for (const c of USAGE_COUNTERS) {
        const d = (now[c] ?? 0) - (last?.[c] ?? 0);
        if (d === 0) continue;
        const key = fleetUsageKey(t.id, c);
        this.#unsent.set(key, (this.#unsent.get(key) ?? 0) + d);
      }
      this.#flushed.set(t, now);
    }
    const failed: Error[] = [];
    await Promise.all(
      [...this.#unsent].map(async ([key, n]) => {
        try {
          if (n !== 0) await ledger.add(key, n);
          this.#unsent.delete(key);
        } catch (err) {
          failed.push(err as Error);
        }
      }),
    );
    if (failed.length) throw new Error(`${failed.length} task usage count(s) could not be added to the fleet ledger (kept for the next poll): ${failed[0]!.message}`);
  }

  /** A session ends: its task's last deltas go out at the next flush. */
  #usageEnded(s: LiveSession): void {
    if (this.ledger && s.principal.task) this.#endedTasks.add(s.principal.task);
  }

  /** Gives back what a session leased and did not spend (best effort: a loss only under-spends). */
  #releaseLeases(sessionId: string): void {
    this.#rateKeys.delete(sessionId);
    const keys = this.#slotKeys.get(sessionId);
    this.#slotKeys.delete(sessionId);
    for (const key of keys ?? []) this.#slots!.release(key).catch((err: Error) => this.onLeaseError(err));
    const h = this.#leases.get(sessionId);
    if (!h) return;
    this.#leases.delete(sessionId);
    h.release().catch((err: Error) => this.onLeaseError(err));
  }

  /** The process ends: every session's unspent lease goes back, and what its tasks did is added to the fleet's counts. */
  async releaseAll(): Promise<void> {
    await this.flushUsage().catch((err: Error) => this.onLeaseError(err));
    const all = [...this.#leases.values()];
    this.#leases.clear();
    // Its concurrent-session slots too (after a crash the fleet reclaims them once the heartbeat is stale).
    const slots = [...this.#slotKeys.values()].flat();
    this.#slotKeys.clear();
    await Promise.all(slots.map((key) => this.#slots!.release(key).catch((err: Error) => this.onLeaseError(err))));
    await Promise.all(all.map((h) => h.release().catch((err: Error) => this.onLeaseError(err))));
  }

  /**
   * Admits a session (a task token must name this target and have sessions left) and registers it.
   * In a fleet the task's and the agent's concurrent sessions are counted fleet-wide, exactly: a slot
   * is taken in the shared count before the session is registered (refused when the count cannot be reached).
   */
  async admit(s: LiveSession, now = Date.now()): Promise<Admission> {
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
    // The fleet's count is asked (I/O): a kill or a task's end meanwhile must still reach this session.
    const seen = this.#endings;
    const fleetFull = await this.#takeSlots(s);
    if (fleetFull) return { ok: false, refusal: fleetFull };
    const endedMeanwhile = this.#endings !== seen && this.#endedSince(s, seen);
    if (endedMeanwhile) {
      this.#releaseLeases(s.sessionId);
      return { ok: false, refusal: endedMeanwhile };
    }
    // The task object's usage so far was counted where it was (or is no one's): only what follows is added.
    if (task && this.ledger && !this.#flushed.has(task)) this.#flushed.set(task, { ...task.usage });
    if (task) task.usage.sessions++;
    this.#sessions.set(s.sessionId, s);
    let released = false;
    return {
      ok: true,
      // Once: engines may release on more than one path (a login that ended while it was admitted).
      release: () => {
        if (released) return;
        released = true;
        this.#sessions.delete(s.sessionId);
        this.#usageEnded(s);
        this.#releaseLeases(s.sessionId);
      },
    };
  }

  /** Kills and task ends, in order: what an admission in flight checks when its slots are taken. */
  #endings = 0;
  readonly #endingLog: { principalId?: string; taskId?: string; refusal: Refusal }[] = [];

  #recordEnding(e: { principalId?: string; taskId?: string; refusal: Refusal }): void {
    this.#endings++;
    this.#endingLog.push(e);
    // Only admissions in flight look back, and they take a few round trips: a short log suffices.
    if (this.#endingLog.length > 1024) this.#endingLog.splice(0, 512);
  }

  #endedSince(s: LiveSession, seen: number): Refusal | undefined {
    const recent = this.#endingLog.slice(Math.max(0, this.#endingLog.length - (this.#endings - seen)));
    return recent.find((e) => e.principalId === s.principal.id || (e.taskId !== undefined && e.taskId === s.principal.task?.id))?.refusal;
  }

  /** Takes the session's fleet-wide slots (task's, agent's): all or none; the refusal otherwise. */
  async #takeSlots(s: LiveSession): Promise<Refusal | undefined> {
    const slots = this.#slots;
    if (!slots) return undefined;
    const p = s.principal;
    const taken: string[] = [];
    for (const k of this.meter.fleetSessionKeys(p)) {
      let ok = false;
      let unreachable = false;
      try {
        ok = await slots.admit(k.key, k.limit);
      } catch (err) {
        // Fail closed: a count that cannot be reached admits no one.
        this.onLeaseError(err as Error);
        unreachable = true;
      }
      if (ok) {
        taken.push(k.key);
        continue;
      }
      for (const key of taken) slots.release(key).catch((err: Error) => this.onLeaseError(err));
      const who = k.budget === 'task' ? `task ${p.task!.id}` : `agent ${p.id}`;
      const message = unreachable ? `${who}: the fleet's count of concurrent sessions cannot be reached` : `${who} already has ${k.limit} session(s) open across the fleet`;
      return { code: 'budget_exceeded', message, next: { ...(k.budget === 'task' ? { taskId: p.task!.id } : {}), budget: 'concurrentSessions' } };
    }
    if (taken.length) this.#slotKeys.set(s.sessionId, taken);
    return undefined;
  }

  byTask(taskId: string): LiveSession[] {
    return [...this.#sessions.values()].filter((s) => s.principal.task?.id === taskId);
  }

  /** Ends the sessions of a task; returns their ids. */
  endTask(taskId: string, refusal: Refusal): string[] {
    this.#recordEnding({ taskId, refusal });
    return this.#endAll(this.byTask(taskId), refusal);
  }

  /** The kill switch: every session of one principal (plain or task token). */
  killPrincipal(principalId: string, refusal: Refusal): string[] {
    this.#recordEnding({ principalId, refusal });
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
      this.#usageEnded(s);
      this.#releaseLeases(s.sessionId);
      s.end(refusal);
    }
    return list.map((s) => s.sessionId);
  }
}
