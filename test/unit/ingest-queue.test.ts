import { describe, expect, it } from 'vitest';
import {
  createIngestQueue,
  INGEST_ATTEMPTS,
  INGEST_CONCURRENCY,
  RETRY_AFTER_MS,
} from '../../infra/local/recovery.js';
import { silentLogger } from '../../lambdas/adapters/logger.js';
import type { SesEvent } from '../../lambdas/adapters/ses-event.js';
import type { Logger } from '../../lambdas/ports.js';
import { ManualClock } from '../support/memory-store.js';

function eventOf(id: string): SesEvent {
  const pass = { status: 'PASS' };
  return {
    Records: [
      {
        eventSource: 'aws:ses',
        ses: {
          mail: {
            timestamp: '2026-11-22T10:00:00.000Z',
            source: 's@sender.example',
            messageId: id,
            destination: [],
          },
          receipt: {
            timestamp: '2026-11-22T10:00:00.000Z',
            recipients: ['alice@example.com'],
            spamVerdict: pass,
            virusVerdict: pass,
            spfVerdict: pass,
            dkimVerdict: pass,
            dmarcVerdict: pass,
            action: { type: 'Lambda', invocationType: 'Event' },
          },
        },
      },
    ],
  };
}

const idOf = (e: SesEvent) => e.Records[0]?.ses.mail.messageId ?? '';

/** An ingest handler that records its calls and fails for the ids in `failing`. */
function fakeIngest(failing: Set<string> = new Set()) {
  const calls: string[] = [];
  return {
    calls,
    failing,
    ingest: async (event: SesEvent) => {
      const id = idOf(event);
      calls.push(id);
      if (failing.has(id)) throw new Error('SQLITE_FULL: database or disk is full');
    },
  };
}

/** Tracks the queue's background work so a test can wait for it. */
function tracker() {
  const pending = new Set<Promise<unknown>>();
  return {
    track: (p: Promise<unknown>) => {
      pending.add(p);
      p.finally(() => pending.delete(p));
    },
    async idle() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
  };
}

function recordingLog(): Logger & { lines: Array<{ message: string; fields: Record<string, unknown> }> } {
  const lines: Array<{ message: string; fields: Record<string, unknown> }> = [];
  const keep = (message: string, fields: Record<string, unknown> = {}) =>
    void lines.push({ message, fields });
  return { lines, info: keep, warn: keep, error: keep };
}

describe('createIngestQueue', () => {
  it('runs at most INGEST_CONCURRENCY ingests at once and starts the rest in arrival order', async () => {
    const started: string[] = [];
    const finish = new Map<string, () => void>();
    const { track, idle } = tracker();
    const queue = createIngestQueue({
      ingest: (event) =>
        new Promise<void>((resolve) => {
          started.push(idOf(event));
          finish.set(idOf(event), resolve);
        }),
      clock: new ManualClock(),
      log: silentLogger,
      track,
    });
    const ids = Array.from({ length: INGEST_CONCURRENCY + 2 }, (_, i) => `m${i}`);

    for (const id of ids) queue.submit(eventOf(id));
    await new Promise((r) => setImmediate(r));
    const atFirst = [...started];
    finish.get('m0')?.();
    finish.get('m1')?.();
    await new Promise((r) => setImmediate(r));

    expect(atFirst).toEqual(ids.slice(0, INGEST_CONCURRENCY));
    expect(started).toEqual(ids);
    expect(queue.counts()).toEqual({ ingesting: INGEST_CONCURRENCY, awaitingRetry: 0 });
    for (const resolve of finish.values()) resolve();
    await idle();
    expect(queue.counts()).toEqual({ ingesting: 0, awaitingRetry: 0 });
  });

  it('invokes a failing ingest INGEST_ATTEMPTS times, then keeps the message for a retry and names it in the log', async () => {
    const fake = fakeIngest(new Set(['m1']));
    const log = recordingLog();
    const { track, idle } = tracker();
    const queue = createIngestQueue({ ingest: fake.ingest, clock: new ManualClock(), log, track });

    queue.submit(eventOf('m1'));
    await idle();

    expect(fake.calls).toEqual(Array(INGEST_ATTEMPTS).fill('m1'));
    expect(queue.counts()).toEqual({ ingesting: 0, awaitingRetry: 1 });
    expect(log.lines.at(-1)).toMatchObject({
      message: expect.stringMatching(/ingest failed/),
      fields: { messageId: 'm1' },
    });
  });

  it('retries a failed message no sooner than RETRY_AFTER_MS after it failed', async () => {
    const fake = fakeIngest(new Set(['m1']));
    const clock = new ManualClock();
    const { track, idle } = tracker();
    const queue = createIngestQueue({ ingest: fake.ingest, clock, log: silentLogger, track });
    queue.submit(eventOf('m1'));
    await idle();
    fake.failing.clear();

    clock.advance(RETRY_AFTER_MS / 1000 - 1);
    const early = await queue.retry();
    clock.advance(1);
    const due = await queue.retry();

    expect(early).toEqual({ retried: 0, recorded: 0 });
    expect(due).toEqual({ retried: 1, recorded: 1 });
    expect(queue.counts()).toEqual({ ingesting: 0, awaitingRetry: 0 });
  });

  it('keeps a message whose retry fails again for the next round, once per round', async () => {
    const fake = fakeIngest(new Set(['m1']));
    const clock = new ManualClock();
    const { track, idle } = tracker();
    const queue = createIngestQueue({ ingest: fake.ingest, clock, log: silentLogger, track });
    queue.submit(eventOf('m1'));
    await idle();
    fake.calls.length = 0;

    clock.advance(RETRY_AFTER_MS / 1000);
    const round = await queue.retry();

    expect(round).toEqual({ retried: 1, recorded: 0 });
    expect(fake.calls).toEqual(['m1']);
    expect(queue.counts().awaitingRetry).toBe(1);
  });

  it('retries the messages start-up could not ingest, reading their events from the receipts', async () => {
    const fake = fakeIngest();
    const clock = new ManualClock();
    const receipts = {
      put: async () => {},
      get: async (id: string) => (id === 'from-before' ? eventOf(id) : undefined),
      removeTempFiles: async () => 0,
    };
    const queue = createIngestQueue({ ingest: fake.ingest, receipts, clock, log: silentLogger });

    queue.adopt(['from-before']);
    const counted = queue.counts();
    clock.advance(RETRY_AFTER_MS / 1000);
    const round = await queue.retry();

    expect(counted).toEqual({ ingesting: 0, awaitingRetry: 1 });
    expect(round).toEqual({ retried: 1, recorded: 1 });
    expect(fake.calls).toEqual(['from-before']);
  });
});
