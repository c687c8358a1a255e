// A small pool of worker threads for CPU-heavy tasks that must not run on the event loop (parsing a
// multi-megabyte statement takes seconds). Each task has a deadline counted from submission: past
// it the task is rejected and, if it was running, its worker is terminated and replaced, so one
// pathological input cannot occupy a worker for ever. The queue is bounded: a full pool refuses.
import { Worker, type TransferListItem } from 'node:worker_threads';

export class PoolDeadlineError extends Error {}
export class PoolBusyError extends Error {}

/** What a worker script posts back for each message it receives. */
export type WorkerReply<Out> = { ok: true; value: Out } | { ok: false; error: string };

interface Task<In, Out> {
  input: In;
  /** Buffers moved to the worker with the input rather than copied (the caller gives them up). */
  transfer?: TransferListItem[];
  resolve(value: Out): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
  slot?: Slot<In, Out>;
}

interface Slot<In, Out> {
  worker: Worker;
  task?: Task<In, Out>;
}

export interface WorkerPoolOptions {
  /** Worker threads, started on first use. */
  size: number;
  /** Tasks allowed to wait for a free worker; beyond it `run` rejects with PoolBusyError. */
  maxQueued: number;
}

/**
 * A worker for a module file. Compiled, it is the file itself; run from TypeScript source (tests,
 * `npm start`), the thread first registers the same TypeScript loader (tsx) the process runs with.
 */
function startWorker(file: URL): Worker {
  if (!file.pathname.endsWith('.ts')) return new Worker(file);
  // Resolved here, not in the thread: an eval'd worker resolves bare names from the working directory.
  const tsx = import.meta.resolve('tsx/esm/api');
  return new Worker(`import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(file.href)}); });`, { eval: true });
}

export class WorkerPool<In, Out> {
  readonly #file: URL;
  readonly #o: WorkerPoolOptions;
  readonly #slots: Slot<In, Out>[] = [];
  readonly #queue: Task<In, Out>[] = [];
  #closed = false;

  constructor(file: URL, options: WorkerPoolOptions) {
    this.#file = file;
    this.#o = options;
  }

  run(input: In, deadlineMs: number, transfer?: TransferListItem[]): Promise<Out> {
    if (this.#closed) return Promise.reject(new Error('the worker pool is closed'));
    if (this.#queue.length >= this.#o.maxQueued) return Promise.reject(new PoolBusyError(`all ${this.#o.size} workers are busy and ${this.#queue.length} tasks wait`));
    return new Promise<Out>((resolve, reject) => {
      const task: Task<In, Out> = { input, transfer, resolve, reject, timer: undefined as unknown as NodeJS.Timeout };
      task.timer = setTimeout(() => this.#expire(task, deadlineMs), deadlineMs);
      this.#queue.push(task);
      this.#dispatch();
    });
  }

  /** Stops every worker; waiting and running tasks are rejected. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#queue.splice(0)) this.#settle(t, new Error('the worker pool is closed'));
    await Promise.all(
      this.#slots.splice(0).map((s) => {
        if (s.task) this.#settle(s.task, new Error('the worker pool is closed'));
        return s.worker.terminate();
      }),
    );
  }

  #dispatch(): void {
    while (this.#queue.length) {
      let slot = this.#slots.find((s) => !s.task);
      if (!slot) {
        if (this.#slots.length >= this.#o.size) return;
        slot = this.#spawn();
      }
      const task = this.#queue.shift()!;
      slot.task = task;
      task.slot = slot;
      slot.worker.postMessage(task.input, task.transfer);
    }
  }

  #spawn(): Slot<In, Out> {
    const worker = startWorker(this.#file);
    const slot: Slot<In, Out> = { worker };
    worker.on('message', (reply: WorkerReply<Out>) => {
      const task = slot.task;
      slot.task = undefined;
      if (task) this.#settle(task, reply.ok ? undefined : new Error(reply.error), reply.ok ? reply.value : undefined);
      this.#dispatch();
    });
    const lost = (why: string): void => {
      const i = this.#slots.indexOf(slot);
      if (i < 0) return;
      this.#slots.splice(i, 1);
      if (slot.task) this.#settle(slot.task, new Error(why));
      slot.task = undefined;
      if (!this.#closed) this.#dispatch();
    };
    worker.on('error', (err) => lost(`worker failed: ${err.message}`));
    worker.on('exit', (code) => lost(`worker exited (${code})`));
    // Idle workers never keep the process alive. After the listeners: adding a 'message' listener
    // refs the worker's port again.
    worker.unref();
    this.#slots.push(slot);
    return slot;
  }

  #expire(task: Task<In, Out>, deadlineMs: number): void {
    const waiting = this.#queue.indexOf(task);
    if (waiting >= 0) this.#queue.splice(waiting, 1);
    const slot = task.slot;
    if (slot && slot.task === task) {
      // The only way to stop a synchronous computation: the worker goes, a fresh one replaces it.
      slot.task = undefined;
      this.#slots.splice(this.#slots.indexOf(slot), 1);
      void slot.worker.terminate();
      this.#dispatch();
    }
    task.reject(new PoolDeadlineError(`not done within ${deadlineMs} ms`));
  }

  #settle(task: Task<In, Out>, err: Error | undefined, value?: Out): void {
    clearTimeout(task.timer);
    if (err) task.reject(err);
    else task.resolve(value as Out);
  }
}
