import { rm } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LifeboatConfig } from '../../lambdas/core/config.js';
import { ManualClock } from '../support/memory-store.js';
import { TestPrimary } from '../support/primary.js';
import {
  makeDataDir,
  readFixture,
  startTestRuntime,
  type TestRuntime,
  testConfig,
} from '../support/runtime.js';

describe('restarting the local runtime on the same data folder', () => {
  let primary: TestPrimary;
  let config: LifeboatConfig;
  let dataDir: string;
  let clock: ManualClock;
  let before: TestRuntime;
  let after: TestRuntime | undefined;
  let messageId: string;

  beforeEach(async () => {
    primary = await TestPrimary.start();
    config = testConfig(primary);
    dataDir = await makeDataDir();
    clock = new ManualClock(new Date(Math.floor(Date.now() / 1000) * 1000));
    before = await startTestRuntime({ config, dataDir, clock });
    await primary.refuse();
    const sent = await before.sendAndSettle({
      to: ['alice@example.com'],
      raw: await readFixture('plain.eml'),
    });
    messageId = sent.id;
    await before.stop();
  });

  afterEach(async () => {
    await before.stop();
    await after?.stop();
    after = undefined;
    await primary.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('still has the message, its raw object and its deferred delivery', async () => {
    after = await startTestRuntime({ config, dataDir, clock });

    expect((await after.message(messageId))?.subject).toBe('Site visit moved to Thursday');
    expect((await after.ctx.blobs.getRaw(`raw/${messageId}`)).length).toBeGreaterThan(0);
    expect(await after.delivery(messageId, 'alice@example.com')).toMatchObject({
      state: 'deferred',
      attempts: 1,
    });
  });

  it('delivers the deferred message once it is due', async () => {
    after = await startTestRuntime({ config, dataDir, clock });
    await primary.accept();

    await after.sweepAfter(300);

    expect(await after.delivery(messageId, 'alice@example.com')).toMatchObject({
      state: 'delivered',
      attempts: 2,
    });
    expect(primary.copiesFor('<site-visit-20261120@sender.example>', 'alice@example.com')).toBe(1);
  });
});
