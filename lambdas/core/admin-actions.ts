import type { ContinuityStore, DeliveryKey } from '../ports.js';
import type { DeliverDeps } from './deliver.js';
import type { DeliveryRecord } from './model.js';
import { type QueueDeps, releaseDelivery } from './queue-ops.js';
import { type SweepOptions, type SweepResult, sweepDue } from './sweep.js';

export interface AdminDeps extends QueueDeps {
  continuity: ContinuityStore;
}

/**
 * Sends a failed, held or quarantined delivery again now, and writes who asked to the audit log.
 * The one action behind the admin API's retry and `lifeboat retry`, so both refuse alike and
 * both are audited: releasing quarantined mail (a virus verdict among them) is an admin's call
 * that must leave a trace.
 * @throws NotFoundError when there is no such delivery; TransitionError from a state that cannot be retried
 */
export async function retryDelivery(
  deps: AdminDeps,
  key: DeliveryKey,
  actor: string,
): Promise<DeliveryRecord> {
  const before = await deps.store.getDelivery(key);
  const after = await releaseDelivery(key, deps);
  const was = before ? `${before.state}${before.reason ? ` (${before.reason})` : ''}` : 'unknown';
  await deps.continuity.appendAudit({
    at: deps.clock.now().toISOString(),
    actor,
    action: 'retry',
    detail: `delivery ${key.messageId} to ${key.recipient} requeued from ${was} (now ${after.state})`,
    eventId: null,
  });
  return after;
}

/**
 * Attempts every due delivery now, as the scheduled sweep would (Postfix's `postqueue -f`), and
 * writes who asked and what came of it to the audit log: a flush sends mail to the primary on an
 * admin's word, so it leaves a trace like every other admin action.
 */
export async function flushQueue(
  deps: DeliverDeps & { continuity: ContinuityStore },
  actor: string,
  options: SweepOptions = {},
): Promise<SweepResult> {
  const result = await sweepDue(deps, options);
  await deps.continuity.appendAudit({
    at: deps.clock.now().toISOString(),
    actor,
    action: 'flush',
    detail: `queue flushed: ${result.messages} messages attempted (${result.delivered} delivered, ${result.deferred} deferred, ${result.failed} failed, ${result.held} held, ${result.postponed} put off), ${result.leftForLater} left for the next sweep`,
    eventId: null,
  });
  return result;
}
