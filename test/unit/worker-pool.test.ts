// The worker pool runs tasks off the event loop, stops a task past its deadline by replacing its
// worker, and refuses when its queue is full.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { PoolBusyError, PoolDeadlineError, WorkerPool } from '../../fargate-proxy/src/workers/worker-pool.js';

type Spin = { ms: number; value: string; fail?: boolean };
const pool = new WorkerPool<Spin, string>(new URL('../support/spin-worker.ts', import.meta.url), { size: 2, maxQueued: 2 });
after(() => pool.close());

test('tasks run on worker threads: the event loop stays free while they compute', async () => {
  await pool.run({ ms: 0, value: 'warm' }, 10_000); // the first start loads the worker
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const results = await Promise.all([pool.run({ ms: 400, value: 'a' }, 10_000), pool.run({ ms: 400, value: 'b' }, 10_000)]);
  delay.disable();
  assert.deepEqual(results, ['a', 'b']);
  assert.ok(delay.max / 1e6 < 200, `the event loop stalled for ${(delay.max / 1e6).toFixed(0)} ms`);
});

test('past its deadline a running task is rejected, its worker replaced, and the pool still serves', async () => {
  const t0 = Date.now();
  await assert.rejects(pool.run({ ms: 60_000, value: 'stuck' }, 300), PoolDeadlineError);
  assert.ok(Date.now() - t0 < 5000);
  await assert.rejects(pool.run({ ms: 0, value: 'x', fail: true }, 5000), /failed: x/);
  assert.equal(await pool.run({ ms: 0, value: 'after' }, 10_000), 'after');
});

test('a full queue refuses at once instead of growing', async () => {
  const running = [pool.run({ ms: 300, value: '1' }, 10_000), pool.run({ ms: 300, value: '2' }, 10_000)];
  const queued = [pool.run({ ms: 0, value: '3' }, 10_000), pool.run({ ms: 0, value: '4' }, 10_000)];
  await assert.rejects(pool.run({ ms: 0, value: '5' }, 10_000), PoolBusyError);
  assert.deepEqual(await Promise.all([...running, ...queued]), ['1', '2', '3', '4']);
});
