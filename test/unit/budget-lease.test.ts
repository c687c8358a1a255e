// Leased batches (core/task/lease.ts): across any interleaving of K processes' reads, leases and
// give-backs, the fleet is never granted more than the budget; what is spent never exceeds it; and
// once every holder has given back, the ledger's count is exactly what was spent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LeaseHolder, LocalBudgetLedger, leaseSize, type BudgetLedger } from '../../core/task/lease.js';

test('a lease is at least the need, at most a quarter of what remains (capped), never more than remains', () => {
  fc.assert(
    fc.property(fc.nat(10_000), fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 100 }), (remaining, need, cap) => {
      const size = leaseSize(remaining, need, cap);
      if (need > remaining) return size === 0;
      return size >= need && size <= remaining && (size === need || size <= Math.max(cap, 0)) && size <= Math.max(need, Math.floor(remaining / 4));
    }),
  );
  assert.equal(leaseSize(3, 1), 1, 'near the end a lease is exactly the need');
  assert.equal(leaseSize(0, 1), 0);
});

/** The local ledger, each call delayed until the scheduler lets it run: the interleaving is fast-check's. */
function scheduled(s: fc.Scheduler, inner: BudgetLedger, granted: { total: number }): BudgetLedger {
  return {
    lease: (key, limit, n) =>
      s.schedule(Promise.resolve()).then(async () => {
        const ok = await inner.lease(key, limit, n);
        if (ok) granted.total += n;
        return ok;
      }),
    used: (key) => s.schedule(Promise.resolve()).then(() => inner.used(key)),
    giveBack: (key, n) =>
      s.schedule(Promise.resolve()).then(async () => {
        granted.total -= n;
        await inner.giveBack(key, n);
      }),
    add: (key, n) => s.schedule(Promise.resolve()).then(() => inner.add(key, n)),
  };
}

test('across any interleaving of K processes the fleet is never granted more than the budget', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.scheduler(),
      fc.integer({ min: 0, max: 40 }),
      // Each step: take `n` all or nothing, or (upTo) as much of `n` as is left — a count after the fact.
      fc.array(fc.array(fc.record({ n: fc.integer({ min: 1, max: 5 }), upTo: fc.boolean() }), { maxLength: 12 }), { minLength: 1, maxLength: 4 }),
      fc.integer({ min: 1, max: 8 }),
      async (s, limit, processes, cap) => {
        const inner = new LocalBudgetLedger();
        const granted = { total: 0 };
        let maxGranted = 0;
        let spent = 0;
        const ledger = scheduled(s, inner, granted);
        const runs = processes.map(async (wants) => {
          const holder = new LeaseHolder(ledger, cap);
          for (const { n, upTo } of wants) {
            const got = upTo ? await holder.takeUpTo('task#t/statements', limit, n) : (await holder.take('task#t/statements', limit, n)) ? n : 0;
            spent += got;
            maxGranted = Math.max(maxGranted, granted.total);
            assert.ok(granted.total <= limit, `granted ${granted.total} of ${limit}`);
          }
          await holder.release();
        });
        await s.waitFor(Promise.all(runs));
        assert.ok(maxGranted <= limit);
        assert.ok(spent <= limit);
        assert.equal(await inner.used('task#t/statements'), spent, 'every unspent unit was given back');
      },
    ),
    { numRuns: 300 },
  );
});

test('one unit at a time, taken by two holders in turn, each giving back at its end: exactly the budget is spent', async () => {
  const ledger = new LocalBudgetLedger();
  let spent = 0;
  for (let i = 0; i < 11; i++) {
    const holder = new LeaseHolder(ledger);
    if (await holder.take('k', 10, 1)) spent++;
    await holder.release();
  }
  assert.equal(spent, 10);
});
