import { describe, expect, it } from 'vitest';
import { runProbeRound } from '../../lambdas/core/continuity-service.js';
import { deliverMessage } from '../../lambdas/core/deliver.js';
import { ValidationError } from '../../lambdas/core/errors.js';
import {
  ACCEPTED_RECOUNT_MINUTES,
  ACCEPTED_THROUGH,
  metricsUpdates,
  ROLLED_THROUGH,
  readFlowSeries,
  recordFlow,
  rollUpFlow,
} from '../../lambdas/core/flow-metrics.js';
import { type DeliveryState, deliveryStates } from '../../lambdas/core/model.js';
import { continuityHarness } from '../support/continuity.js';
import { messageRecord } from '../support/fixtures.js';

const minuteOf = (iso: string) => `${iso.slice(0, 16)}:00.000Z`;
const zeroDepth = Object.fromEntries(deliveryStates.map((s) => [s, 0])) as Record<DeliveryState, number>;

describe('flow metrics on the mail path', () => {
  it('counts delivered per recipient in the minute bucket, accepted once the minute has ended, and both in the hour as probe rounds roll the minute up, with the latency', async () => {
    const h = continuityHarness();
    await h.receive('m1', ['alice@example.com', 'bob@example.com']);
    h.clock.advance(3);
    await deliverMessage('m1', h.deps);

    const now = h.clock.now().toISOString();
    const minuteBucket = async () =>
      (await h.store.listMetrics('minute', minuteOf(now), '2099-01-01T00:00:00.000Z'))[0]?.values;
    expect(await minuteBucket()).toMatchObject({ delivered: 2 });
    expect((await minuteBucket())?.accepted).toBeUndefined();
    h.clock.advance(120);
    await runProbeRound(h.deps);
    expect(await minuteBucket()).toMatchObject({ accepted: 2, delivered: 2 });
    const hourPoint = async () =>
      (
        await readFlowSeries(h.deps, {
          from: new Date(Date.parse(now) - 3_600_000),
          to: new Date(Date.parse(now) + 1),
          resolution: 'hour',
        })
      ).points.find((p) => p.delivered > 0);
    expect(await hourPoint()).toMatchObject({ accepted: 0, delivered: 2, deferred: 0, failed: 0 });
    h.clock.advance(ACCEPTED_RECOUNT_MINUTES * 60);
    await runProbeRound(h.deps);
    const point = await hourPoint();
    expect(point).toMatchObject({ accepted: 2, delivered: 2, deferred: 0, failed: 0 });
    // 3 s from receipt to the 250: in the histogram bucket up to 5 s.
    expect(point?.latencySeconds).toMatchObject({ count: 2, p50: 5, p95: 5, mean: 3 });
    expect(point?.smtpMs.count).toBe(1);
  });

  it('writes nothing at ingest, and counts a receipt ingested twice once', async () => {
    const h = continuityHarness();
    h.clock.current = new Date('2026-11-22T10:00:10.000Z');
    await h.receive('m1');
    await h.receive('m1');
    expect(
      await h.store.listMetrics('minute', '2000-01-01T00:00:00.000Z', '2099-01-01T00:00:00.000Z'),
    ).toEqual([]);
    h.clock.current = new Date('2026-11-22T10:01:31.000Z');
    await rollUpFlow(h.deps);
    const buckets = await h.store.listMetrics(
      'minute',
      '2000-01-01T00:00:00.000Z',
      '2099-01-01T00:00:00.000Z',
    );
    expect(buckets.map((b) => [b.start, b.values.accepted])).toEqual([['2026-11-22T10:00:00.000Z', 1]]);
  });

  it('counts deferrals and keeps each reply on its delivery, oldest first', async () => {
    const h = continuityHarness();
    h.primary.down = true;
    await h.receive('m1');
    await deliverMessage('m1', h.deps);
    h.clock.advance(600);
    await deliverMessage('m1', h.deps);

    const attempts = await h.store.listDeliveryAttempts(
      { messageId: 'm1', recipient: 'alice@example.com' },
      10,
    );
    expect(attempts.map((a) => [a.attempt, a.outcome, a.response])).toEqual([
      [1, 'deferred', 'mx1:587: 421 4.3.2 Service not available'],
      [2, 'deferred', 'mx1:587: 421 4.3.2 Service not available'],
    ]);
    h.clock.advance(120);
    await runProbeRound(h.deps);
    const all = await h.store.listMetrics('hour', '2000-01-01T00:00:00.000Z', '2099-01-01T00:00:00.000Z');
    expect(all.reduce((n, b) => n + (b.values.deferred ?? 0), 0)).toBe(2);
  });

  it('samples the queue depth by state on every probe round', async () => {
    const h = continuityHarness();
    h.primary.down = true;
    await h.receive('m1');
    await deliverMessage('m1', h.deps);
    await runProbeRound(h.deps);

    const series = await readFlowSeries(h.deps, {
      from: h.clock.now(),
      to: new Date(h.clock.now().getTime() + 60_000),
      resolution: 'minute',
    });
    expect(series.points).toHaveLength(1);
    expect(series.points[0]?.depth).toMatchObject({ deferred: 1, queued: 0, delivered: 0 });
  });
});

