import type { Clock, Logger, MessageStore } from '../ports.js';
import type { LifeboatConfig } from './config.js';
import { reclaimDelivery } from './delivery-state.js';
import { ConflictError } from './errors.js';
import { holdReasonFor } from './holds.js';
import type { DeliveryRecord } from './model.js';
import { forEachInState } from './queue-ops.js';

export interface ReclaimDeps {
  store: MessageStore;
  clock: Clock;
  log: Logger;
  config: LifeboatConfig;
}

/**
 * Takes back at once every delivery a stopped process left `delivering`, instead of waiting out
 * its lease. Only for the single-node runtime, at start-up, before it sends anything: one
 * machine, one runtime, so no live worker holds any of them.
 *
 * A delivery whose route is held (a continuity hold, whether still holding or draining for a
 * hand-over) goes back to held under that hold's reason: it is older than anything held after
 * it, so the hand-over sends it first. Any other goes back to the queue, due now. Its attempt may
 * have reached the primary before the stop, so it may arrive twice; it is never lost.
 */
export async function reclaimInterrupted(deps: ReclaimDeps): Promise<{ reclaimed: number }> {
  const now = deps.clock.now();
  const holds = await deps.store.listHolds();
  // Read first, written after: each write moves a record out of the index being paged through.
  const found: DeliveryRecord[] = [];
  await forEachInState(deps.store, 'delivering', async (d) => {
    found.push(d);
  });
  let held = 0;
  let queued = 0;
  for (const d of found) {
    // Draining holds count too: a hand-over is the one to send what it released.
    const next = reclaimDelivery(d, now, holdReasonFor(d.route, holds, d.recipient));
    try {
      await deps.store.replaceDelivery(next, d.version);
    } catch (err) {
      if (err instanceof ConflictError) continue;
      throw err;
    }
    if (next.state === 'held') held++;
    else queued++;
  }
  if (found.length > 0) {
    deps.log.warn('reclaimed deliveries a stopped process left in flight', {
      reclaimed: held + queued,
      held,
      queued,
    });
  }
  return { reclaimed: held + queued };
}
