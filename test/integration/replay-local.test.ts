import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REPLAY_HEADER } from '../../lambdas/console/replay.js';
import { runLifeboat } from '../support/cli.js';
import { writeConfigFile } from '../support/lifeboat-process.js';
import { TestPrimary } from '../support/primary.js';
import { makeDataDir, routeTo, startTestRuntime, TEST_DOMAIN, type TestRuntime } from '../support/runtime.js';

const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';

/** A message as a sender's MTA writes it; Bob is its Bcc recipient when the envelope names him. */
function message(i: number): string {
  return [
    'From: Sender <sender@sender.example>',
    `To: ${ALICE}`,
    `Message-ID: <msg-${i}@Sender.Example>`,
    `Subject: archived message ${i}`,
    'Date: Sun, 22 Nov 2026 09:00:00 +0000',
    '',
    `Body of message ${i}.`,
    '',
  ].join('\r\n');
}

describe('replay on the local runtime', () => {
  let dir: string;
  let primary: TestPrimary;
  let runtime: TestRuntime;
  let configFile: string;

  const lifeboat = (...args: string[]) => runLifeboat(args, { configFile, cwd: dir });

  /** Copies of the message the primary received in replays, by Message-ID. */
  const replayed = () => {
    const counts: Record<string, number> = {};
    for (const t of primary.transactions) {
      if (!t.raw.toString('latin1').startsWith(`${REPLAY_HEADER}: `)) continue;
      const id = t.messageId ?? '?';
      counts[id] = (counts[id] ?? 0) + 1;
    }
    return counts;
  };

  beforeEach(async () => {
    dir = await makeDataDir();
    primary = await TestPrimary.start();
    const input = {
      organisation: 'Replay tests',
      domains: [TEST_DOMAIN],
      routes: [routeTo('primary', [primary], { domains: [TEST_DOMAIN] })],
    };
    const { parseConfig } = await import('../../lambdas/core/config.js');
    runtime = await startTestRuntime({
      config: parseConfig(input, 'test config'),
      dataDir: path.join(dir, 'data'),
      api: true,
    });
    configFile = await writeConfigFile(dir, {
      ...input,
      local: { dataDir: runtime.dataDir, apiPort: runtime.apiPort ?? 0, smtpPort: runtime.smtpPort },
    });
  });

  afterEach(async () => {
    await runtime.stop();
    await primary.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('replays a window into the restored primary, skipping the Message-IDs its export holds, records expired or not', async () => {
    // Six messages arrive and are delivered; Bob gets the sixth as a Bcc recipient.
    for (let i = 1; i <= 6; i++) {
      await runtime.sendAndSettle({ to: i === 6 ? [ALICE, BOB] : [ALICE], raw: message(i) });
    }
    expect(primary.transactions).toHaveLength(6);
    // The primary is restored from a backup taken after message 3: its export holds 1 to 3.
    const exportDir = path.join(dir, 'restored', 'Maildir');
    for (const sub of ['cur', 'new', 'tmp']) await mkdir(path.join(exportDir, sub), { recursive: true });
    for (let i = 1; i <= 3; i++) {
      await writeFile(path.join(exportDir, i === 3 ? 'new' : 'cur', `${i}.host:2,S`), message(i));
    }

    const present = await lifeboat('replay', 'present-ids', exportDir);
    expect(present).toMatchObject({ code: 0, err: '' });
    expect(present.out.split('\n').filter(Boolean).sort()).toEqual([
      '<msg-1@sender.example>',
      '<msg-2@sender.example>',
      '<msg-3@sender.example>',
    ]);
    await writeFile(path.join(dir, 'present.txt'), present.out);

    runtime.clock.advance(60);
    const from = new Date(runtime.clock.now().getTime() - 3_600_000).toISOString();
    const started = await lifeboat('replay', 'start', '--from', from, '--skip-ids', 'present.txt', '--json');
    expect(started.err).toBe('');
    const job = JSON.parse(started.out.trim()) as { id: string; skipIds: number };
    expect(job.skipIds).toBe(3);
    await runtime.replays.idle();
    await runtime.idle();

    expect(replayed()).toEqual({
      '<msg-4@Sender.Example>': 1,
      '<msg-5@Sender.Example>': 1,
      '<msg-6@Sender.Example>': 1,
    });
    // The Bcc recipient comes from the record, which still exists.
    const sixth = primary.transactions.filter((t) => t.messageId === '<msg-6@Sender.Example>').at(-1);
    expect(sixth?.to.sort()).toEqual([ALICE, BOB]);

    const status = await lifeboat('replay', 'status', job.id);
    expect(status.out).toMatch(/FINISHED/);
    expect(status.out).toContain('3 sent, 3 present on the primary, 0 out of scope, 0 failed');
    const csv = await lifeboat('replay', 'report', job.id, '--csv');
    expect(csv.out.split('\r\n')[0]).toBe(
      'seq,received_at,id,message_id,outcome,recipient,route,status,response,detail,at',
    );
    expect(csv.out.match(/,sent,/g)).toHaveLength(4);
  });

  it('takes a skip list of 50,000 Message-IDs from a file through the local API', async () => {
    const ids = Array.from({ length: 50_000 }, (_, i) => `<restored-${i}.abcdef0123456789@mail.example.com>`);
    await writeFile(path.join(dir, 'big.txt'), `${ids.join('\n')}\n`);
    runtime.clock.advance(60);
    const from = new Date(runtime.clock.now().getTime() - 3_600_000).toISOString();
    const started = await lifeboat('replay', 'start', '--from', from, '--skip-ids', 'big.txt', '--json');
    expect(started.err).toBe('');
    expect(JSON.parse(started.out.trim())).toMatchObject({ skipIds: 50_000 });
  });

  it('replays messages whose records have expired from their raw headers, once each', async () => {
    for (let i = 1; i <= 3; i++) await runtime.sendAndSettle({ to: [ALICE, BOB], raw: message(i) });
    // Past the history window the records go; the raw archive stays for retentionDays.
    const purged = await runtime.stores.store.purgeExpired(new Date(Date.now() + 40 * 86_400_000));
    expect(purged.messages).toBe(3);
    runtime.clock.advance(60);
    const from = new Date(runtime.clock.now().getTime() - 3_600_000).toISOString();
    const started = await lifeboat('replay', 'start', '--from', from, '--json');
    const job = JSON.parse(started.out.trim()) as { id: string };
    await runtime.replays.idle();
    expect(replayed()).toEqual({
      '<msg-1@Sender.Example>': 1,
      '<msg-2@Sender.Example>': 1,
      '<msg-3@Sender.Example>': 1,
    });
    // Bob was a Bcc recipient: his address is in no header, so an expired record's copy reaches only Alice.
    const copies = primary.transactions.filter((t) => t.raw.toString('latin1').startsWith(REPLAY_HEADER));
    expect(copies.map((t) => t.to)).toEqual([[ALICE], [ALICE], [ALICE]]);
    const report = await lifeboat('replay', 'report', job.id);
    expect(report.out).toContain('3 sent');
  });

  it('resumes a replay a stopped runtime left under way, sending each message once', async () => {
    for (let i = 1; i <= 8; i++) await runtime.sendAndSettle({ to: [ALICE], raw: message(i) });
    runtime.clock.advance(60);
    const from = new Date(runtime.clock.now().getTime() - 3_600_000).toISOString();
    // The runtime stops after the third replayed message, as a killed process would.
    const ctx = runtime.ctx as typeof runtime.ctx & { checkpoint?: (step: string, seq: number) => void };
    ctx.checkpoint = (step, seq) => {
      if (step === 'recorded' && seq === 2) throw new Error('killed');
    };
    const started = await lifeboat('replay', 'start', '--from', from, '--json');
    const job = JSON.parse(started.out.trim()) as { id: string };
    await runtime.replays.idle();
    ctx.checkpoint = undefined;
    // Stopped partway: the message it was on and the one beside it (hand-over concurrency 2) have their rows.
    expect(Object.keys(replayed()).length).toBeGreaterThanOrEqual(3);
    expect(Object.keys(replayed()).length).toBeLessThan(8);
    const dataDir = runtime.dataDir;
    const config = runtime.config;
    await runtime.stop();

    runtime = await startTestRuntime({ config, dataDir, api: true });
    await new Promise((r) => setTimeout(r, 50));
    await runtime.replays.idle();
    const counts = replayed();
    expect(Object.keys(counts)).toHaveLength(8);
    expect(Object.values(counts).every((n) => n === 1)).toBe(true);
    const after = await runtime.ctx.jobs?.getSending<{ state: string }>('replay', '#org', job.id);
    expect(after?.data.state).toBe('finished');
  });
});