describe('metricsUpdates', () => {
  it('keeps minute buckets two days and hour buckets as long as the records', () => {
    const h = continuityHarness();
    const at = new Date('2026-11-22T10:17:42.000Z');
    const depth = { ...zeroDepth, deferred: 3 };
    const [minute, hour] = metricsUpdates(at, h.config, {
      counts: { delivered: 1 },
      probeRttMs: [42_000],
      depth,
    });
    expect(minute).toMatchObject({
      start: '2026-11-22T10:17:00.000Z',
      add: { delivered: 1, rtt_3: 1, rtt_sum: 42 },
    });
    expect(hour?.start).toBe('2026-11-22T10:00:00.000Z');
    // The hour takes the gauges at once and the counts when a probe round rolls the minute up.
    expect(hour?.add).toBeUndefined();
    expect(hour?.set).toMatchObject({ depth_deferred: 3 });
    expect((minute?.expiresAt ?? 0) - Date.parse('2026-11-22T10:17:00Z') / 1000).toBe(60 + 2 * 86_400);
    expect((hour?.expiresAt ?? 0) - Date.parse('2026-11-22T10:00:00Z') / 1000).toBe(3600 + 30 * 86_400);
  });

  it('writes nothing for a delta with nothing in it', () => {
    expect(metricsUpdates(new Date(), continuityHarness().config, { counts: { delivered: 0 } })).toEqual([]);
  });

  it('writes a delivery’s counts to its minute bucket only: one write, not two', () => {
    const updates = metricsUpdates(new Date(), continuityHarness().config, { counts: { delivered: 1 } });
    expect(updates.map((u) => u.resolution)).toEqual(['minute']);
  });
});

