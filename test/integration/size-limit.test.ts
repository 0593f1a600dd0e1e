import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TestPrimary } from '../support/primary.js';
import { readFixture, startTestRuntime, type TestRuntime, testConfig } from '../support/runtime.js';

/** Smaller than plain.eml with its trace header, so the primary will never take it. */
const PRIMARY_LIMIT = 300;

describe('deliverMessage to a primary with a smaller size limit', () => {
  let primary: TestPrimary | undefined;
  let rt: TestRuntime | undefined;
  let fixture: Buffer;

  beforeEach(async () => {
    fixture = await readFixture('plain.eml');
  });

  afterEach(async () => {
    await rt?.stop();
    await primary?.stop();
  });

  // Regression: a message over the SIZE a primary advertises in EHLO was deferred and retried
  // until the queue lifetime ran out, though the primary had said it would never take it.
  it('fails at once, naming the size limit, when the primary advertises it', async () => {
    primary = await TestPrimary.start({ sizeLimit: PRIMARY_LIMIT });
    rt = await startTestRuntime({ config: testConfig(primary) });

    const { id } = await rt.sendAndSettle({ to: ['alice@example.com'], raw: fixture });

    const d = await rt.delivery(id, 'alice@example.com');
    expect(d).toMatchObject({ state: 'failed', attempts: 1, reason: 'rejected' });
    expect(d.lastError).toMatch(
      new RegExp(
        `^${primary.address}: 552 5\\.3\\.4 message of \\d+ bytes is over the size limit .*\\b${PRIMARY_LIMIT}\\b`,
      ),
    );
    expect(primary.transactions).toHaveLength(0);
  });

  it('fails with the primary’s 552 when it only refuses after DATA', async () => {
    primary = await TestPrimary.start({ sizeLimit: PRIMARY_LIMIT, advertiseSize: false });
    rt = await startTestRuntime({ config: testConfig(primary) });

    const { id } = await rt.sendAndSettle({ to: ['alice@example.com'], raw: fixture });

    const d = await rt.delivery(id, 'alice@example.com');
    expect(d).toMatchObject({ state: 'failed', attempts: 1, reason: 'rejected' });
    expect(d.lastError).toBe(
      `${primary.address}: 552 5.3.4 message exceeds the size limit of ${PRIMARY_LIMIT} bytes`,
    );
  });
});
