// Concurrent sessions counted fleet-wide (issue 32). Each budget key (a task's or an agent's
// `concurrentSessions`) has one shared count: a total and, per holder (one gateway process), how many
// of the total it holds and when it last said it was alive. Admitting a session is one conditional
// step (`total < limit`, and the holder's entry is what the holder last wrote), so no interleaving of
// processes can admit more than the limit. A holder heartbeats its entries; an entry whose heartbeat
// is older than the stale window belongs to a process that crashed (or stalled) and is reclaimed by
// the next process that finds the count full — conditionally on the heartbeat it saw, so a holder that
// just woke up and heartbeat is never reclaimed. A holder that finds its entry reclaimed ends the
// sessions it counted there (they no longer count: keeping them would over-admit).
// No I/O here: the ledger is a port (DynamoDB in AWS, `LocalSlotLedger` in one process).

/** One holder's share of a count. */
export interface SlotEntry {
  n: number;
  /** When the holder last wrote its entry (its clock, ms). */
  beat: number;
}

export interface SlotCount {
  total: number;
  holders: Record<string, SlotEntry>;
}

/**
 * The shared counts. Every write is conditional on the holder's entry being what the writer last
 * saw (`prev`: its `n`, 0 = absent) and is atomic; false = the condition did not hold, nothing changed.
 */
export interface SlotLedger {
  read(key: string): Promise<SlotCount>;
  /** The holder's entry `prev` → `prev + 1` and the total + 1, only while total < limit. */
  take(key: string, limit: number, holder: string, prev: number, beat: number): Promise<boolean>;
  /** The holder's entry `prev` → `prev − 1` (removed at 0) and the total − 1. */
  give(key: string, holder: string, prev: number, beat: number): Promise<boolean>;
  /** The holder's heartbeat, while its entry still holds `n`. */
  beat(key: string, holder: string, n: number, beat: number): Promise<boolean>;
  /** Removes another holder's entry (and its share of the total) if it is still exactly `seen`. */
  reclaim(key: string, holder: string, seen: SlotEntry): Promise<boolean>;
}

export const emptySlotCount = (): SlotCount => ({ total: 0, holders: {} });

// The transitions, as pure functions (the DynamoDB adapter states the same conditions in its
// update expressions): undefined when the condition does not hold.

export function takeSlot(c: SlotCount, limit: number, holder: string, prev: number, beat: number): SlotCount | undefined {
  if (c.total >= limit || (c.holders[holder]?.n ?? 0) !== prev) return undefined;
  return { total: c.total + 1, holders: { ...c.holders, [holder]: { n: prev + 1, beat } } };
}

export function giveSlot(c: SlotCount, holder: string, prev: number, beat: number): SlotCount | undefined {
  if (prev <= 0 || c.holders[holder]?.n !== prev) return undefined;
  const holders = { ...c.holders };
  if (prev === 1) delete holders[holder];
  else holders[holder] = { n: prev - 1, beat };
  return { total: c.total - 1, holders };
}

export function beatSlot(c: SlotCount, holder: string, n: number, beat: number): SlotCount | undefined {
  if (c.holders[holder]?.n !== n) return undefined;
  return { total: c.total, holders: { ...c.holders, [holder]: { n, beat } } };
}

export function reclaimSlot(c: SlotCount, holder: string, seen: SlotEntry): SlotCount | undefined {
  const e = c.holders[holder];
  if (!e || e.n !== seen.n || e.beat !== seen.beat) return undefined;
  const holders = { ...c.holders };
  delete holders[holder];
  return { total: c.total - e.n, holders };
}

/** Entries of other holders whose heartbeat is older than the stale window. */
export function staleHolders(c: SlotCount, self: string, now: number, staleMs: number): [string, SlotEntry][] {
  return Object.entries(c.holders).filter(([h, e]) => h !== self && e.beat < now - staleMs);
}

/** One process's ledger (and the reference the property tests check the DynamoDB one against). */
export class LocalSlotLedger implements SlotLedger {
  readonly #counts = new Map<string, SlotCount>();

  #apply(key: string, next: SlotCount | undefined): boolean {
    if (next) this.#counts.set(key, next);
    return next !== undefined;
  }
  #get(key: string): SlotCount {
    return this.#counts.get(key) ?? emptySlotCount();
  }

  async read(key: string): Promise<SlotCount> {
    const c = this.#get(key);
    return { total: c.total, holders: { ...c.holders } };
  }
  async take(key: string, limit: number, holder: string, prev: number, beat: number): Promise<boolean> {
    return this.#apply(key, takeSlot(this.#get(key), limit, holder, prev, beat));
  }
  async give(key: string, holder: string, prev: number, beat: number): Promise<boolean> {
    return this.#apply(key, giveSlot(this.#get(key), holder, prev, beat));
  }
  async beat(key: string, holder: string, n: number, beat: number): Promise<boolean> {
    return this.#apply(key, beatSlot(this.#get(key), holder, n, beat));
  }
  async reclaim(key: string, holder: string, seen: SlotEntry): Promise<boolean> {
    return this.#apply(key, reclaimSlot(this.#get(key), holder, seen));
  }
}

