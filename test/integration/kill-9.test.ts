import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StateCounts } from '../../lambdas/ports.js';
import { freePort, LifeboatProcess, senderMessage, writeConfigFile } from '../support/lifeboat-process.js';
import { TestPrimary } from '../support/primary.js';
import { routeTo, sendRaw, TEST_DOMAIN } from '../support/runtime.js';

/** Concurrent sending MTAs, each with its own messages. */
const SENDERS = 8;
/** Messages per sender: 104 in all, the size of the drill that found duplicates. */
const MESSAGES_PER_SENDER = 13;
const TOTAL = SENDERS * MESSAGES_PER_SENDER;
/** kill -9s per run, each at a random number of acknowledged messages. */
const KILLS = 3;
/** A sender retries a transaction that failed (runtime dead, connection cut) after this pause. */
const RETRY_PAUSE_MS = 100;
/** The whole drill, sending included, must finish within this; it takes about 20 s here. */
const DRILL_TIMEOUT_MS = 150_000;
/**
 * Copies of stored messages the kills of one run may cost: the deliveries in flight at a kill
 * whose primary's 250 had come back while `delivered` was not yet recorded. Measured: 9 in 30 kills
 * over ten runs, at most 3 in one run; this leaves more than twice that.
 */
const MAX_RESENT_PER_RUN = 8;
/**
 * Messages the kills of one run may store twice. The receiver's receipt is acknowledged by a
 * rename right before its 250 and start-up leaves undelivered what a kill stopped short of that
 * rename, so only a kill between the rename and the reply (the same tick) costs a second copy.
 * Measured: none in 90 kills (30 here, 60 in the bench's kill9 figure); 0.7 to 0.8 per kill while
 * a killed process's fsynced receipt still counted as acknowledged.
 */
const MAX_STORED_TWICE_PER_RUN = 1;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Outgoing {
  messageId: string;
  recipient: string;
  raw: string;
  /** The gateway's id from its 250, once accepted. */
  acceptedAs: string | null;
  /** Transactions that failed (refused while the runtime was down, or cut by a kill). */
  failures: number;
}

function outgoing(sender: number, n: number): Outgoing {
  return { ...senderMessage('kill9', TEST_DOMAIN, sender, n), acceptedAs: null, failures: 0 };
}

