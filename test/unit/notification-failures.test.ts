import { describe, expect, it } from 'vitest';
import { emfMetrics } from '../../lambdas/adapters/emf-metrics.js';
import { getStatus, runProbeRound } from '../../lambdas/core/continuity-service.js';
import { FAILED_NOTIFICATIONS_METRIC } from '../../lambdas/core/notification-failures.js';
import { continuityHarness } from '../support/continuity.js';

const REFUSAL =
  'AuthorizationError: No default SMS spend limit has been set, or the phone number is not verified in the SMS sandbox';

/** An outage the probes see, paged through a notifier that refuses every page; metric lines collected. */
async function refusedAlert() {
  const h = continuityHarness();
  const lines: string[] = [];
  h.deps.metrics = emfMetrics(
    (line) => lines.push(line),
    () => h.clock.now().getTime(),
  );
  h.notifier.failWith = new Error(REFUSAL);
  h.prober.down = true;
  await runProbeRound(h.deps);
  h.clock.advance(30);
  const step = await runProbeRound(h.deps);
  return { h, lines, step };
}

describe('a page the notifier refuses', () => {
  it('shows in the status with the count and the notifier’s error', async () => {
    const { h, step } = await refusedAlert();

    const status = await getStatus(h.deps);

    expect(step.org.state).toBe('alerting');
    // The alert goes to the admins by SMS and by email: both refused.
    expect(status.failedNotifications).toEqual({
      count: 2,
      windowHours: 24,
      last: expect.objectContaining({ notice: 'alert', audience: 'admins', eventId: 'ev1', error: REFUSAL }),
    });
  });

  it('keeps the error on its outbox record', async () => {
    const { h } = await refusedAlert();

    const outbox = await h.store.listNotifications(10);

    expect(outbox.map((n) => [n.notice, n.channel, n.error])).toEqual(
      expect.arrayContaining([
        ['alert', 'sms', REFUSAL],
        ['alert', 'email', REFUSAL],
      ]),
    );
  });

  it('emits one FailedNotifications metric line per refused page, in Embedded Metric Format', async () => {
    const { h, lines } = await refusedAlert();

    expect(lines).toHaveLength(2);
    for (const line of lines) {
      const emf = JSON.parse(line);
      expect(emf).toEqual({
        _aws: {
          Timestamp: h.clock.now().getTime(),
          CloudWatchMetrics: [
            {
              Namespace: 'Lifeboat',
              Dimensions: [[]],
              Metrics: [{ Name: FAILED_NOTIFICATIONS_METRIC, Unit: 'Count' }],
            },
          ],
        },
        [FAILED_NOTIFICATIONS_METRIC]: 1,
      });
    }
  });

  it('leaves the status at zero when pages go out', async () => {
    const h = continuityHarness();
    h.prober.down = true;
    await runProbeRound(h.deps);
    h.clock.advance(30);
    await runProbeRound(h.deps);

    expect((await getStatus(h.deps)).failedNotifications).toMatchObject({ count: 0, last: null });
    expect(h.notifier.sent.length).toBeGreaterThan(0);
  });

  it('drops out of the status count after a day', async () => {
    const { h } = await refusedAlert();
    h.clock.advance(24 * 3600 + 1);

    expect((await getStatus(h.deps)).failedNotifications).toMatchObject({ count: 0, last: null });
  });
});
