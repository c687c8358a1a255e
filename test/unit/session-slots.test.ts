// Concurrent sessions counted fleet-wide (core/task/slots.ts): across any interleaving of K processes'
// admissions, releases and heartbeats, the fleet never has more sessions admitted than the limit;
// once all are released the count is 0; a crashed process's slots are reclaimed once its heartbeat is
// stale, never before; a process that finds its slots reclaimed ends the sessions it counted there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LocalSlotLedger, SessionSlots, type SlotLedger } from '../../core/task/slots.js';

const KEY = 'task#t/concurrentSessions';

/** The local ledger, each call delayed until the scheduler lets it run: the interleaving is fast-check's. */
function scheduled(s: fc.Scheduler, inner: SlotLedger): SlotLedger {
  const later = <T>(op: () => Promise<T>) => s.schedule(Promise.resolve()).then(op);
  return {
    read: (k) => later(() => inner.read(k)),
    take: (k, l, h, p, b) => later(() => inner.take(k, l, h, p, b)),
    give: (k, h, p, b) => later(() => inner.give(k, h, p, b)),
    beat: (k, h, n, b) => later(() => inner.beat(k, h, n, b)),
    reclaim: (k, h, e) => later(() => inner.reclaim(k, h, e)),
  };
}

test('across any interleaving of K processes admitting and releasing, never more sessions than the limit; all released, the count is 0', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.scheduler(),
      fc.integer({ min: 0, max: 4 }),
      // Each process: a run of steps, admit (true) or release one of its sessions (false), with heartbeats between.
      fc.array(fc.array(fc.constantFrom('admit', 'release', 'beat'), { maxLength: 10 }), { minLength: 1, maxLength: 4 }),
      async (s, limit, processes) => {
        const inner = new LocalSlotLedger();
        const ledger = scheduled(s, inner);
        let live = 0;
        let maxLive = 0;
        const runs = processes.map(async (steps, i) => {
          const slots = new SessionSlots(ledger, { holder: `p${i}`, staleMs: 60_000, onLost: () => assert.fail('no live holder is reclaimed') });
          let mine = 0;
          const pending: Promise<unknown>[] = [];
          for (const step of steps) {
            if (step === 'admit') {
              // Admissions of one process run concurrently too (several logins at once).
              pending.push(
                slots.admit(KEY, limit).then((ok) => {
                  if (!ok) return;
                  mine++;
                  live++;
                  maxLive = Math.max(maxLive, live);
                  assert.ok(live <= limit, `${live} sessions admitted with a limit of ${limit}`);
                }),
              );
            } else if (step === 'release') {
              await Promise.all(pending.splice(0));
              if (mine === 0) continue;
              mine--;
              live--;
              pending.push(slots.release(KEY));
            } else pending.push(slots.heartbeat());
          }
          await Promise.all(pending.splice(0));
          while (mine-- > 0) {
            live--;
            await slots.release(KEY);
          }
        });
        await s.waitFor(Promise.all(runs));
        assert.ok(maxLive <= limit);
        const c = await inner.read(KEY);
        assert.equal(c.total, 0, 'every slot went back');
        assert.deepEqual(c.holders, {});
      },
    ),
    { numRuns: 300 },
  );
});

test('a crashed process\'s slots are reclaimed once its heartbeat is stale, not before', async () => {
  let now = 1_000_000;
  const ledger = new LocalSlotLedger();
  const a = new SessionSlots(ledger, { holder: 'a', staleMs: 6000, now: () => now });
  const b = new SessionSlots(ledger, { holder: 'b', staleMs: 6000, now: () => now });
  assert.equal(await a.admit(KEY, 2), true);
  assert.equal(await a.admit(KEY, 2), true);
  assert.equal(await b.admit(KEY, 2), false, 'the count is full');
  // `a` heartbeats and then crashes (it is never heard from again).
  now += 5000;
  await a.heartbeat();
  now += 5999;
  assert.equal(await b.admit(KEY, 2), false, 'within the stale window a silent holder still counts');
  now += 2;
  assert.equal(await b.admit(KEY, 2), true, 'past it, its slots are reclaimed');
  assert.equal(await b.admit(KEY, 2), true);
  assert.equal(await b.admit(KEY, 2), false, 'and the limit still holds');
  assert.deepEqual((await ledger.read(KEY)).holders, { b: { n: 2, beat: now } });
});

test('a reclaim is conditional on the heartbeat seen: a holder that heartbeat meanwhile keeps its slot', async () => {
  const ledger = new LocalSlotLedger();
  assert.equal(await ledger.take(KEY, 1, 'a', 0, 100), true);
  const seen = (await ledger.read(KEY)).holders.a!;
  assert.equal(await ledger.beat(KEY, 'a', 1, 200), true);
  assert.equal(await ledger.reclaim(KEY, 'a', seen), false);
  assert.equal((await ledger.read(KEY)).total, 1);
});

test('a process that finds its slots reclaimed (it stalled past the stale window) ends the sessions it counted, and the count stays exact', async () => {
  let now = 1_000_000;
  const ledger = new LocalSlotLedger();
  const lost: string[] = [];
  const a = new SessionSlots(ledger, { holder: 'a', staleMs: 6000, now: () => now, onLost: (k) => lost.push(k) });
  const b = new SessionSlots(ledger, { holder: 'b', staleMs: 6000, now: () => now });
  assert.equal(await a.admit(KEY, 1), true);
  now += 10_000;
  assert.equal(await b.admit(KEY, 1), true, 'a stalled: b reclaims its slot');
  await a.heartbeat();
  assert.deepEqual(lost, [KEY], 'a learns at its next heartbeat');
  await a.release(KEY);
  assert.deepEqual(await ledger.read(KEY), { total: 1, holders: { b: { n: 1, beat: now } } }, 'a\'s release does not lower b\'s count');
});

test('a ledger that cannot be reached admits no one (the caller refuses the login)', async () => {
  const broken: SlotLedger = {
    read: async () => Promise.reject(new Error('unreachable')),
    take: async () => Promise.reject(new Error('unreachable')),
    give: async () => Promise.reject(new Error('unreachable')),
    beat: async () => Promise.reject(new Error('unreachable')),
    reclaim: async () => Promise.reject(new Error('unreachable')),
  };
  await assert.rejects(new SessionSlots(broken, { holder: 'a', staleMs: 1 }).admit(KEY, 5), /unreachable/);
});

test('a release whose write failed is given back at the next heartbeat', async () => {
  const inner = new LocalSlotLedger();
  let failGive = true;
  const flaky: SlotLedger = {
    read: (k) => inner.read(k),
    take: (k, l, h, p, b) => inner.take(k, l, h, p, b),
    give: async (k, h, p, b) => (failGive ? Promise.reject(new Error('timeout')) : inner.give(k, h, p, b)),
    beat: (k, h, n, b) => inner.beat(k, h, n, b),
    reclaim: (k, h, e) => inner.reclaim(k, h, e),
  };
  const a = new SessionSlots(flaky, { holder: 'a', staleMs: 6000 });
  assert.equal(await a.admit(KEY, 1), true);
  await assert.rejects(a.release(KEY));
  assert.equal((await inner.read(KEY)).total, 1);
  failGive = false;
  await a.heartbeat();
  assert.equal((await inner.read(KEY)).total, 0);
});
