// A worker for the worker pool's tests: busy for `ms` on its own thread, then echoes `value`.
import { parentPort } from 'node:worker_threads';

parentPort!.on('message', (task: { ms: number; value: string; fail?: boolean }) => {
  const until = Date.now() + task.ms;
  while (Date.now() < until) {
    // spin: a synchronous computation only terminating the thread can stop
  }
  parentPort!.postMessage(task.fail ? { ok: false, error: `failed: ${task.value}` } : { ok: true, value: task.value });
});