export interface SessionSlotsOptions {
  /** This process's name in every count (unique per process). */
  holder: string;
  /** Another holder whose heartbeat is older than this is taken for dead. */
  staleMs: number;
  now?: () => number;
  /** The fleet reclaimed this holder's entry under `key`: the sessions it counted there must end. */
  onLost?: (key: string) => void;
}

/**
 * One process's sessions in the shared counts: what it holds per key (`recorded`, as the ledger has
 * it) and how many of its sessions are live (`live`). A release lowers `live` at once and the ledger
 * follows (a failed write is retried at the next heartbeat); an admission is refused unless the
 * ledger granted it (fail closed).
 */
export class SessionSlots {
  readonly #recorded = new Map<string, number>();
  readonly #live = new Map<string, number>();
  readonly #chains = new Map<string, Promise<unknown>>();
  readonly #now: () => number;

  constructor(
    private readonly ledger: SlotLedger,
    private readonly o: SessionSlotsOptions,
  ) {
    this.#now = o.now ?? (() => Date.now());
  }

  /** One ledger operation at a time per key: each write is conditional on the last one's result. */
  #serial<T>(key: string, op: () => Promise<T>): Promise<T> {
    const next = (this.#chains.get(key) ?? Promise.resolve()).then(op, op);
    const tail = next.catch(() => undefined);
    this.#chains.set(key, tail);
    void tail.then(() => {
      if (this.#chains.get(key) === tail) this.#chains.delete(key);
    });
    return next;
  }

  /** Takes one slot of `key` (a budget of `limit` sessions); false when the fleet has none free. Throws when the ledger cannot be reached. */
  admit(key: string, limit: number): Promise<boolean> {
    return this.#serial(key, async () => {
      await this.#flush(key);
      for (let tries = 0; tries < 8; tries++) {
        const prev = this.#recorded.get(key) ?? 0;
        if (await this.ledger.take(key, limit, this.o.holder, prev, this.#now())) {
          this.#recorded.set(key, prev + 1);
          this.#live.set(key, (this.#live.get(key) ?? 0) + 1);
          return true;
        }
        const c = await this.ledger.read(key);
        if (this.#adopt(key, c)) continue;
        if (c.total < limit) continue; // a race: another holder released meanwhile
        // Full: entries of holders that stopped heartbeating (a crashed process) stop counting.
        let freed = false;
        for (const [h, e] of staleHolders(c, this.o.holder, this.#now(), this.o.staleMs)) {
          if (await this.ledger.reclaim(key, h, e)) freed = true;
        }
        if (!freed) return false;
      }
      return false;
    });
  }

  /** A session counted under `key` ended: the slot goes back (now, or at the next heartbeat). */
  release(key: string): Promise<void> {
    const live = this.#live.get(key) ?? 0;
    if (live <= 1) this.#live.delete(key);
    else this.#live.set(key, live - 1);
    return this.#serial(key, () => this.#flush(key));
  }

  /** Says this holder is alive on every count it holds, and gives back what a failed release left. */
  async heartbeat(): Promise<void> {
    const keys = [...this.#recorded.keys()];
    const errors: unknown[] = [];
    await Promise.all(
      keys.map((key) =>
        this.#serial(key, async () => {
          await this.#flush(key);
          const n = this.#recorded.get(key) ?? 0;
          if (n === 0) return;
          if (!(await this.ledger.beat(key, this.o.holder, n, this.#now()))) {
            this.#adopt(key, await this.ledger.read(key));
            await this.#flush(key);
          }
        }).catch((err) => errors.push(err)),
      ),
    );
    if (errors.length) throw errors[0];
  }

  /** What this holder counts under `key` (as the ledger has it, as far as it knows). */
  held(key: string): number {
    return this.#recorded.get(key) ?? 0;
  }

  /** Gives back slots held beyond the live sessions (a release whose write failed or is pending). */
  async #flush(key: string): Promise<void> {
    for (;;) {
      const recorded = this.#recorded.get(key) ?? 0;
      if (recorded <= (this.#live.get(key) ?? 0)) return;
      if (await this.ledger.give(key, this.o.holder, recorded, this.#now())) {
        if (recorded === 1) this.#recorded.delete(key);
        else this.#recorded.set(key, recorded - 1);
        continue;
      }
      if (!this.#adopt(key, await this.ledger.read(key))) return;
    }
  }

  /**
   * The ledger's entry for this holder differs from what it recorded (it was reclaimed, or a write
   * whose answer was lost did apply): take the ledger's figure. Sessions live here beyond it are not
   * counted fleet-wide any more, so they must end. True when the record changed.
   */
  #adopt(key: string, c: SlotCount): boolean {
    const actual = c.holders[this.o.holder]?.n ?? 0;
    const recorded = this.#recorded.get(key) ?? 0;
    if (actual === recorded) return false;
    if (actual === 0) this.#recorded.delete(key);
    else this.#recorded.set(key, actual);
    if ((this.#live.get(key) ?? 0) > actual) this.o.onLost?.(key);
    return true;
  }
}
