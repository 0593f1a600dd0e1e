import type { MessageStore } from '../ports.js';

export interface QueueMetrics {
  deferred: number;
  failed: number;
  held: number;
  /** Age of the oldest deferred delivery; 0 when none is deferred. */
  oldestDeferredAgeSeconds: number;
}

/**
 * Figures the alarms watch: how much is stuck, and for how long. Read from the store's per-state
 * counters and one indexed read per route, so the cost stays flat however long the queue grows.
 */
export async function queueMetrics(
  store: MessageStore,
  routes: readonly { name: string }[],
  now: Date,
): Promise<QueueMetrics> {
  const counts = await store.countByState();
  let oldestDeferredAgeSeconds = 0;
  for (const route of routes) {
    const arrival = await store.oldestDeferred(route.name);
    if (!arrival) continue;
    const age = Math.max(0, Math.floor((now.getTime() - Date.parse(arrival)) / 1000));
    oldestDeferredAgeSeconds = Math.max(oldestDeferredAgeSeconds, age);
  }
  return { deferred: counts.deferred, failed: counts.failed, held: counts.held, oldestDeferredAgeSeconds };
}
