import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../lambdas/adapters/logger.js';
import type { RouteConfig } from '../../lambdas/core/config.js';
import {
  type DeliverStep,
  deliverMessage,
  leaseSecondsFor,
  worstCaseAttemptSeconds,
} from '../../lambdas/core/deliver.js';
import { ingestMessage } from '../../lambdas/core/ingest.js';
import type { Envelope, Mailer, RecipientOutcome } from '../../lambdas/ports.js';
import { journaled } from '../support/counting-store.js';
import { passVerdicts, simpleMessage, testConfig } from '../support/fixtures.js';
import { ManualClock, MemoryBlobs, MemoryStore } from '../support/memory-store.js';

type Reply = (recipient: string, route: RouteConfig) => Omit<RecipientOutcome, 'recipient'>;

class FakeMailer implements Mailer {
  sent: Array<{ route: string; envelope: Envelope; raw: Buffer }> = [];
  constructor(
    public reply: Reply = () => ({ status: 'delivered', response: '250 2.0.0 Ok', host: 'mx:25' }),
  ) {}
  async send(route: RouteConfig, envelope: Envelope, raw: Buffer) {
    this.sent.push({ route: route.name, envelope, raw });
    return envelope.to.map((recipient) => ({ recipient, ...this.reply(recipient, route) }));
  }
}

async function setup(
  recipients = ['alice@example.com', 'bob@example.com', 'ceo@example.com'],
  mailer = new FakeMailer(),
) {
  const store = new MemoryStore();
  const blobs = new MemoryBlobs();
  blobs.objects.set('raw/m1', simpleMessage);
  const clock = new ManualClock();
  const deps = { store, blobs, mailer, config: testConfig(), clock, log: silentLogger };
  await ingestMessage(
    {
      messageId: 'm1',
      rawKey: 'raw/m1',
      envelopeFrom: 'sender@example.org',
      recipients,
      receivedAt: clock.now().toISOString(),
      verdicts: passVerdicts,
    },
    deps,
  );
  const state = async () =>
    Object.fromEntries((await store.listDeliveries('m1')).map((d) => [d.recipient, d.state] as const));
  return { store, blobs, mailer, clock, deps, state };
}

