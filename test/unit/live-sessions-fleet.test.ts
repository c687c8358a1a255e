// The live-session registry in a fleet (fargate-proxy/src/tasks/live-sessions.ts): a session takes
// its task's and its agent's fleet-wide slots, all or none; a count that cannot be reached refuses
// the login (budget_exceeded, which each protocol delivers as its login refusal) and a rate that
// cannot be reached refuses the request; a process that lost its slot ends the sessions it counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Principal } from '../../core/model.js';
import type { Refusal } from '../../core/refusal.js';
import { emptyUsage } from '../../core/task/budget.js';
import { LocalBudgetLedger, type BudgetLedger } from '../../core/task/lease.js';
import { BudgetMeter } from '../../core/task/meter.js';
import { LocalSlotLedger, type SlotLedger } from '../../core/task/slots.js';
import type { Task } from '../../core/task/types.js';
import { LiveSessions } from '../../fargate-proxy/src/tasks/live-sessions.js';

const task = (budget: Task['budget']): Task =>
  ({ id: 't-1', principalId: 'agent-1', issuer: 'https://idp', title: 'x', targets: ['app'], scope: [], budget, usage: emptyUsage(), status: 'active', createdAt: 0, expiresAt: Date.now() + 600_000 }) as unknown as Task;
const agent = (t?: Task): Principal => ({ id: 'agent-1', groups: ['agents'], issuer: 'https://idp', ...(t ? { task: t } : {}) });
const session = (id: string, principal: Principal, ended: Refusal[] = []) => ({ sessionId: id, principal, target: 'app', protocol: 'postgres', startedAt: Date.now(), end: (r: Refusal) => ended.push(r) });
const unreachable = <T extends object>(): T => new Proxy({}, { get: () => async () => Promise.reject(new Error('connect ECONNREFUSED')) }) as T;

test('two processes sharing the slot counts: a task\'s sessions are counted across both, and the agent\'s too (all or none)', async () => {
  const slots = new LocalSlotLedger();
  const meter = () => new BudgetMeter({ rules: [{ principal: 'agent-1', budget: { concurrentSessions: 2 } }] });
  const a = new LiveSessions(meter(), new LocalBudgetLedger(), undefined, { ledger: slots, holder: 'a', staleMs: 60_000 });
  const b = new LiveSessions(meter(), new LocalBudgetLedger(), undefined, { ledger: slots, holder: 'b', staleMs: 60_000 });
  const t = task({ concurrentSessions: 1 });
  const first = await a.admit(session('s1', agent(t)));
  assert.ok(first.ok);
  const second = await b.admit(session('s2', agent(t)));
  assert.equal(second.ok, false);
  assert.match(!second.ok ? second.refusal.message : '', /task t-1 already has 1 session\(s\) open across the fleet/);
  // The task's slot was refused: the agent's was not taken for it (one held by a, none by b).
  assert.equal((await slots.read('agent#["https://idp","agent-1"]/concurrentSessions')).total, 1);
  // Without a task the agent's own limit (2) applies across both processes.
  assert.ok((await b.admit(session('s3', agent()))).ok);
  // A task with a slot free, but the agent's are all held: refused, and the task's slot goes back.
  const t2 = { ...task({ concurrentSessions: 1 }), id: 't-2' };
  const third = await a.admit(session('s4', agent(t2)));
  assert.equal(third.ok, false);
  assert.match(!third.ok ? third.refusal.message : '', /agent agent-1 already has 2 session\(s\) open across the fleet/);
  await new Promise((r) => setImmediate(r));
  assert.equal((await slots.read('task#t-2/concurrentSessions')).total, 0, 'all or none');
  if (first.ok) first.release();
  await new Promise((r) => setImmediate(r));
  assert.equal((await slots.read('task#t-1/concurrentSessions')).total, 0, 'released, the task\'s slot went back');
});

test('a slot count that cannot be reached refuses the login (fail closed)', async () => {
  const errors: string[] = [];
  const live = new LiveSessions(new BudgetMeter(), new LocalBudgetLedger(), (err) => errors.push(err.message), { ledger: unreachable<SlotLedger>(), holder: 'a', staleMs: 60_000 });
  const admission = await live.admit(session('s1', agent(task({ concurrentSessions: 5 }))));
  assert.equal(admission.ok, false);
  if (admission.ok) return;
  assert.equal(admission.refusal.code, 'budget_exceeded');
  assert.equal(admission.refusal.next?.budget, 'concurrentSessions');
  assert.match(admission.refusal.message, /cannot be reached/);
  assert.deepEqual(errors, ['connect ECONNREFUSED']);
  assert.equal(live.list().length, 0);
  // Nothing budgeted: nothing to ask the fleet, the session is admitted.
  assert.ok((await live.admit(session('s2', agent(task({}))))).ok);
});

