import { readdir } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createReceiptStore, currentBootId } from '../../infra/local/receipts.js';
import { claimDelivery } from '../../lambdas/core/delivery-state.js';
import type { Logger } from '../../lambdas/ports.js';
import { ManualClock } from '../support/memory-store.js';
import { TestPrimary } from '../support/primary.js';
import {
  makeDataDir,
  readFixture,
  startTestRuntime,
  type TestRuntime,
  testConfig,
} from '../support/runtime.js';

const SITE_VISIT = '<site-visit-20261120@sender.example>';

/** A logger that keeps its lines as `level message`, for the counts start-up reports. */
function recordingLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (m) => void lines.push(`info ${m}`),
    warn: (m) => void lines.push(`warn ${m}`),
    error: (m) => void lines.push(`error ${m}`),
  };
}

describe('start-up recovery on the single-node runtime', () => {
  let primary: TestPrimary;
  let dataDir: string;
  let clock: ManualClock;
  let before: TestRuntime | undefined;
  let after: TestRuntime | undefined;

  beforeEach(async () => {
    primary = await TestPrimary.start();
    dataDir = await makeDataDir();
    clock = new ManualClock(new Date(Math.floor(Date.now() / 1000) * 1000));
  });

  afterEach(async () => {
    await before?.stop();
    await after?.stop();
    before = after = undefined;
    await primary.stop();
  });

  /** The runtime again on the same data folder, as after a crash; the start-up log is kept. */
  async function restart(): Promise<{ rt: TestRuntime; log: ReturnType<typeof recordingLog> }> {
    await before?.stop();
    const log = recordingLog();
    after = await startTestRuntime({ config: testConfig(primary), dataDir, clock, log });
    await after.idle();
    return { rt: after, log };
  }

  /**
   * The disk as a crash between the receiver's 250 and ingest leaves it: raw message and receipt
   * fsynced, no record. Made with the real receiver, whose ingest fails every time.
   */
  async function storedButNeverRecorded(): Promise<void> {
    before = await startTestRuntime({ config: testConfig(primary), dataDir, clock });
    before.ctx.store = {
      ...before.ctx.store,
      async putMessage() {
        throw new Error('the process died here');
      },
    };
    await before.send({ to: ['alice@example.com', 'bob@example.com'], raw: await readFixture('plain.eml') });
    await before.idle();
  }

  /**
   * The disk as a crash in the middle of ingest leaves it: the message record and alice's
   * delivery written, bob's not (ingest writes the record first, then one delivery per recipient).
   */
  async function recordedButNotAllDeliveries(): Promise<string> {
    before = await startTestRuntime({ config: testConfig(primary), dataDir, clock, deliverOnIngest: false });
    const store = before.ctx.store;
    before.ctx.store = {
      ...store,
      async createDelivery(d) {
        if (d.recipient === 'bob@example.com') throw new Error('the process died here');
        return store.createDelivery(d);
      },
    };
    const sent = await before.send({
      to: ['alice@example.com', 'bob@example.com'],
      raw: await readFixture('plain.eml'),
    });
    await before.idle();
    return sent.id;
  }

  it('ingests a raw message that was stored but never recorded, with the envelope the receiver saw', async () => {
    await storedButNeverRecorded();
    const [id] = await readdir(`${dataDir}/raw`);

    const { rt } = await restart();

    const message = await rt.message(id as string);
    expect(message).toMatchObject({
      envelopeFrom: 'sender@sender.example',
      recipients: ['alice@example.com', 'bob@example.com'],
      subject: 'Site visit moved to Thursday',
    });
    expect(message?.verdicts.spf).toBeDefined();
  });

  it('delivers a recovered message once to each recipient', async () => {
    await storedButNeverRecorded();
    const [id] = await readdir(`${dataDir}/raw`);

    const { rt } = await restart();

    expect((await rt.deliveries(id as string)).map((d) => d.state)).toEqual(['delivered', 'delivered']);
    expect(primary.copiesFor(SITE_VISIT, 'alice@example.com')).toBe(1);
    expect(primary.copiesFor(SITE_VISIT, 'bob@example.com')).toBe(1);
  });

  it('ingests again a message whose record was written but not all its deliveries', async () => {
    const id = await recordedButNotAllDeliveries();
    expect((await before?.deliveries(id))?.map((d) => d.recipient)).toEqual(['alice@example.com']);

    const { rt } = await restart();

    expect(rt.recovery.recovered).toBe(1);
    expect((await rt.deliveries(id)).map((d) => [d.recipient, d.state])).toEqual([
      ['alice@example.com', 'delivered'],
      ['bob@example.com', 'delivered'],
    ]);
    expect(primary.copiesFor(SITE_VISIT, 'alice@example.com')).toBe(1);
    expect(primary.copiesFor(SITE_VISIT, 'bob@example.com')).toBe(1);
  });

  it('logs how many unrecorded messages it recovered', async () => {
    await storedButNeverRecorded();

    const { rt, log } = await restart();

    expect(rt.recovery.recovered).toBe(1);
    expect(log.lines).toContain('info recovered 1 unrecorded messages');
  });

  it('leaves alone a raw message without a receipt (never acknowledged) and says so', async () => {
    before = await startTestRuntime({ config: testConfig(primary), dataDir, clock });
    await before.stores.blobs.putRaw('raw/never-acknowledged', await readFixture('plain.eml'));

    const { rt, log } = await restart();

    expect(await rt.message('never-acknowledged')).toBeUndefined();
    expect(rt.recovery).toMatchObject({ recovered: 0, unacknowledged: 1 });
    expect(log.lines).toContain(
      'warn raw messages without a receipt were never acknowledged; left undelivered',
    );
    expect(primary.transactions).toHaveLength(0);
  });

  describe('a receipt still staged (stored, but not yet acknowledged)', () => {
    /** Raw message and staged receipt, durable, as the receiver leaves them just before its 250. */
    async function stagedBy(bootId: string | undefined): Promise<string> {
      before = await startTestRuntime({ config: testConfig(primary), dataDir, clock });
      const id = 'stored-not-acknowledged';
      const event = await before.sesEvent(id, await readFixture('plain.eml'), ['alice@example.com']);
      await createReceiptStore(before.layout.receiptsDir, { bootId }).stage(event);
      return id;
    }

    it('of this boot is a message its sender sends again: left undelivered, its receipt removed', async () => {
      const id = await stagedBy(currentBootId());

      const { rt } = await restart();

      expect(await rt.message(id)).toBeUndefined();
      expect(rt.recovery).toMatchObject({ recovered: 0, unacknowledged: 1 });
      expect(await rt.stores.receipts.listStaged()).toEqual(new Map());
      expect(primary.transactions).toHaveLength(0);
    });

    it('of an earlier boot may have lost its acknowledgement to a power cut: delivered once', async () => {
      const id = await stagedBy('an-earlier-boot');

      const { rt } = await restart();

      expect(rt.recovery.recovered).toBe(1);
      expect(await rt.delivery(id, 'alice@example.com')).toMatchObject({ state: 'delivered' });
      expect(await rt.stores.receipts.get(id)).toBeDefined();
      expect(primary.copiesFor(SITE_VISIT, 'alice@example.com')).toBe(1);
    });
  });

  it('does not ingest again a message that was recorded', async () => {
    before = await startTestRuntime({ config: testConfig(primary), dataDir, clock });
    const sent = await before.sendAndSettle({
      to: ['alice@example.com'],
      raw: await readFixture('plain.eml'),
    });

    const { rt } = await restart();

    expect(rt.recovery.recovered).toBe(0);
    expect(await rt.delivery(sent.id, 'alice@example.com')).toMatchObject({
      state: 'delivered',
      attempts: 1,
    });
    expect(primary.copiesFor(SITE_VISIT, 'alice@example.com')).toBe(1);
  });

  describe('deliveries the dead process had claimed', () => {
    /** A delivery left `delivering`, its lease running for the default 300 s, as a kill -9 leaves it. */
    async function claimedThenKilled(): Promise<string> {
      before = await startTestRuntime({
        config: testConfig(primary),
        dataDir,
        clock,
        deliverOnIngest: false,
      });
      const sent = await before.send({ to: ['alice@example.com'], raw: await readFixture('plain.eml') });
      await before.idle();
      const queued = await before.delivery(sent.id, 'alice@example.com');
      const claimed = claimDelivery(queued, clock.now(), 'dead-worker', before.config.queue.leaseSeconds);
      await before.ctx.store.replaceDelivery(claimed, queued.version);
      return sent.id;
    }

    it('sends them at once instead of waiting out the lease', async () => {
      const id = await claimedThenKilled();

      const { rt } = await restart(); // the clock has not moved: the lease has 300 s to run

      expect(await rt.delivery(id, 'alice@example.com')).toMatchObject({ state: 'delivered' });
      expect(primary.copiesFor(SITE_VISIT, 'alice@example.com')).toBe(1);
    });

    it('logs how many it reclaimed', async () => {
      await claimedThenKilled();

      const { rt, log } = await restart();

      expect(rt.recovery.reclaimed).toBe(1);
      expect(log.lines).toContain('info reclaimed 1 interrupted deliveries');
    });
  });
});
