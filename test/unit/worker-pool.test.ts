import { afterEach, describe, expect, it } from 'vitest';
import {
  createWorkerPool,
  PoolBusyError,
  PoolClosedError,
  WorkerCrashedError,
  type WorkerPool,
  WorkerTaskError,
} from '../../infra/local/worker-pool.js';
import type { PoolTestTask } from '../support/pool-worker.js';

const ENTRY = new URL('../support/pool-worker.ts', import.meta.url);

let pool: WorkerPool<PoolTestTask, unknown> | undefined;
const open = (size: number, maxQueued: number) => {
  pool = createWorkerPool<PoolTestTask, unknown>({ entry: ENTRY, size, maxQueued });
  return pool;
};

afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

describe('createWorkerPool', () => {
  it('runs a task on a worker thread and answers with its result', async () => {
    const p = open(1, 4);
    await expect(p.run({ do: 'echo', value: { a: [1, 2] } })).resolves.toEqual({ a: [1, 2] });
    const thread = await p.run({ do: 'thread' });
    expect(thread).toBeGreaterThan(0);
  });

  it('starts no worker before the first task', () => {
    const p = open(2, 4);
    expect(p.stats().workers).toBe(0);
  });

  it('rejects with the worker error message when a task throws, and keeps the worker', async () => {
    const p = open(1, 4);
    const failed = p.run({ do: 'throw', message: 'bad input' });
    await expect(failed).rejects.toBeInstanceOf(WorkerTaskError);
    await expect(failed).rejects.toThrow('bad input');
    await expect(p.run({ do: 'echo', value: 7 })).resolves.toBe(7);
    expect(p.stats()).toMatchObject({ workers: 1, crashed: 0 });
  });

  it('fails only the task of a worker that dies, and replaces the worker for the next', async () => {
    const p = open(1, 4);
    const before = await p.run({ do: 'thread' });
    const crash = p.run({ do: 'exit', code: 3 });
    const queued = p.run({ do: 'echo', value: 'after' });
    await expect(crash).rejects.toBeInstanceOf(WorkerCrashedError);
    // A task queued behind the crash runs on the replacement.
    await expect(queued).resolves.toBe('after');
    const after = await p.run({ do: 'thread' });
    expect(after).not.toBe(before);
    expect(p.stats().crashed).toBe(1);
  });

  it('uses every worker of its size at once', async () => {
    const p = open(2, 4);
    const threads = await Promise.all([
      p.run({ do: 'wait', ms: 200, value: 'a' }).then(() => p.stats().workers),
      p.run({ do: 'wait', ms: 200, value: 'b' }),
    ]);
    expect(threads[0]).toBe(2);
  });

  it('refuses a task at once when every worker is busy and the queue is full', async () => {
    const p = open(1, 1);
    const running = p.run({ do: 'wait', ms: 300, value: 'running' });
    const waiting = p.run({ do: 'echo', value: 'waiting' });
    await expect(p.run({ do: 'echo', value: 'refused' })).rejects.toBeInstanceOf(PoolBusyError);
    await expect(running).resolves.toBe('running');
    await expect(waiting).resolves.toBe('waiting');
    // Room again once the queue drained.
    await expect(p.run({ do: 'echo', value: 'again' })).resolves.toBe('again');
  });

  it('finishes the running and queued tasks at close, refuses new ones and ends its workers', async () => {
    const p = open(1, 4);
    const running = p.run({ do: 'wait', ms: 200, value: 'running' });
    const queued = p.run({ do: 'echo', value: 'queued' });
    const closed = p.close();
    await expect(p.run({ do: 'echo', value: 'late' })).rejects.toBeInstanceOf(PoolClosedError);
    await closed;
    await expect(running).resolves.toBe('running');
    await expect(queued).resolves.toBe('queued');
    expect(p.stats().workers).toBe(0);
  });
});
