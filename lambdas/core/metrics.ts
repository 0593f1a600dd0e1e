import type { MessageStore } from '../ports.js';
import { forEachInState } from './queue-ops.js';

export interface QueueMetrics {
  deferred: number;
  failed: number;
  held: number;
  /** Age of the oldest deferred delivery; 0 when none is deferred. */
  oldestDeferredAgeSeconds: number;
}

/** Figures the alarms watch: how much is stuck, and for how long. */
export async function queueMetrics(store: MessageStore, now: Date): Promise<QueueMetrics> {
  const m: QueueMetrics = { deferred: 0, failed: 0, held: 0, oldestDeferredAgeSeconds: 0 };
  await forEachInState(store, 'deferred', async (d) => {
    m.deferred++;
    const age = Math.max(0, Math.floor((now.getTime() - Date.parse(d.receivedAt)) / 1000));
    m.oldestDeferredAgeSeconds = Math.max(m.oldestDeferredAgeSeconds, age);
  });
  await forEachInState(store, 'failed', async () => {
    m.failed++;
  });
  await forEachInState(store, 'held', async () => {
    m.held++;
  });
  return m;
}
