import { type DeliverDeps, deliverMessage } from './deliver.js';
import type { DeliveryRecord } from './model.js';

/** A fresh delivery is left to its inline first attempt this long before the sweeper steps in. */
export const QUEUED_GRACE_MS = 10_000;

export interface SweepOptions {
  /** Most messages handled in one sweep, so one run fits its time budget. @default 200 */
  maxMessages?: number;
  /** Messages delivered at once. @default 8 */
  concurrency?: number;
}

export interface SweepResult {
  messages: number;
  delivered: number;
  deferred: number;
  failed: number;
  held: number;
}

/** Runs `work` over `items` with at most `limit` in flight. */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i] as T);
    }
  });
  await Promise.all(workers);
  return results;
}

/**
 * Finds deliveries that are due — deferred retries, leases of crashed workers, and queued mail
 * whose first attempt never ran — and attempts each of their messages once.
 */
export async function sweepDue(deps: DeliverDeps, options: SweepOptions = {}): Promise<SweepResult> {
  const maxMessages = options.maxMessages ?? 200;
  const now = deps.clock.now();
  const nowIso = now.toISOString();
  const ids = new Set<string>();
  const queries: Array<{ state: DeliveryRecord['state']; before: string }> = [
    { state: 'deferred', before: nowIso },
    { state: 'delivering', before: nowIso },
    { state: 'queued', before: new Date(now.getTime() - QUEUED_GRACE_MS).toISOString() },
  ];
  for (const q of queries) {
    let cursor: string | undefined;
    do {
      const page = await deps.store.queryByState({ ...q, limit: 100, cursor });
      for (const d of page.items) ids.add(d.messageId);
      cursor = page.cursor;
    } while (cursor && ids.size < maxMessages);
    if (ids.size >= maxMessages) break;
  }
  const chosen = [...ids].slice(0, maxMessages);
  const results = await mapWithConcurrency(chosen, options.concurrency ?? 8, (id) =>
    deliverMessage(id, deps),
  );
  const total: SweepResult = { messages: chosen.length, delivered: 0, deferred: 0, failed: 0, held: 0 };
  for (const r of results) {
    total.delivered += r.delivered;
    total.deferred += r.deferred;
    total.failed += r.failed;
    total.held += r.held;
  }
  if (chosen.length > 0) deps.log.info('sweep', { ...total });
  return total;
}
