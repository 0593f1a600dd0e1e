import { describe, expect, it } from 'vitest';
import type { Context } from '../../lambdas/adapters/context.js';
import { ValidationError } from '../../lambdas/core/errors.js';
import { awsProbeTickWindowMs } from '../../lambdas/core/probe-cycle.js';
import { createProbeHandler, parseTickMessage } from '../../lambdas/handlers/probe.js';
import { continuityHarness } from '../support/continuity.js';
import { testConfig } from '../support/fixtures.js';

const RUN = Date.parse('2026-12-03T12:00:00Z');
const SHIPPED = testConfig();

/** The event Lambda's SQS event source mapping passes for a tick message. */
function sqsEvent(body: string, sentMs = RUN) {
  return {
    Records: [
      {
        messageId: 'a2b3c4d5-0000-4000-8000-000000000000',
        receiptHandle: 'AQEB…',
        body,
        attributes: {
          ApproximateReceiveCount: '1',
          SentTimestamp: String(sentMs),
          SenderId: 'AIDAEXAMPLE',
          ApproximateFirstReceiveTimestamp: String(sentMs + 30_000),
        },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:eu-west-1:123456789012:ContinuityRoundTick1',
        awsRegion: 'eu-west-1',
      },
    ],
  };
}
/** Seconds into the run at which rounds checked the primary (a round checks every host at once). */
const rounds = (checks: number[]) => [...new Set(checks)].map((t) => (t - RUN) / 1000);
const tickBody = (tick = 1, time = '2026-12-03T12:00:00Z') => JSON.stringify({ tick, time });

describe('awsProbeTickWindowMs', () => {
  const at = (nowSeconds: number, sentSeconds = 0) => ({
    scheduledMs: RUN,
    sentMs: RUN + sentSeconds * 1000,
    nowMs: RUN + nowSeconds * 1000,
  });

  it('gives a tick on time its whole window: 30 s to the next run at the defaults', () => {
    expect(awsProbeTickWindowMs(SHIPPED, 1, at(30))).toBe(30_000);
    // Early (a clock a little ahead): still the whole window, never more.
    expect(awsProbeTickWindowMs(SHIPPED, 1, at(29.5))).toBe(30_000);
  });

  it('takes the time a tick waited behind a running probe off its window', () => {
    expect(awsProbeTickWindowMs(SHIPPED, 1, at(34))).toBe(26_000);
    // Its delay counts from the send: EventBridge's usual second of lag moves the tick with the run.
    expect(awsProbeTickWindowMs(SHIPPED, 1, at(31, 1))).toBe(30_000);
  });

  it('drops a tick whose round could no longer end 5 s before the next run: later than 10 s at the defaults', () => {
    // 30 s window − 5 s slack − (10 s check + 5 s for the round) = 10 s.
    expect(awsProbeTickWindowMs(SHIPPED, 1, at(40))).toBe(20_000);
    expect(awsProbeTickWindowMs(SHIPPED, 1, at(40.001))).toBeNull();
    expect(awsProbeTickWindowMs(SHIPPED, 1, at(59))).toBeNull();
  });

  it('drops a tick the schedule sent late (a retried send), instead of running it late towards the next run', () => {
    expect(awsProbeTickWindowMs(SHIPPED, 1, at(41, 11))).toBeNull();
    expect(awsProbeTickWindowMs(SHIPPED, 1, at(40, 10))).toBe(30_000);
  });

  it('lets a tick come within the 5 s slack even when its round cannot fit the window anyway', () => {
    // intervalSeconds 10: ticks every 10 s, each window 10 s, shorter than a worst-case round.
    const tight = testConfig({ continuity: { probes: { intervalSeconds: 10, checkTimeoutSeconds: 10 } } });
    expect(awsProbeTickWindowMs(tight, 1, at(15))).toBe(5_000);
    expect(awsProbeTickWindowMs(tight, 1, at(15.5))).toBeNull();
  });

  it('drops a tick whose round already ran: SQS handed its message over twice', () => {
    expect(awsProbeTickWindowMs(SHIPPED, 1, { ...at(31), lastRoundMs: RUN + 30_200 })).toBeNull();
    // The rounds before it (the schedule's own and its confirmation) leave it its round.
    expect(awsProbeTickWindowMs(SHIPPED, 1, { ...at(30), lastRoundMs: RUN + 10_200 })).toBe(30_000);
  });

  it('refuses a tick the config does not start', () => {
    expect(() => awsProbeTickWindowMs(SHIPPED, 2, at(60))).toThrow(ValidationError);
  });
});