describe('deliverMessage', () => {
  it('sends one transaction per route carrying all its recipients, with the envelope sender', async () => {
    const { mailer, deps, state } = await setup();
    const result = await deliverMessage('m1', deps);
    expect(result).toMatchObject({ delivered: 3, deferred: 0, failed: 0 });
    expect(mailer.sent.map((s) => [s.route, s.envelope.to])).toEqual([
      ['cloud', ['alice@example.com', 'bob@example.com']],
      ['onprem', ['ceo@example.com']],
    ]);
    expect(mailer.sent[0]?.envelope.from).toBe('sender@example.org');
    expect(await state()).toEqual({
      'alice@example.com': 'delivered',
      'bob@example.com': 'delivered',
      'ceo@example.com': 'delivered',
    });
  });

  it('sends the stored bytes unchanged behind one trace header', async () => {
    const { mailer, deps } = await setup(['alice@example.com']);
    await deliverMessage('m1', deps);
    const raw = mailer.sent[0]!.raw;
    const text = raw.toString('latin1');
    expect(
      text.startsWith('Received: by lifeboat.local (Lifeboat) id m1\r\n\tfor <alice@example.com>;'),
    ).toBe(true);
    expect(raw.subarray(raw.length - simpleMessage.length).equals(simpleMessage)).toBe(true);
    expect(text.match(/^Received:/gm)).toHaveLength(1);
  });

  it('delivers a record written before deliveries carried the raw key and sender, from its message', async () => {
    const { store, mailer, deps } = await setup(['alice@example.com']);
    const stored = await store.getDelivery({ messageId: 'm1', recipient: 'alice@example.com' });
    const { rawKey: _key, envelopeFrom: _from, ...older } = stored!;
    store.deliveries.clear();
    await store.createDelivery(older);
    await deliverMessage('m1', deps);
    expect(mailer.sent.map((s) => [s.envelope.from, s.envelope.to])).toEqual([
      ['sender@example.org', ['alice@example.com']],
    ]);
    expect(mailer.sent[0]!.raw.subarray(mailer.sent[0]!.raw.length - simpleMessage.length)).toEqual(
      simpleMessage,
    );
  });

  it('gives each recipient its own outcome from its own RCPT reply', async () => {
    const mailer = new FakeMailer((rcpt) =>
      rcpt === 'bob@example.com'
        ? { status: 'failed', response: '550 5.1.1 <bob@example.com>: user unknown', host: 'mx1:587' }
        : { status: 'delivered', response: '250 ok', host: 'mx1:587' },
    );
    const { store, deps, state } = await setup(undefined, mailer);
    await deliverMessage('m1', deps);
    expect(await state()).toEqual({
      'alice@example.com': 'delivered',
      'bob@example.com': 'failed',
      'ceo@example.com': 'delivered',
    });
    expect((await store.getDelivery({ messageId: 'm1', recipient: 'bob@example.com' }))?.lastError).toBe(
      'mx1:587: 550 5.1.1 <bob@example.com>: user unknown',
    );
  });

  it('defers on a 421 and keeps the message for a later attempt', async () => {
    const mailer = new FakeMailer(() => ({
      status: 'deferred',
      response: '421 4.3.2 try later',
      host: 'mx1:587',
    }));
    const { store, deps, clock } = await setup(['alice@example.com'], mailer);
    await deliverMessage('m1', deps);
    const d = await store.getDelivery({ messageId: 'm1', recipient: 'alice@example.com' });
    expect(d).toMatchObject({ state: 'deferred', attempts: 1, lastError: 'mx1:587: 421 4.3.2 try later' });
    expect(Date.parse(d!.nextAttemptAt!) - clock.now().getTime()).toBe(300_000);
  });

  it('does not send a deferred recipient before it is due', async () => {
    const mailer = new FakeMailer(() => ({ status: 'deferred', response: '421', host: null }));
    const { deps, clock } = await setup(['alice@example.com'], mailer);
    await deliverMessage('m1', deps);
    clock.advance(299);
    expect((await deliverMessage('m1', deps)).skipped).toBe(1);
    expect(mailer.sent).toHaveLength(1);
    clock.advance(1);
    await deliverMessage('m1', deps);
    expect(mailer.sent).toHaveLength(2);
  });

  it('never sends a recipient twice when two workers run at once', async () => {
    const { mailer, deps } = await setup();
    await Promise.all([deliverMessage('m1', deps), deliverMessage('m1', deps), deliverMessage('m1', deps)]);
    const sentTo = mailer.sent.flatMap((s) => s.envelope.to).sort();
    expect(sentTo).toEqual(['alice@example.com', 'bob@example.com', 'ceo@example.com']);
  });

  it('defers, visibly, when the stored message cannot be read', async () => {
    const { store, blobs, mailer, deps } = await setup(['alice@example.com']);
    blobs.objects.clear();
    await deliverMessage('m1', deps);
    expect(mailer.sent).toHaveLength(0);
    const d = await store.getDelivery({ messageId: 'm1', recipient: 'alice@example.com' });
    expect(d?.state).toBe('deferred');
    expect(d?.lastError).toMatch(/could not read the stored message/);
  });

  it('defers when the mailer itself throws, and says it was a local error', async () => {
    const mailer = new FakeMailer();
    mailer.send = async () => {
      throw new Error('boom');
    };
    const { store, deps } = await setup(['alice@example.com'], mailer);
    await deliverMessage('m1', deps);
    expect((await store.getDelivery({ messageId: 'm1', recipient: 'alice@example.com' }))?.lastError).toBe(
      'local error: boom',
    );
  });

  it('holds instead of sending when the route went on hold after ingest', async () => {
    const { store, mailer, deps, state } = await setup(['alice@example.com', 'ceo@example.com']);
    await store.putHold({ scope: 'cloud', reason: 'continuity', since: 'x', by: 'y' });
    const result = await deliverMessage('m1', deps);
    expect(result).toMatchObject({ held: 1, delivered: 1 });
    expect(mailer.sent.map((s) => s.route)).toEqual(['onprem']);
    expect(await state()).toEqual({ 'alice@example.com': 'held', 'ceo@example.com': 'delivered' });
  });

  it('resumes after a crash between claim and send once the lease expires, sending once', async () => {
    const { mailer, deps, clock, state } = await setup(['alice@example.com']);
    const crashAt = (step: DeliverStep) => (s: DeliverStep) => {
      if (s === step) throw new Error(`crash after ${s}`);
    };
    await expect(deliverMessage('m1', { ...deps, checkpoint: crashAt('claimed') })).rejects.toThrow(
      /crash after claimed/,
    );
    expect(await state()).toEqual({ 'alice@example.com': 'delivering' });
    expect((await deliverMessage('m1', deps)).skipped).toBe(1);
    clock.advance(leaseSecondsFor(deps.config, 'cloud'));
    await deliverMessage('m1', deps);
    expect(mailer.sent).toHaveLength(1);
    expect(await state()).toEqual({ 'alice@example.com': 'delivered' });
  });
});

