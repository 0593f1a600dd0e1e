import type { Clock, Logger, RecipientOutcome } from '../ports.js';

/**
 * Asks for the synthetic SMTP check of a route at once, because a real delivery just failed to
 * reach it: in AWS an asynchronous invoke of the probe function with `{ check: route }`, on the
 * single-node runtime a probe run started now. The probe spaces its checks by
 * `probes.confirmAfterSeconds` whoever asks (lambdas/core/probe-cycle.ts, runRequestedCheck), so
 * an outage pages about that long after mail first fails to go, and a blip pages nobody.
 */
export interface RouteChecks {
  requestCheck(route: string): Promise<void>;
}

/**
 * Whether an attempt failed for want of a connection to the route, not because of what the primary
 * said: no host took the session (refused, timed out, TLS failed) or the session broke, so every
 * recipient is deferred with no host's answer. A 4xx or 5xx about a recipient names its host.
 */
export function unreachable(outcomes: readonly RecipientOutcome[]): boolean {
  return outcomes.length > 0 && outcomes.every((o) => o.status === 'deferred' && o.host === null);
}

/**
 * Asks once per route per `intervalMs` of this process: a burst of failed deliveries (a sweep of a
 * hundred messages against a primary that just stopped) asks for one check, not a hundred.
 */
export function oncePerInterval(inner: RouteChecks, clock: Clock, intervalMs: number): RouteChecks {
  const askedAt = new Map<string, number>();
  return {
    async requestCheck(route) {
      const now = clock.now().getTime();
      const last = askedAt.get(route);
      if (last !== undefined && now - last < intervalMs) return;
      askedAt.set(route, now);
      try {
        await inner.requestCheck(route);
      } catch (err) {
        // Asked again at the next failure rather than an interval later.
        askedAt.delete(route);
        throw err;
      }
    },
  };
}

/**
 * Asks for a check of a route a delivery could not reach. Never throws: the scheduled probe rounds
 * still find the outage, only later.
 */
export async function askForRouteCheck(
  deps: { checks?: RouteChecks | undefined; log: Logger },
  route: string,
): Promise<void> {
  if (!deps.checks) return;
  try {
    await deps.checks.requestCheck(route);
  } catch (err) {
    deps.log.warn('route check not requested; the next probe round will check it', {
      route,
      error: (err as Error).message,
    });
  }
}