describe('rollUpFlow', () => {
  /** The hours that hold anything but the roll-up's marks (the hour before the first holds only those). */
  const hourValues = async (h: ReturnType<typeof continuityHarness>) =>
    (await h.store.listMetrics('hour', '2000-01-01T00:00:00.000Z', '2099-01-01T00:00:00.000Z'))
      .filter((b) => Object.keys(b.values).some((k) => k !== ROLLED_THROUGH && k !== ACCEPTED_THROUGH))
      .map((b) => [b.start, b.values.delivered ?? 0, b.values.accepted ?? 0]);

  it('adds each ended minute to its hour once, however many rounds run, and leaves the minute under way', async () => {
    const h = continuityHarness();
    h.clock.current = new Date('2026-11-22T10:58:10.000Z');
    await recordFlow(h.deps, { counts: { delivered: 2 } });
    h.clock.current = new Date('2026-11-22T10:59:20.000Z');
    await recordFlow(h.deps, { counts: { delivered: 1 } });
    h.clock.current = new Date('2026-11-22T11:00:40.000Z');
    await recordFlow(h.deps, { counts: { delivered: 5 } });

    h.clock.current = new Date('2026-11-22T11:00:45.000Z');
    await rollUpFlow(h.deps);
    await rollUpFlow(h.deps);
    // 10:58 and 10:59 have ended (10:59 45 s ago, past ROLL_UP_DELAY_MS); 11:00 is under way.
    expect(await hourValues(h)).toEqual([['2026-11-22T10:00:00.000Z', 3, 0]]);

    h.clock.current = new Date('2026-11-22T11:01:31.000Z');
    await rollUpFlow(h.deps);
    await rollUpFlow(h.deps);
    expect(await hourValues(h)).toEqual([
      ['2026-11-22T10:00:00.000Z', 3, 0],
      ['2026-11-22T11:00:00.000Z', 5, 0],
    ]);
  });

  it('counts accepted per minute of receipt from the records when the minute ends, and again with mail ingested late when the hour takes it', async () => {
    const h = continuityHarness();
    const minuteValues = async () =>
      (await h.store.listMetrics('minute', '2000-01-01T00:00:00.000Z', '2099-01-01T00:00:00.000Z')).map(
        (b) => [b.start.slice(11, 16), b.values.accepted],
      );
    h.clock.current = new Date('2026-11-22T10:57:59.000Z');
    await h.receive('m1', ['alice@example.com', 'bob@example.com']);
    h.clock.current = new Date('2026-11-22T10:58:30.000Z');
    await h.receive('m2');
    await h.store.putMessage(
      messageRecord({ id: 'copy', receivedAt: '2026-11-22T10:58:40.000Z', sentCopyOf: 'o1' }),
    );
    h.clock.current = new Date('2026-11-22T10:59:31.000Z');
    await rollUpFlow(h.deps);
    expect(await minuteValues()).toEqual([
      ['10:57', 2],
      ['10:58', 1],
    ]);
    expect(await hourValues(h)).toEqual([]);

    // Received in 10:58, ingested after the roll-up had counted that minute: a retried ingest.
    h.clock.current = new Date('2026-11-22T11:00:10.000Z');
    await h.receive('late', ['carol@example.com'], '2026-11-22T10:58:50.000Z');
    h.clock.current = new Date('2026-11-22T11:00:31.000Z');
    await rollUpFlow(h.deps);
    expect(await minuteValues()).toEqual([
      ['10:57', 2],
      ['10:58', 1],
    ]);
    expect(await hourValues(h)).toEqual([]);

    // Counted for the last time ACCEPTED_RECOUNT_MINUTES after its first count, and then the hour
    // takes it: 10:57 at the roll-up of 11:02, 10:58 (with the late one) at 11:03's, then 10:59 (none).
    for (const [at, expected] of [
      ['2026-11-22T11:03:31.000Z', 2],
      ['2026-11-22T11:04:31.000Z', 4],
      ['2026-11-22T11:05:31.000Z', 4],
    ] as const) {
      h.clock.current = new Date(at);
      await rollUpFlow(h.deps);
      await rollUpFlow(h.deps);
      expect((await hourValues(h))[0]).toEqual(['2026-11-22T10:00:00.000Z', 0, expected]);
    }
    // Past the window: ingested now, it is counted nowhere.
    await h.receive('too-late', ['dave@example.com'], '2026-11-22T10:57:30.000Z');
    h.clock.current = new Date('2026-11-22T11:10:31.000Z');
    await rollUpFlow(h.deps);
    expect((await hourValues(h))[0]).toEqual(['2026-11-22T10:00:00.000Z', 0, 4]);
    expect(await minuteValues()).toEqual([
      ['10:57', 2],
      ['10:58', 2],
    ]);
  });

  it('takes up an hour rolled up before accepted was counted from its last rolled minute, adding nothing twice', async () => {
    const h = continuityHarness();
    // As ingest wrote it: accepted added to the minute as mail came in, rolled into the hour.
    h.clock.current = new Date('2026-11-22T10:20:10.000Z');
    await h.receive('m1');
    await recordFlow(h.deps, { counts: { accepted: 1 } });
    await h.store.addMetrics([
      {
        resolution: 'hour',
        start: '2026-11-22T10:00:00.000Z',
        expiresAt: 0,
        add: { accepted: 1 },
        set: { [ROLLED_THROUGH]: Date.parse('2026-11-22T10:20:00.000Z') },
      },
    ]);
    h.clock.current = new Date('2026-11-22T10:21:10.000Z');
    await h.receive('m2');
    for (const at of ['2026-11-22T10:21:31.000Z', '2026-11-22T10:30:31.000Z']) {
      h.clock.current = new Date(at);
      await rollUpFlow(h.deps);
    }
    expect(await hourValues(h)).toEqual([['2026-11-22T10:00:00.000Z', 0, 2]]);
  });

  it('leaves accepted alone without the records to count it from', async () => {
    const h = continuityHarness();
    h.clock.current = new Date('2026-11-22T10:20:10.000Z');
    await h.receive('m1');
    h.clock.current = new Date('2026-11-22T10:30:31.000Z');
    await rollUpFlow({ ...h.deps, store: undefined });
    expect(await hourValues(h)).toEqual([]);
    const [hour] = await h.store.listMetrics('hour', '2026-11-22T10:00:00.000Z', '2099-01-01T00:00:00.000Z');
    expect(hour?.values[ACCEPTED_THROUGH]).toBe(Date.parse('2026-11-22T09:59:00.000Z'));
  });

  it('never rolls the expiry or a gauge of a minute into its hour', async () => {
    const h = continuityHarness();
    h.clock.current = new Date('2026-11-22T10:10:00.000Z');
    await recordFlow(h.deps, { counts: { delivered: 1 }, depth: { ...zeroDepth, held: 9 } });
    h.clock.advance(120);
    await rollUpFlow(h.deps);
    const [hour] = await h.store.listMetrics('hour', '2026-11-22T10:00:00.000Z', '2099-01-01T00:00:00.000Z');
    expect(Object.keys(hour?.values ?? {}).sort()).toEqual(
      [
        'delivered',
        'depth_held',
        ...Object.keys(zeroDepth)
          .filter((s) => s !== 'held')
          .map((s) => `depth_${s}`),
        ROLLED_THROUGH,
        ACCEPTED_THROUGH,
      ].sort(),
    );
    expect(hour?.values.depth_held).toBe(9);
  });
});