describe('deliverMessage: between the primary’s reply and the record', () => {
  /** A delivery of m1 whose every store call and reply is written to one journal, in order. */
  async function journaledSetup(recipients: string[], reply: Reply) {
    const journal: string[] = [];
    const mailer = new FakeMailer(reply);
    const send = mailer.send.bind(mailer);
    mailer.send = async (...args) => {
      const outcomes = await send(...args);
      journal.push('reply');
      return outcomes;
    };
    const { store, deps } = await setup(recipients, mailer);
    const watched = journaled(store, journal);
    return { journal, deps: { ...deps, store: watched, continuity: watched } };
  }

  it('records the delivery right after the 250, before the attempt sample and the flow buckets', async () => {
    const { journal, deps } = await journaledSetup(['alice@example.com'], () => ({
      status: 'delivered',
      response: '250 2.0.0 Ok',
      host: 'mx1:587',
    }));
    await deliverMessage('m1', deps);
    // A first attempt that delivered is its record: no reply is kept apart for it.
    expect(journal.slice(journal.indexOf('reply'))).toEqual([
      'reply',
      'replaceDelivery alice@example.com delivered',
      'recordAttempt',
      'addMetrics',
    ]);
  });

  it('records delivered recipients before it reads the holds a deferral needs', async () => {
    const { journal, deps } = await journaledSetup(['alice@example.com', 'bob@example.com'], (rcpt) =>
      rcpt === 'bob@example.com'
        ? { status: 'deferred', response: '452 4.2.2 mailbox full', host: 'mx1:587' }
        : { status: 'delivered', response: '250 2.0.0 Ok', host: 'mx1:587' },
    );
    await deliverMessage('m1', deps);
    expect(journal.slice(journal.indexOf('reply'))).toEqual([
      'reply',
      'replaceDelivery alice@example.com delivered',
      'listHolds',
      'replaceDelivery bob@example.com deferred',
      'recordAttempt',
      'recordDeliveryAttempt',
      'addMetrics',
    ]);
  });

  it('still holds a deferral when the route went on hold during the transaction', async () => {
    const { store, deps, state } = await setup(['alice@example.com']);
    deps.mailer.send = async (_route, envelope) => {
      await store.putHold({ scope: 'cloud', reason: 'continuity', since: 'x', by: 'y' });
      return envelope.to.map((recipient) => ({ recipient, status: 'deferred', response: '421', host: null }));
    };
    await deliverMessage('m1', deps);
    expect(await state()).toEqual({ 'alice@example.com': 'held' });
  });
});

describe('leaseSecondsFor', () => {
  it('outlasts the slowest attempt a route allows, so a live attempt is never taken over', () => {
    const config = testConfig();
    const cloud = config.routes.find((r) => r.name === 'cloud')!;
    // Two hosts × (connect + greeting) × 30 s + 2 × 120 s idle + 30 s margin.
    expect(worstCaseAttemptSeconds(cloud)).toBe(360);
    expect(leaseSecondsFor(config, 'cloud')).toBe(390);
    expect(leaseSecondsFor(config, 'onprem')).toBe(330);
    expect(leaseSecondsFor({ ...config, queue: { ...config.queue, leaseSeconds: 900 } }, 'cloud')).toBe(900);
  });
});
