import os from 'node:os';
import { parentPort, type TransferListItem, Worker } from 'node:worker_threads';
import { LifeboatError } from '../../lambdas/core/errors.js';

/** Most workers a pool starts, whatever the machine: the work is a few ms a message, not a farm. */
export const MAX_POOL_WORKERS = 4;

/**
 * Workers for a machine: one core fewer than Node may use, as the main thread (SMTP, SQLite,
 * files) needs one of its own, and at least one.
 */
export function defaultPoolSize(): number {
  return Math.max(1, Math.min(MAX_POOL_WORKERS, os.availableParallelism() - 1));
}

/** The pool's queue is full: the caller should ask again later (the receiver answers 451). */
export class PoolBusyError extends LifeboatError {
  constructor(queued: number) {
    super('POOL_BUSY', `worker pool busy: ${queued} tasks already waiting`);
  }
}

/** The worker running a task died (an uncaught error, out of memory, terminated) before it answered. */
export class WorkerCrashedError extends LifeboatError {
  constructor(detail: string) {
    super('WORKER_CRASHED', `worker exited before answering: ${detail}`);
  }
}

/** A task was given to a pool that is closing or closed. */
export class PoolClosedError extends LifeboatError {
  constructor() {
    super('POOL_CLOSED', 'worker pool closed');
  }
}

/** The task threw inside its worker; the message is the worker's, the stack stays there. */
export class WorkerTaskError extends LifeboatError {
  constructor(message: string) {
    super('WORKER_TASK_FAILED', message);
  }
}

export interface WorkerPoolOptions {
  /** The worker's module: a `.ts` file is loaded through tsx, as `npm start` loads the runtime. */
  entry: URL;
  /** Workers started at most (each on first need). @default defaultPoolSize() */
  size?: number;
  /**
   * Tasks waiting for a worker beyond those running; past it `run` rejects with PoolBusyError at
   * once instead of queueing without bound (each waiting task holds its message in memory).
   */
  maxQueued: number;
  /** Given to every worker as `workerData`. */
  workerData?: unknown;
}

export interface PoolStats {
  workers: number;
  running: number;
  queued: number;
  /** Workers that died with a task or an uncaught error since the pool started; each was replaced. */
  crashed: number;
}

export interface WorkerPool<Task, Result> {
  /** Runs a task on a free worker, or queues it; rejects with the errors above. */
  run(task: Task, transfer?: readonly TransferListItem[]): Promise<Result>;
  /** Takes no new task, waits for the running and queued ones, then ends every worker. */
  close(): Promise<void>;
  stats(): PoolStats;
}

interface Job {
  id: number;
  task: unknown;
  transfer: readonly TransferListItem[];
  resolve(value: unknown): void;
  reject(err: Error): void;
}

type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; message: string };

interface Slot {
  worker: Worker;
  job: Job | undefined;
}

/** Loads a TypeScript worker module through tsx (see the file). */
const TS_WORKER = new URL('./ts-worker.mjs', import.meta.url);

function spawn(entry: URL, workerData: unknown): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, { workerData });
  return new Worker(TS_WORKER, { argv: [entry.href], workerData });
}

/**
 * A fixed set of worker threads for CPU-bound work the main thread should not do, one task per
 * worker at a time, with a bounded queue. Workers start on first need, so a runtime that takes
 * no mail starts none; a worker that dies fails only the task it was running and is replaced by
 * the next task that needs one. An idle worker does not keep the process alive.
 */
export function createWorkerPool<Task, Result>(options: WorkerPoolOptions): WorkerPool<Task, Result> {
  const size = options.size ?? defaultPoolSize();
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`pool size must be a positive integer: ${size}`);
  const slots: Slot[] = [];
  const queue: Job[] = [];
  let nextId = 1;
  let crashed = 0;
  let closing = false;
  let drained: (() => void) | undefined;

  const running = () => slots.filter((s) => s.job).length;

  function settleDrain(): void {
    if (closing && queue.length === 0 && running() === 0) drained?.();
  }

  function finish(slot: Slot, reply: Reply): void {
    const job = slot.job;
    if (!job || job.id !== reply.id) return;
    slot.job = undefined;
    slot.worker.unref();
    if (reply.ok) job.resolve(reply.value);
    else job.reject(new WorkerTaskError(reply.message));
    dispatch();
  }

  function startWorker(): Slot {
    const worker = spawn(options.entry, options.workerData);
    worker.unref();
    const slot: Slot = { worker, job: undefined };
    let reason = 'exited';
    worker.on('message', (reply: Reply) => finish(slot, reply));
    worker.on('error', (err) => {
      reason = err.message;
    });
    worker.on('exit', (code) => {
      const at = slots.indexOf(slot);
      if (at !== -1) slots.splice(at, 1);
      if (closing && !slot.job) return;
      crashed++;
      const job = slot.job;
      slot.job = undefined;
      job?.reject(new WorkerCrashedError(`${reason} (exit code ${code})`));
      dispatch();
    });
    slots.push(slot);
    return slot;
  }

  function dispatch(): void {
    while (queue.length > 0) {
      const slot = slots.find((s) => !s.job) ?? (slots.length < size ? startWorker() : undefined);
      if (!slot) break;
      const job = queue.shift() as Job;
      slot.job = job;
      // A worker with a task keeps the process alive until it answers; an idle one never does.
      slot.worker.ref();
      slot.worker.postMessage({ id: job.id, task: job.task }, job.transfer);
    }
    settleDrain();
  }

  return {
    run(task, transfer = []) {
      if (closing) return Promise.reject(new PoolClosedError());
      const idle = slots.some((s) => !s.job) || slots.length < size;
      if (!idle && queue.length >= options.maxQueued) return Promise.reject(new PoolBusyError(queue.length));
      return new Promise<Result>((resolve, reject) => {
        queue.push({ id: nextId++, task, transfer, resolve: resolve as (v: unknown) => void, reject });
        dispatch();
      });
    },
    async close() {
      if (!closing) {
        closing = true;
        await new Promise<void>((resolve) => {
          drained = resolve;
          settleDrain();
        });
      }
      await Promise.all(slots.map((s) => s.worker.terminate()));
    },
    stats: () => ({ workers: slots.length, running: running(), queued: queue.length, crashed }),
  };
}

/**
 * The worker side: answers each task the pool posts with `handle`'s result, or with the message
 * of what it threw. Call once, at the top of the worker's module.
 */
export function serveTasks<Task, Result>(handle: (task: Task) => Promise<Result> | Result): void {
  const port = parentPort;
  if (!port) throw new Error('serveTasks runs in a worker thread');
  port.on('message', ({ id, task }: { id: number; task: Task }) => {
    Promise.resolve()
      .then(() => handle(task))
      .then(
        (value) => port.postMessage({ id, ok: true, value } satisfies Reply),
        (err: unknown) =>
          port.postMessage({
            id,
            ok: false,
            message: err instanceof Error ? err.message : String(err),
          } satisfies Reply),
      );
  });
}
