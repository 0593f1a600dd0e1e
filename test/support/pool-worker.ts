/**
 * A worker for the worker pool's tests: each task names what the worker does with it, so a test
 * can make a worker answer, throw, hang until released, or die.
 */
import { serveTasks } from '../../infra/local/worker-pool.js';

export type PoolTestTask =
  | { do: 'echo'; value: unknown }
  | { do: 'throw'; message: string }
  | { do: 'wait'; ms: number; value: unknown }
  | { do: 'exit'; code: number }
  | { do: 'thread' };

const { threadId } = await import('node:worker_threads');

serveTasks(async (task: PoolTestTask) => {
  switch (task.do) {
    case 'echo':
      return task.value;
    case 'throw':
      throw new Error(task.message);
    case 'wait':
      await new Promise((r) => setTimeout(r, task.ms));
      return task.value;
    case 'exit':
      process.exit(task.code);
      return undefined;
    case 'thread':
      return threadId;
  }
});