describe('readFlowSeries', () => {
  it('fills the range with zero points and returns the configured thresholds', async () => {
    const h = continuityHarness({ thresholds: { p95LatencySeconds: 45 } });
    const series = await readFlowSeries(h.deps, {
      from: new Date('2026-11-22T08:30:00Z'),
      to: new Date('2026-11-22T10:10:00Z'),
      resolution: 'hour',
    });
    expect(series.points.map((p) => p.start)).toEqual([
      '2026-11-22T08:00:00.000Z',
      '2026-11-22T09:00:00.000Z',
      '2026-11-22T10:00:00.000Z',
    ]);
    expect(series.points[0]).toMatchObject({
      delivered: 0,
      depth: null,
      latencySeconds: { count: 0, p95: null },
    });
    expect(series.thresholds).toMatchObject({
      smtpP95Seconds: 45,
      failureRatio: 0.5,
      oldestDeferredMinutes: 30,
    });
  });

  it('refuses an empty range and one longer than a request may read', async () => {
    const h = continuityHarness();
    const at = new Date('2026-11-22T10:00:00Z');
    await expect(readFlowSeries(h.deps, { from: at, to: at, resolution: 'minute' })).rejects.toThrow(
      ValidationError,
    );
    await expect(
      readFlowSeries(h.deps, {
        from: at,
        to: new Date(at.getTime() + 3 * 86_400_000),
        resolution: 'minute',
      }),
    ).rejects.toThrow(/at most 2880 minute buckets/);
  });
});
