import { isExpired, nextAttemptAt } from './backoff.js';
import type { LifeboatConfig } from './config.js';
import { LifeboatError } from './errors.js';
import type { DeliveryRecord, DeliveryState } from './model.js';

/** The transitions DESIGN.md allows. Anything else is a bug or a forged request. */
const allowed: Record<DeliveryState, readonly DeliveryState[]> = {
  // queued → deferred and deferred → deferred: put off without an attempt (postponeDelivery).
  queued: ['delivering', 'deferred', 'held', 'quarantined', 'failed'],
  // delivering → delivering: a crashed worker's lease expired and another takes it over.
  delivering: ['delivered', 'deferred', 'failed', 'held', 'delivering'],
  deferred: ['delivering', 'deferred', 'held', 'failed'],
  failed: ['queued', 'held'],
  held: ['queued'],
  quarantined: ['queued'],
  delivered: [],
};

export class TransitionError extends LifeboatError {
  constructor(from: DeliveryState, to: DeliveryState) {
    super('TRANSITION_NOT_ALLOWED', `a delivery cannot go from ${from} to ${to}`);
  }
}

export function canTransition(from: DeliveryState, to: DeliveryState): boolean {
  return allowed[from].includes(to);
}

function move(
  d: DeliveryRecord,
  to: DeliveryState,
  now: Date,
  patch: Partial<DeliveryRecord>,
): DeliveryRecord {
  if (!canTransition(d.state, to)) throw new TransitionError(d.state, to);
  return { ...d, ...patch, state: to, updatedAt: now.toISOString(), version: d.version + 1 };
}

/** Whether a worker may claim this delivery now. */
export function isDue(d: DeliveryRecord, now: Date): boolean {
  switch (d.state) {
    case 'queued':
      return true;
    case 'deferred':
    case 'delivering':
      // For delivering, nextAttemptAt is the lease expiry: past it, the worker is presumed dead.
      return d.nextAttemptAt === null || Date.parse(d.nextAttemptAt) <= now.getTime();
    default:
      return false;
  }
}

/** Takes a lease on a due delivery so no other worker sends it. */
export function claimDelivery(
  d: DeliveryRecord,
  now: Date,
  leaseId: string,
  leaseSeconds: number,
): DeliveryRecord {
  if (!isDue(d, now)) throw new TransitionError(d.state, 'delivering');
  return move(d, 'delivering', now, {
    leaseId,
    attempts: d.attempts + 1,
    nextAttemptAt: new Date(now.getTime() + leaseSeconds * 1000).toISOString(),
  });
}

export interface AttemptResult {
  status: 'delivered' | 'deferred' | 'failed';
  response: string;
}

/**
 * Applies the outcome of one attempt. A deferral past the queue lifetime fails as expired;
 * a deferral while the route is on hold becomes held, so continuity never races a retry.
 */
export function completeAttempt(
  d: DeliveryRecord,
  result: AttemptResult,
  now: Date,
  config: Pick<LifeboatConfig, 'queue'>,
  holdReason: string | null,
): DeliveryRecord {
  const base = { leaseId: null, lastResponse: result.response };
  switch (result.status) {
    case 'delivered':
      return move(d, 'delivered', now, {
        ...base,
        deliveredAt: now.toISOString(),
        nextAttemptAt: null,
        lastError: null,
      });
    case 'failed':
      return move(d, 'failed', now, {
        ...base,
        nextAttemptAt: null,
        lastError: result.response,
        reason: 'rejected',
      });
    case 'deferred':
      if (holdReason !== null) {
        return move(d, 'held', now, {
          ...base,
          nextAttemptAt: null,
          lastError: result.response,
          reason: holdReason,
        });
      }
      if (isExpired(d.receivedAt, now, config.queue)) {
        return move(d, 'failed', now, {
          ...base,
          nextAttemptAt: null,
          lastError: `expired after ${config.queue.lifetimeHours} h in the queue; last error: ${result.response}`,
          reason: 'expired',
        });
      }
      return move(d, 'deferred', now, {
        ...base,
        nextAttemptAt: nextAttemptAt(now, d.attempts, config.queue),
        lastError: result.response,
      });
  }
}

/**
 * Releases a held delivery straight into a claim, as the hand-over does just before it sends:
 * released (held → queued) and claimed (queued → delivering) in the one conditional write the
 * caller makes with `d.version`, so there is never a released delivery that nobody holds a
 * lease on (which the sweeper would send out of order).
 */
export function releaseAndClaim(
  d: DeliveryRecord,
  now: Date,
  leaseId: string,
  leaseSeconds: number,
): DeliveryRecord {
  if (d.state !== 'held') throw new TransitionError(d.state, 'delivering');
  return claimDelivery(requeueDelivery(d, now), now, leaseId, leaseSeconds);
}

/** Why a reclaimed delivery is back in the queue: its attempt may or may not have reached the primary. */
export const INTERRUPTED_ATTEMPT =
  "the attempt was interrupted: Lifeboat stopped before it recorded the primary's reply";

/**
 * Takes back a delivery whose worker is known to be dead (the single-node runtime restarted):
 * held again under `holdReason` when its route is held, so a hand-over sends it before anything
 * newer; otherwise deferred and due at once.
 */
export function reclaimDelivery(d: DeliveryRecord, now: Date, holdReason: string | null): DeliveryRecord {
  const base = { leaseId: null, lastError: INTERRUPTED_ATTEMPT };
  if (d.state !== 'delivering') throw new TransitionError(d.state, holdReason === null ? 'deferred' : 'held');
  if (holdReason !== null) return move(d, 'held', now, { ...base, nextAttemptAt: null, reason: holdReason });
  return move(d, 'deferred', now, { ...base, nextAttemptAt: now.toISOString() });
}

/** Puts a waiting delivery on hold (continuity or an admin). */
export function holdDelivery(d: DeliveryRecord, reason: string, now: Date): DeliveryRecord {
  return move(d, 'held', now, { nextAttemptAt: null, reason });
}

/** Releases a held or quarantined delivery, or retries a failed one: it is due at once. */
export function requeueDelivery(d: DeliveryRecord, now: Date, reason: string | null = null): DeliveryRecord {
  return move(d, 'queued', now, { nextAttemptAt: now.toISOString(), reason, leaseId: null });
}

/** Quarantines a delivery under a named policy. */
export function quarantineDelivery(d: DeliveryRecord, reason: string, now: Date): DeliveryRecord {
  return move(d, 'quarantined', now, { nextAttemptAt: null, reason });
}

/**
 * Puts off a due delivery without attempting it, because its route has just proved unreachable
 * (the sweeper's dead-route throttle): deferred until `until` with `why` as its last error, its
 * attempt count unchanged, since nothing was sent.
 */
export function postponeDelivery(d: DeliveryRecord, now: Date, until: string, why: string): DeliveryRecord {
  if (!isDue(d, now)) throw new TransitionError(d.state, 'deferred');
  return move(d, 'deferred', now, { leaseId: null, nextAttemptAt: until, lastError: why });
}