test('a rate ledger that cannot be reached refuses the request (fail closed), and the local count is taken back', async () => {
  const live = new LiveSessions(new BudgetMeter(), unreachable<BudgetLedger>(), () => undefined);
  const t = task({ requestsPerMinute: 100 });
  const p = agent(t);
  assert.ok((await live.admit(session('s1', p))).ok);
  assert.equal(live.charge(p, 'requests'), undefined);
  const refused = await live.chargeFleetRate('s1', p);
  assert.equal(refused?.code, 'budget_exceeded');
  assert.equal(refused?.next?.budget, 'requestsPerMinute');
  assert.ok((refused?.next?.retryAfterSeconds ?? 0) > 0);
  assert.equal(t.usage.requests, 0, 'the refused request is not counted');
});

test('a process whose slot the fleet reclaimed ends the sessions it counted there', async () => {
  let now = 1_000_000;
  const slots = new LocalSlotLedger();
  const ended: Refusal[] = [];
  const a = new LiveSessions(new BudgetMeter(), new LocalBudgetLedger(), undefined, { ledger: slots, holder: 'a', staleMs: 5000 });
  const t = task({ concurrentSessions: 1 });
  assert.ok((await a.admit(session('s1', agent(t), ended))).ok);
  // a stalls; b finds the count full and a's entry stale, and reclaims it.
  const seen = (await slots.read('task#t-1/concurrentSessions')).holders.a!;
  now += 10_000;
  assert.ok(await slots.reclaim('task#t-1/concurrentSessions', 'a', seen));
  assert.ok(await slots.take('task#t-1/concurrentSessions', 1, 'b', 0, now));
  await a.heartbeat();
  assert.equal(ended.length, 1);
  assert.equal(ended[0]!.code, 'budget_exceeded');
  assert.equal(a.list().length, 0);
});

test('a kill given while the fleet count is being asked still reaches the login: refused, and its slot goes back', async () => {
  const inner = new LocalSlotLedger();
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const slow: SlotLedger = {
    read: (k) => inner.read(k),
    take: async (k, l, h, p, b) => gate.then(() => inner.take(k, l, h, p, b)),
    give: (k, h, p, b) => inner.give(k, h, p, b),
    beat: (k, h, n, b) => inner.beat(k, h, n, b),
    reclaim: (k, h, e) => inner.reclaim(k, h, e),
  };
  const live = new LiveSessions(new BudgetMeter(), new LocalBudgetLedger(), undefined, { ledger: slow, holder: 'a', staleMs: 60_000 });
  const pending = live.admit(session('s1', agent(task({ concurrentSessions: 1 }))));
  live.killPrincipal('agent-1', { code: 'session_killed', message: 'session ended by rev: incident' });
  open();
  const admission = await pending;
  assert.equal(admission.ok, false);
  assert.equal(!admission.ok && admission.refusal.code, 'session_killed');
  await new Promise((r) => setImmediate(r));
  assert.equal((await inner.read('task#t-1/concurrentSessions')).total, 0);
  assert.equal(live.list().length, 0);
});

test('with rates counted in the fleet, the process keeps no rolling minute of its own (its Retry-After would not be the fleet\'s)', async () => {
  const ledger = new LocalBudgetLedger();
  const live = new LiveSessions(new BudgetMeter({ ratesInFleet: true }), ledger, () => undefined);
  const p = agent(task({ requestsPerMinute: 1 }));
  assert.ok((await live.admit(session('s1', p))).ok);
  assert.equal(live.charge(p, 'requests'), undefined);
  assert.equal(await live.chargeFleetRate('s1', p), undefined);
  assert.equal(live.charge(p, 'requests'), undefined, 'the local meter leaves the decision to the fleet');
  const refused = await live.chargeFleetRate('s1', p);
  assert.equal(refused?.next?.budget, 'requestsPerMinute');
  assert.ok((refused?.next?.retryAfterSeconds ?? 0) > 50, 'the fleet\'s window: up to 70 s');
});
