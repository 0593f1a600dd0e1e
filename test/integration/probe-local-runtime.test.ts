import { rm } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Runtime, startRuntime } from '../../infra/local/runtime.js';
import { TestPrimary } from '../support/primary.js';
import { makeDataDir, readFixture, sendRaw, testConfig } from '../support/runtime.js';

// The local runtime runs the probe as Lambda does: a run does the rounds of its interval, a failed
// check confirmed inside the same run. The timer is set far off so the test drives one run itself.

describe('local runtime: one probe run', () => {
  let primary: TestPrimary;
  let runtime: Runtime;
  let dataDir: string;

  beforeEach(async () => {
    primary = await TestPrimary.start();
    dataDir = await makeDataDir();
    runtime = await startRuntime({
      config: testConfig(primary, {
        // A confirming check one second after a failed one, so the test waits a second, not ten.
        continuity: { probes: { intervalSeconds: 30, confirmAfterSeconds: 1, checkTimeoutSeconds: 2 } },
      }),
      dataDir,
      ports: { smtp: 0, api: 0 },
      api: false,
      sweepIntervalMs: 0,
      probeIntervalMs: 3_600_000,
    });
  });

  afterEach(async () => {
    await runtime.stop();
    await primary.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('confirms a failed check within the run and opens the event, and stop() ends the run', async () => {
    await primary.refuse();

    const run = runtime.probe({});
    while ((await runtime.ctx.continuity.getOrg())?.state !== 'alerting') {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // The run now waits for its next round, 30 s on; stopping the runtime ends that wait.
    await runtime.stop();
    const result = await run;

    expect(result).toMatchObject({ state: 'alerting', rounds: 2 });
  });

  it('checks the route as soon as a delivery cannot connect to it, and pages without waiting for the timer', async () => {
    await primary.refuse();

    await sendRaw(runtime.smtpPort, { to: ['alice@example.com'], raw: await readFixture('plain.eml') });

    // The timer is an hour off: only the delivery's request can start the check and its confirmation.
    while ((await runtime.ctx.continuity.getOrg())?.state !== 'alerting') {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const org = await runtime.ctx.continuity.getOrg();
    expect(Object.entries(org?.streaks ?? {}).find(([key]) => key.endsWith('/smtp'))?.[1]).toMatchObject({
      failures: 2,
    });
  });
});
