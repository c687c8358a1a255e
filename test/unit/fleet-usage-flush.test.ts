// What a task did, counted fleet-wide (fargate-proxy/src/tasks/live-sessions.ts `flushUsage`): each
// process adds to the shared ledger what its sessions' tasks did since its last flush — once per task
// object however many sessions share it, the last deltas of sessions that ended, and what the ledger
// refused sent again at the next flush, so the fleet's count is exact: never lost, never doubled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Principal } from '../../core/model.js';
import { emptyUsage } from '../../core/task/budget.js';
import { LocalBudgetLedger, fleetUsageKey, type BudgetLedger } from '../../core/task/lease.js';
import { BudgetMeter } from '../../core/task/meter.js';
import { USAGE_COUNTERS, type Task, type TaskUsage } from '../../core/task/types.js';
import { LiveSessions } from '../../fargate-proxy/src/tasks/live-sessions.js';

/** A fresh copy of task t-1, as each session of a fleet reads it from the shared store. */
const copy = (): Task =>
  ({ id: 't-1', principalId: 'agent-1', issuer: 'https://idp', title: 'x', targets: ['app'], scope: [], budget: {}, usage: emptyUsage(), status: 'active', createdAt: 0, expiresAt: Date.now() + 600_000 }) as unknown as Task;
const agent = (t: Task): Principal => ({ id: 'agent-1', groups: ['agents'], issuer: 'https://idp', task: t });
const session = (id: string, t: Task) => ({ sessionId: id, principal: agent(t), target: 'app', protocol: 'postgres', startedAt: Date.now(), end: () => undefined });

async function admit(live: LiveSessions, id: string, t: Task): Promise<() => void> {
  const a = await live.admit(session(id, t));
  assert.ok(a.ok);
  return a.release;
}

/** The fleet's count of every counter of t-1. */
async function counted(ledger: BudgetLedger): Promise<Partial<TaskUsage>> {
  const out: Partial<TaskUsage> = {};
  for (const c of USAGE_COUNTERS) {
    const n = await ledger.used(fleetUsageKey('t-1', c));
    if (n) out[c] = n;
  }
  return out;
}

/** The local ledger, whose `add` fails while `down` is set. */
function flaky(inner: BudgetLedger) {
  const state = { down: false, adds: 0 };
  const ledger: BudgetLedger = {
    lease: (k, l, n) => inner.lease(k, l, n),
    used: (k) => inner.used(k),
    giveBack: (k, n) => inner.giveBack(k, n),
    add: async (k, n) => {
      state.adds++;
      if (state.down) throw new Error('connect ECONNREFUSED');
      await inner.add(k, n);
    },
  };
  return { ledger, state };
}

test('two processes: sessions sharing one task object are counted once, each process adds only what is new', async () => {
  const ledger = new LocalBudgetLedger();
  const a = new LiveSessions(new BudgetMeter(), ledger);
  const b = new LiveSessions(new BudgetMeter(), ledger);
  const shared = copy();
  await admit(a, 's1', shared);
  await admit(a, 's2', shared);
  shared.usage.statements += 3;
  shared.usage.refusals += 1;
  shared.usage.rowsReturned += 7;
  const own = copy();
  await admit(b, 's3', own);
  own.usage.statements += 2;
  own.usage.bytesRead += 100;
  await Promise.all([a.flushUsage(), b.flushUsage()]);
  assert.deepEqual(await counted(ledger), { statements: 5, rowsReturned: 7, bytesRead: 100, refusals: 1, sessions: 3 });
  // Nothing new: nothing added.
  await Promise.all([a.flushUsage(), b.flushUsage()]);
  assert.deepEqual(await counted(ledger), { statements: 5, rowsReturned: 7, bytesRead: 100, refusals: 1, sessions: 3 });
  // A count undone (a statement charged, then not run) is taken back.
  shared.usage.statements += 1;
  own.usage.statements -= 1;
  own.usage.commands += 4;
  await Promise.all([a.flushUsage(), b.flushUsage()]);
  assert.deepEqual(await counted(ledger), { statements: 5, rowsReturned: 7, bytesRead: 100, commands: 4, refusals: 1, sessions: 3 });
});

test('sessions that ended since the last flush: their last deltas are added, once', async () => {
  const ledger = new LocalBudgetLedger();
  const live = new LiveSessions(new BudgetMeter(), ledger);
  const t1 = copy();
  const release = await admit(live, 's1', t1);
  t1.usage.statements += 2;
  release();
  const t2 = copy();
  await admit(live, 's2', t2);
  t2.usage.statements += 5;
  t2.usage.refusals += 1;
  // The task's close (or its expiry, or the kill switch) ends the session.
  assert.deepEqual(live.endTask('t-1', { code: 'task_expired', message: 'ended' }), ['s2']);
  assert.equal(live.list().length, 0);
  await live.flushUsage();
  assert.deepEqual(await counted(ledger), { statements: 7, refusals: 1, sessions: 2 });
  await live.flushUsage();
  assert.deepEqual(await counted(ledger), { statements: 7, refusals: 1, sessions: 2 });
});

test('an add the ledger refuses is kept and sent at the next flush: nothing lost, nothing doubled', async () => {
  const local = new LocalBudgetLedger();
  const { ledger, state } = flaky(local);
  const live = new LiveSessions(new BudgetMeter(), ledger);
  const t = copy();
  await admit(live, 's1', t);
  t.usage.statements += 3;
  state.down = true;
  await assert.rejects(live.flushUsage(), /could not be added to the fleet ledger.*ECONNREFUSED/);
  assert.deepEqual(await counted(local), {});
  t.usage.statements += 1;
  // The session ends while the ledger is down: its deltas are not lost either.
  live.endTask('t-1', { code: 'task_expired', message: 'ended' });
  await assert.rejects(live.flushUsage());
  state.down = false;
  await live.flushUsage();
  assert.deepEqual(await counted(local), { statements: 4, sessions: 1 });
  const adds = state.adds;
  await live.flushUsage();
  assert.equal(state.adds, adds, 'nothing left to send');
  assert.deepEqual(await counted(local), { statements: 4, sessions: 1 });
});

test('the process ends: releaseAll adds what its live sessions did since the last poll', async () => {
  const ledger = new LocalBudgetLedger();
  const live = new LiveSessions(new BudgetMeter(), ledger);
  const t = copy();
  await admit(live, 's1', t);
  t.usage.rowsAffected += 9;
  await live.releaseAll();
  assert.deepEqual(await counted(ledger), { rowsAffected: 9, sessions: 1 });
});