describe('kill -9 of npm start while 8 senders send', () => {
  let dir: string;
  let primary: TestPrimary;
  let lifeboat: LifeboatProcess | undefined;
  /** Every process started, the killed ones included. */
  const started: LifeboatProcess[] = [];
  let messages: Outgoing[];
  /** primary.transactions.length at each restart: copies before it came from an earlier process. */
  const restartMarks: number[] = [];
  let drained: StateCounts;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'lifeboat-kill9-'));
    primary = await TestPrimary.start();
    const ports = { smtp: await freePort(), api: await freePort() };
    const dataDir = path.join(dir, 'data');
    const configFile = await writeConfigFile(dir, {
      domains: [TEST_DOMAIN],
      routes: [routeTo('primary', [primary], { domains: [TEST_DOMAIN] })],
      // The sweeper's shortest interval, and a short first backoff in case an attempt is deferred.
      queue: { sweepIntervalSeconds: 5, minBackoffSeconds: 5, maxBackoffSeconds: 60 },
      local: { dataDir, smtpPort: ports.smtp, apiPort: ports.api },
    });
    lifeboat = await LifeboatProcess.start({ cwd: dir, configFile });
    started.push(lifeboat);

    messages = Array.from({ length: SENDERS }, (_, s) =>
      Array.from({ length: MESSAGES_PER_SENDER }, (_, n) => outgoing(s, n)),
    ).flat();
    const accepted = () => messages.filter((m) => m.acceptedAs !== null).length;

    const send = async (m: Outgoing) => {
      for (;;) {
        try {
          m.acceptedAs = (await sendRaw(ports.smtp, { to: [m.recipient], raw: m.raw })).id;
          return;
        } catch {
          m.failures++;
          await sleep(RETRY_PAUSE_MS);
        }
      }
    };
    const senders = Array.from({ length: SENDERS }, async (_, s) => {
      for (const m of messages.slice(s * MESSAGES_PER_SENDER, (s + 1) * MESSAGES_PER_SENDER)) await send(m);
    });

    // Kills at random points: after a random share of the messages is acknowledged, a random
    // few milliseconds later, so some land mid-transaction and some mid-delivery.
    const killAt = Array.from({ length: KILLS }, () => Math.floor(TOTAL * (0.1 + 0.75 * Math.random()))).sort(
      (a, b) => a - b,
    );
    const killer = (async () => {
      for (const at of killAt) {
        while (accepted() < at) await sleep(2);
        await sleep(Math.random() * 20);
        await lifeboat?.kill9();
        // Whatever the dead process had sent is in by now; everything later is the next one's.
        await sleep(50);
        restartMarks.push(primary.transactions.length);
        lifeboat = await LifeboatProcess.start({ cwd: dir, configFile });
        started.push(lifeboat);
      }
    })();
    await Promise.all([...senders, killer]);

    // Drained: nothing queued, delivering or deferred, and every acknowledged message arrived.
    const token = (await readFile(path.join(dataDir, 'admin-token'), 'utf8')).trim();
    for (;;) {
      const res = await fetch(`http://127.0.0.1:${ports.api}/admin/status`, {
        headers: { authorization: `Bearer ${token}` },
      });
      drained = ((await res.json()) as { queue: StateCounts }).queue;
      const arrived = new Set(primary.transactions.map((t) => t.gatewayId));
      const waiting = drained.queued + drained.delivering + drained.deferred;
      if (waiting === 0 && messages.every((m) => arrived.has(m.acceptedAs))) break;
      await sleep(200);
    }
  }, DRILL_TIMEOUT_MS);

  afterAll(async () => {
    await lifeboat?.stop();
    await primary.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** Which process (0 = first, 1 = after the first kill …) sent the primary's transaction `i`. */
  const processOf = (i: number) => restartMarks.filter((mark) => mark <= i).length;

  it('delivers every message that got a 250, under the id the 250 named', () => {
    const arrived = new Set(primary.transactions.map((t) => t.gatewayId));

    expect(messages.filter((m) => !arrived.has(m.acceptedAs)).map((m) => m.messageId)).toEqual([]);
    expect(drained.failed + drained.held + drained.quarantined).toBe(0);
  });

  it('sends a stored message twice only when a kill cut its delivery short, and rarely', () => {
    const copies = new Map<string, number[]>();
    primary.transactions.forEach((t, i) => {
      copies.set(t.gatewayId ?? '', [...(copies.get(t.gatewayId ?? '') ?? []), i]);
    });
    const resent = [...copies.values()].filter((at) => at.length > 1);

    // Each extra copy came from a later process than the one before it: never twice from one.
    for (const at of resent) {
      const processes = at.map(processOf);
      expect(new Set(processes).size).toBe(processes.length);
    }
    const extra = resent.reduce((n, at) => n + at.length - 1, 0);
    console.info(
      `kill -9 drill: ${KILLS} kills, ${TOTAL} messages, ${primary.transactions.length} transactions at the primary; ` +
        `${extra} resent after a kill cut their delivery short, ` +
        `${messages.filter((m) => new Set(primary.copiesOf(m.messageId).map((t) => t.gatewayId)).size > 1).length} stored twice because the sender retried a cut transaction`,
    );
    expect(extra).toBeLessThanOrEqual(MAX_RESENT_PER_RUN);
  });

  it('stores a message twice only when its sender retried a transaction the kill cut, and almost never', () => {
    const storedTwice = messages.filter(
      (m) => new Set(primary.copiesOf(m.messageId).map((t) => t.gatewayId)).size > 1,
    );

    expect(storedTwice.filter((m) => m.failures === 0).map((m) => m.messageId)).toEqual([]);
    expect(storedTwice.length).toBeLessThanOrEqual(MAX_STORED_TWICE_PER_RUN);
  });

  it('reclaims and recovers at each start, and says so', () => {
    expect(started).toHaveLength(KILLS + 1);
    for (const child of started) {
      expect(child.output).toMatch(/reclaimed \d+ interrupted deliveries/);
      expect(child.output).toMatch(/recovered \d+ unrecorded messages/);
    }
  });
});
