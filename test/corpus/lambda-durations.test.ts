import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ASSUMPTIONS, keptSessions, PRICED_DURATION_CALLS, workedMonth } from '../../bench/aws-cost.js';
import { CORPUS_MISSING, loadCorpus } from '../../bench/corpus.js';
import { meanCalls, startPrimary } from '../../bench/lambda-durations.js';
import { type InvocationKind, runHandlers } from '../../bench/lambda-durations-child.js';
import { type AwsEmulators, startAwsEmulators } from '../support/aws-emulators.js';

/**
 * The worked month prices each function's measured duration (PRICED_DURATIONS), which is mostly the
 * calls it waits for. This runs the handlers again on the corpus, with no latency added and no
 * clock read, and counts those calls: a handler that now makes more or fewer AWS calls, or opens
 * SMTP sessions differently, fails here until its duration is measured again and priced.
 */
describe('runHandlers', () => {
  let emulators: AwsEmulators;
  let primary: Awaited<ReturnType<typeof startPrimary>>;
  beforeAll(async () => {
    emulators = await startAwsEmulators();
    primary = await startPrimary();
  });
  afterAll(async () => {
    await primary?.stop();
    await emulators?.stop();
  });

  it('makes the calls each function made when its priced duration was measured', async () => {
    if (!(await loadCorpus())) throw new Error(CORPUS_MISSING);
    const endpoint = async (client: typeof emulators.dynamo | typeof emulators.s3) => {
      const e = await client.config.endpoint?.();
      if (!e) throw new Error('no endpoint');
      return `${e.protocol}//${e.hostname}:${e.port}${e.path}`;
    };
    const smtp: Record<string, { sessions: number; messages: number }> = {};
    let before = { sessions: 0, messages: 0 };
    const result = await runHandlers(
      {
        dynamoEndpoint: await endpoint(emulators.dynamo),
        s3Endpoint: await endpoint(emulators.s3),
        tableName: await emulators.createTable(),
        bucket: await emulators.createBucket(),
        smtpPort: primary.port,
      },
      {
        latency: false,
        around(kind, phase) {
          if (phase === 'start') {
            before = { ...primary.seen };
            return;
          }
          const into = smtp[kind] ?? { sessions: 0, messages: 0 };
          smtp[kind] = into;
          into.sessions += primary.seen.sessions - before.sessions;
          into.messages += primary.seen.messages - before.messages;
        },
      },
    );
    const kinds: InvocationKind[] = ['ingest', 'deliverFresh', 'deliverKept', 'sweep', 'probe'];
    const counted = Object.fromEntries(
      kinds.map((kind) => {
        const n = result[kind].length;
        const s = smtp[kind] ?? { sessions: 0, messages: 0 };
        const per = (x: number) => Math.round((x / n) * 100) / 100;
        return [
          kind,
          { ...meanCalls(result[kind]), smtpSessions: per(s.sessions), smtpMessages: per(s.messages) },
        ];
      }),
    );

    expect(result.undelivered).toBe(0);
    expect(counted).toEqual(PRICED_DURATION_CALLS);
  }, 180_000);
});

describe('keptSessions', () => {
  it('finds most deliveries a kept session at the month’s rate, and fewer when mail is sparse', () => {
    const month = keptSessions(ASSUMPTIONS);
    const sparse = keptSessions({ ...ASSUMPTIONS, messagesPerUserPerDay: 1 });

    expect(month.share).toBeGreaterThan(0.9);
    expect(month.share).toBeLessThan(1 - 1 / ASSUMPTIONS.messagesPerSession + 1e-9);
    expect(sparse.share).toBeLessThan(month.share);
    expect(month.deliverSeconds).toBeLessThan(ASSUMPTIONS.deliverFreshSeconds);
    expect(month.deliverSeconds).toBeGreaterThan(ASSUMPTIONS.deliverKeptSeconds);
  });

  it('prices deliver at the fresh session’s duration when no session is kept', () => {
    const none = workedMonth({ ...ASSUMPTIONS, sessionIdleSeconds: 0 });
    const month = workedMonth();
    const compute = (m: ReturnType<typeof workedMonth>) =>
      m.items.find((i) => i.item.startsWith('Lambda compute'))?.usd ?? 0;

    expect(keptSessions({ ...ASSUMPTIONS, sessionIdleSeconds: 0 }).share).toBe(0);
    expect(compute(none)).toBeGreaterThan(compute(month));
  });
});