describe('parseTickMessage', () => {
  it('reads the tick, the run’s scheduled time and when SQS took the message', () => {
    expect(parseTickMessage(sqsEvent(tickBody(1), RUN + 120))).toEqual({
      tick: 1,
      time: '2026-12-03T12:00:00Z',
      sentMs: RUN + 120,
    });
  });

  it.each([
    ['a body that is not JSON', sqsEvent('tick=1'), /body: not JSON/],
    ['a body without the time', sqsEvent('{"tick":1}'), /time/],
    ['tick 0, which the schedule itself runs', sqsEvent(tickBody(0)), /tick/],
    ['a tick that is not a whole number', sqsEvent('{"tick":"1","time":"2026-12-03T12:00:00Z"}'), /tick/],
    ['a body with anything else in it', sqsEvent('{"tick":1,"time":"2026-12-03T12:00:00Z","x":1}'), /x/],
    ['a time that is not one', sqsEvent(tickBody(1, 'noon')), /time/],
    [
      'two messages at once',
      { Records: [...sqsEvent(tickBody()).Records, ...sqsEvent(tickBody()).Records] },
      /one message at a time/,
    ],
    [
      'a record that is not from SQS',
      { Records: [{ ...sqsEvent(tickBody()).Records[0], eventSource: 'aws:sns' }] },
      /eventSource/,
    ],
    [
      'a record without SQS’s SentTimestamp',
      { Records: [{ ...sqsEvent(tickBody()).Records[0], attributes: {} }] },
      /SentTimestamp/,
    ],
  ])('refuses %s with a ValidationError that says what is wrong', (_what, event, problem) => {
    let error: unknown;
    try {
      parseTickMessage(event);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).code).toBe('VALIDATION_FAILED');
    expect((error as ValidationError).problems.join('\n')).toMatch(problem);
  });
});

describe('createProbeHandler, given a tick from its queue', () => {
  /** The probe handler on the harness clock, and what its rounds did. */
  function probe(down: boolean) {
    const h = continuityHarness();
    const checks: number[] = [];
    h.deps.prober = {
      check: async () => {
        checks.push(h.clock.now().getTime());
        return down
          ? { ok: false, detail: 'connect ECONNREFUSED', latencyMs: 2 }
          : { ok: true, detail: '250 2.1.5 Ok', latencyMs: 20 };
      },
    };
    const handler = createProbeHandler(() => h.deps as unknown as Context, {
      sleep: async (ms) => {
        h.clock.advance(ms / 1000);
        return true;
      },
    });
    const invoke = (event: unknown, atSeconds: number) => {
      h.clock.current = new Date(RUN + atSeconds * 1000);
      return handler(event, { getRemainingTimeInMillis: () => 60_000 });
    };
    return { h, invoke, checks };
  }

  it('runs the tick’s round on time, and its confirming round 10 s later within the window', async () => {
    const { invoke, checks } = probe(true);
    const result = await invoke(sqsEvent(tickBody(1)), 30);
    expect(result.rounds).toBe(2);
    expect(rounds(checks)).toEqual([30, 40]);
  });

  it('runs a late tick in what is left of its window: no confirming round that could not end in time', async () => {
    const { invoke, checks } = probe(true);
    const result = await invoke(sqsEvent(tickBody(1)), 36);
    expect(result.rounds).toBe(1);
    expect(rounds(checks)).toEqual([36]);
  });

  it('drops a stale tick without a round: it succeeds, so the queue deletes it', async () => {
    const { h, invoke, checks } = probe(true);
    const result = await invoke(sqsEvent(tickBody(1)), 45);
    expect(result).toMatchObject({ rounds: 0, dropped: true, state: 'normal' });
    expect(checks).toEqual([]);
    expect(h.notifier.sent).toEqual([]);
  });

  it('runs a message SQS hands over twice once', async () => {
    const { invoke, checks } = probe(false);
    expect((await invoke(sqsEvent(tickBody(1)), 30)).rounds).toBe(1);
    expect(await invoke(sqsEvent(tickBody(1)), 31)).toMatchObject({ rounds: 0, dropped: true });
    expect(rounds(checks)).toEqual([30]);
  });

  it('refuses a message it cannot read, running nothing', async () => {
    const { invoke, checks } = probe(false);
    await expect(invoke(sqsEvent('{"tick":"one"}'), 30)).rejects.toBeInstanceOf(ValidationError);
    expect(checks).toEqual([]);
  });
});
