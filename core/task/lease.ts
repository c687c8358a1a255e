// Fleet-wide budgets by leased batches (issue 32). Several gateway processes share one count per
// budget (a task's statements, an agent's commands…) kept by a `BudgetLedger`; a process does not ask
// the ledger for every statement: it leases part of what remains, spends it locally, and leases again
// when it runs out. The ledger grants a lease only while `used + lease ≤ limit`, so across any
// interleaving the fleet is never granted more than the budget. Unused lease is given back when its
// holder ends; a process that crashes loses what it held — the fleet can under-spend by at most the
// leases outstanding at the crash, never over-spend.
// No I/O here: the ledger is a port (DynamoDB in AWS, `LocalBudgetLedger` in one process).
import type { TaskUsage } from './types.js';

/** The shared count of each budget key. `lease` is atomic: all of `n` or nothing. */
export interface BudgetLedger {
  /** Adds `n` to the key's count if it stays ≤ `limit`; false (nothing added) otherwise. */
  lease(key: string, limit: number, n: number): Promise<boolean>;
  /** What was counted for the key so far (a hint for sizing leases: it may be stale). */
  used(key: string): Promise<number>;
  /** Takes back `n` unused units of a lease (best effort). */
  giveBack(key: string, n: number): Promise<void>;
  /** Adds `n` (may be negative: a count undone) to the key's count, unconditionally: a usage count, no limit. */
  add(key: string, n: number): Promise<void>;
}

/** The ledger key of one of a task's countable budgets. */
export function fleetTaskKey(taskId: string, budget: 'statements' | 'commands' | 'rowsReturned' | 'rowsAffected' | 'bytesRead'): string {
  return `task#${taskId}/${budget}`;
}

/**
 * The ledger key of what a task did, per counter (every counter of TaskUsage, budgeted or not):
 * each process adds what its sessions did since it last added (fargate-proxy LiveSessions.flushUsage).
 * Apart from the budget keys: a budget's count holds leases granted, this one what ran.
 */
export function fleetUsageKey(taskId: string, counter: keyof TaskUsage): string {
  return `usage#${taskId}/${counter}`;
}

/** Largest lease taken at once: bounds what one process can strand. */
export const LEASE_CAP = 64;

/**
 * How much to lease when `need` units are wanted and `remaining` are left fleet-wide: at least the
 * need, otherwise a quarter of what remains (capped), so leases shrink as the budget runs out and
 * near the end every lease is exactly the need — no unit is stranded beyond that. 0: cannot be met.
 */
export function leaseSize(remaining: number, need: number, cap = LEASE_CAP): number {
  if (need <= 0) return 0;
  if (need > remaining) return 0;
  return Math.max(need, Math.min(cap, Math.floor(remaining / 4)));
}

/**
 * What one holder (a gateway session) has leased and not yet spent, per key. `take` spends locally
 * when it can and leases from the ledger otherwise; `release` gives back what is left.
 */
export class LeaseHolder {
  readonly #balance = new Map<string, number>();

  constructor(
    private readonly ledger: BudgetLedger,
    private readonly cap = LEASE_CAP,
  ) {}

  // One ledger operation at a time per holder: a count taken after a statement (rows it returned)
  // is settled before the next statement's check reads the balance.
  #chain: Promise<unknown> = Promise.resolve();
  #serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(op, op);
    this.#chain = next.catch(() => undefined);
    return next;
  }

  /**
   * Spends `n` units of the key's budget of `limit`; false when the fleet has not that many left.
   * `cap`: the largest lease for this key (a rate's bucket takes small ones: what is left in a closed
   * bucket is lost to the fleet).
   */
  take(key: string, limit: number, n: number, cap = this.cap): Promise<boolean> {
    return this.#serial(() => this.#take(key, limit, n, cap));
  }

  /**
   * Spends up to `n` units (all that is left fleet-wide when fewer remain: a count measured after
   * the fact, or a reservation with `n` = Infinity); the number spent.
   */
  takeUpTo(key: string, limit: number, n: number): Promise<number> {
    return this.#serial(async () => {
      if (n <= 0) return 0;
      const have = this.#balance.get(key) ?? 0;
      if (have >= n) {
        this.#balance.set(key, have - n);
        return n;
      }
      for (let tries = 0; tries < 8; tries++) {
        const left = limit - (await this.ledger.used(key));
        const size = leaseSize(left, n - have, this.cap) || Math.max(0, left);
        if (size === 0) break;
        if (await this.ledger.lease(key, limit, size)) {
          const spent = Math.min(n, have + size);
          this.#balance.set(key, have + size - spent);
          return spent;
        }
      }
      this.#balance.set(key, 0);
      return have;
    });
  }

  /** Gives the key's unspent units back to the ledger now (a reservation that was not used up). */
  giveBackNow(key: string): Promise<void> {
    return this.#serial(async () => {
      const n = this.#balance.get(key) ?? 0;
      this.#balance.delete(key);
      if (n > 0) await this.ledger.giveBack(key, n);
    });
  }

  async #take(key: string, limit: number, n: number, cap: number): Promise<boolean> {
    if (n <= 0) return true;
    const have = this.#balance.get(key) ?? 0;
    if (have >= n) {
      this.#balance.set(key, have - n);
      return true;
    }
    const need = n - have;
    // A lost race (another process leased first) shrinks the next try to what the fleet now has.
    for (let tries = 0; tries < 8; tries++) {
      const size = leaseSize(limit - (await this.ledger.used(key)), need, cap);
      if (size === 0) return false;
      if (await this.ledger.lease(key, limit, size)) {
        this.#balance.set(key, have + size - n);
        return true;
      }
    }
    return false;
  }

  /** Gives back units taken but not spent (a statement refused after its budget was taken). */
  refund(key: string, n: number): void {
    if (n > 0) this.#balance.set(key, (this.#balance.get(key) ?? 0) + n);
  }

  /** What this holder leased and has not spent. */
  held(key: string): number {
    return this.#balance.get(key) ?? 0;
  }

  /** The holder ends: every unspent unit goes back to the ledger. */
  release(): Promise<void> {
    return this.#serial(async () => {
      const back = [...this.#balance].filter(([, n]) => n > 0);
      this.#balance.clear();
      await Promise.all(back.map(([key, n]) => this.ledger.giveBack(key, n)));
    });
  }
}

/** One process's ledger: what exists today in local mode (one gateway, counts in memory). */
export class LocalBudgetLedger implements BudgetLedger {
  readonly #used = new Map<string, number>();

  async lease(key: string, limit: number, n: number): Promise<boolean> {
    const used = this.#used.get(key) ?? 0;
    if (used + n > limit) return false;
    this.#used.set(key, used + n);
    return true;
  }

  async used(key: string): Promise<number> {
    return this.#used.get(key) ?? 0;
  }

  async giveBack(key: string, n: number): Promise<void> {
    this.#used.set(key, Math.max(0, (this.#used.get(key) ?? 0) - n));
  }

  async add(key: string, n: number): Promise<void> {
    this.#used.set(key, (this.#used.get(key) ?? 0) + n);
  }
}
