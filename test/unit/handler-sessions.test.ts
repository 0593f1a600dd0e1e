import { describe, expect, it } from 'vitest';
import type { Context } from '../../lambdas/adapters/context.js';
import { invokeContinuity, revokeContinuity } from '../../lambdas/core/continuity-service.js';
import { createDeliverHandler } from '../../lambdas/handlers/deliver.js';
import { createProbeHandler } from '../../lambdas/handlers/probe.js';
import { createSweepHandler } from '../../lambdas/handlers/sweep.js';
import type { Envelope, RecipientOutcome } from '../../lambdas/ports.js';
import { continuityHarness, FakePrimary } from '../support/continuity.js';

/**
 * A primary reached through a pooling mailer: every send leaves its session open on the primary
 * (idle, waiting for the next message) until close() ends it, as SmtpMailer does.
 */
class PoolingPrimary extends FakePrimary {
  openSessions = 0;
  /** What happened, in order: `send` and `close`. */
  calls: string[] = [];
  failNextSend: Error | null = null;
  override async send(route: Parameters<FakePrimary['send']>[0], envelope: Envelope, raw: Buffer) {
    this.calls.push('send');
    if (this.failNextSend) {
      const err = this.failNextSend;
      this.failNextSend = null;
      throw err;
    }
    this.openSessions = 1;
    return super.send(route, envelope, raw) as Promise<RecipientOutcome[]>;
  }
  async close() {
    this.calls.push('close');
    this.openSessions = 0;
  }
}

function setup() {
  const h = continuityHarness();
  const mailer = new PoolingPrimary();
  h.deps.mailer = mailer;
  const ctx = { ...h.deps, trigger: { requestDelivery: async () => {} } } as Context;
  return { ...h, mailer, ctx };
}

describe('createDeliverHandler', () => {
  it('leaves no SMTP session open on the primary when the invocation ends', async () => {
    const { receive, mailer, ctx } = setup();
    await receive('m1');

    const result = await createDeliverHandler(() => ctx)({ messageId: 'm1' });

    expect(result.delivered).toBe(1);
    expect(mailer.calls).toEqual(['send', 'close']);
    expect(mailer.openSessions).toBe(0);
  });

  it('ends the sessions when the attempt fails too', async () => {
    const { receive, mailer, ctx } = setup();
    await receive('m1');
    mailer.failNextSend = new Error('socket hang up in a bug');

    await createDeliverHandler(() => ctx)({ messageId: 'm1' }).catch(() => {});

    expect(mailer.calls.at(-1)).toBe('close');
  });

  it('keeps them for the next delivery when the runtime asks (one long-lived process)', async () => {
    const { receive, mailer, ctx } = setup();
    await receive('m1');

    await createDeliverHandler(() => ctx, { endSessionsAfterRun: false })({ messageId: 'm1' });

    expect(mailer.calls).toEqual(['send']);
    expect(mailer.openSessions).toBe(1);
  });
});

describe('createSweepHandler', () => {
  it('ends the sessions its retries opened before the invocation returns', async () => {
    const { receive, mailer, clock, ctx } = setup();
    await receive('m1');
    await receive('m2');
    // Both first attempts never ran: due for the sweep once the grace for them is over.
    clock.advance(60);

    const result = await createSweepHandler(
      () => ctx,
      () => {},
    )({});

    expect(result.delivered).toBe(2);
    expect(mailer.calls).toEqual(['send', 'send', 'close']);
    expect(mailer.openSessions).toBe(0);
  });
});

describe('createProbeHandler', () => {
  it('ends the sessions of the hand-over it ran', async () => {
    const { receive, mailer, ctx, deps } = setup();
    await invokeContinuity(deps, 'ops@example.org', {});
    await receive('m1');
    await revokeContinuity(deps, 'ops@example.org');

    const result = await createProbeHandler(() => ctx)({}, { getRemainingTimeInMillis: () => 60_000 });

    expect(result.handover.released).toBe(1);
    expect(mailer.calls).toContain('send');
    expect(mailer.calls.at(-1)).toBe('close');
    expect(mailer.openSessions).toBe(0);
  });
});
