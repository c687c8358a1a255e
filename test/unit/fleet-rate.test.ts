// Request rates counted fleet-wide (core/task/rate.ts): whatever the processes and the times of the
// requests, no 60 seconds see more than N admitted; a refusal's Retry-After is when a retry would pass
// (and not a second earlier), if nothing else is spent meanwhile.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LeaseHolder, LocalBudgetLedger } from '../../core/task/lease.js';
import { ClosedBuckets, rateLease, rateRetryAfter } from '../../core/task/rate.js';

const BASE = 'task#t/requestsPerMinute';

/** One process of the fleet: its own sessions' leases and its own cache of closed buckets. */
function process(ledger: LocalBudgetLedger, cap: number) {
  const closed = new ClosedBuckets(ledger);
  const holder = new LeaseHolder(ledger, cap);
  return async (limit: number, now: number): Promise<{ ok: boolean; retryAfter?: number }> => {
    const lease = await rateLease(closed, BASE, limit, now);
    // Any lease size keeps the guarantee (the gateway leases rateLeaseCap(limit) at most).
    if (await holder.take(lease.key, lease.limit, 1, cap)) return { ok: true };
    return { ok: false, retryAfter: rateRetryAfter([...lease.behind, await ledger.used(lease.key)], limit, 1, now) };
  };
}

test('across K processes and any request times, no 60 s window holds more than N admitted requests', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 1, max: 8 }),
      // (process, time in ms over five minutes)
      fc.array(fc.tuple(fc.nat(3), fc.integer({ min: 0, max: 300_000 })), { maxLength: 120 }),
      async (limit, cap, requests) => {
        const ledger = new LocalBudgetLedger();
        const procs = [0, 1, 2, 3].map(() => process(ledger, cap));
        const admitted: number[] = [];
        for (const [p, at] of [...requests].sort((x, y) => x[1] - y[1])) {
          // Closed buckets are read once they have settled (a second after their end): the times here are far apart enough to be honest.
          if ((await procs[p]!(limit, 1_000_000_000 + at)).ok) admitted.push(at);
        }
        for (const start of admitted) {
          const inWindow = admitted.filter((t) => t >= start && t < start + 60_000).length;
          assert.ok(inWindow <= limit, `${inWindow} requests within 60 s of ${start} (limit ${limit})`);
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('Retry-After is exactly when a retry passes: a second earlier is still refused', async () => {
  const T0 = 1_000_000_000; // a bucket boundary
  const ledger = new LocalBudgetLedger();
  const [a, b] = [process(ledger, 64), process(ledger, 64)];
  assert.ok((await a(3, T0)).ok);
  assert.ok((await b(3, T0 + 1000)).ok);
  assert.ok((await a(3, T0 + 2000)).ok);
  const refused = await b(3, T0 + 5000);
  assert.equal(refused.ok, false);
  // The three sit in bucket 0; the window of bucket i counts buckets i−6 … i, so bucket 7 (70 s) is the first without them.
  assert.equal(refused.retryAfter, 65);
  assert.equal((await a(3, T0 + 5000 + 64_000)).ok, false);
  assert.ok((await b(3, T0 + 5000 + 65_000)).ok);
});

test('Retry-After counts only the buckets that must leave the window', () => {
  const T0 = 1_000_000_000;
  // Limit 4: two requests 50 s ago (bucket −5), two now; the older two leave after 2 buckets pass (at bucket +2).
  assert.equal(rateRetryAfter([0, 2, 0, 0, 0, 0, 2], 4, 1, T0 + 3000), 17);
  assert.equal(rateRetryAfter([0, 0, 0, 0, 0, 0, 4], 4, 1, T0), 70);
});
