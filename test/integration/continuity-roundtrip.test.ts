import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runProbes } from '../../lambdas/core/probes.js';
import { TestPrimary } from '../support/primary.js';
import { sendRaw, startTestRuntime, type TestRuntime, testConfig } from '../support/runtime.js';

// The round-trip probe: Lifeboat sends a probe to a mailbox on the primary; the primary forwards
// it to an address on a subdomain whose MX is the gateway; the gateway records the return.

const PROBE_MAILBOX = 'lifeboat-probe@example.com';
const RETURN_ADDRESS = 'return@probe.example.com';
const TIMEOUT_SECONDS = 120;

describe('round-trip probe', () => {
  let primary: TestPrimary;
  let rt: TestRuntime;
  /** Primary transactions already forwarded by the mailbox's forwarding rule. */
  let forwarded: number;

  beforeEach(async () => {
    primary = await TestPrimary.start();
    rt = await startTestRuntime({
      config: testConfig(primary, {
        domains: ['example.com', 'probe.example.com'],
        continuity: {
          autoInvokeAfterMinutes: null,
          // One failure is enough, so a failed round trip shows at once as an event.
          thresholds: { consecutiveFailures: 1 },
          paging: { adminEmails: ['oncall@alerts.example.org'] },
          probes: {
            roundTrip: {
              sendTo: PROBE_MAILBOX,
              returnAddress: RETURN_ADDRESS,
              timeoutSeconds: TIMEOUT_SECONDS,
            },
          },
        },
      }),
    });
    forwarded = 0;
  });

  afterEach(async () => {
    await rt.stop();
    await primary.stop();
  });

  /** The probe mailbox's forwarding rule: what reached it goes back to the gateway by SMTP. */
  async function primaryForwardsProbes(): Promise<string[]> {
    const ids: string[] = [];
    for (const t of primary.transactions.slice(forwarded)) {
      forwarded++;
      if (!t.to.includes(PROBE_MAILBOX)) continue;
      const { id } = await sendRaw(rt.smtpPort, { from: PROBE_MAILBOX, to: [RETURN_ADDRESS], raw: t.raw });
      ids.push(id);
    }
    await rt.idle();
    return ids;
  }

  const probeMessages = () => primary.transactions.filter((t) => t.to.includes(PROBE_MAILBOX));

  it('sends a probe to the mailbox on the primary from the return address', async () => {
    await rt.probe({});

    expect(probeMessages()).toHaveLength(1);
    expect(probeMessages()[0]?.from).toBe(RETURN_ADDRESS);
    expect(probeMessages()[0]?.raw.toString('latin1')).toMatch(/^X-Lifeboat-Probe: [0-9a-f]{24}\r$/m);
  });

  it('records the round-trip time when the primary sends the probe back', async () => {
    await rt.probe({});
    rt.clock.advance(7);

    await primaryForwardsProbes();

    const [token] = await rt.ctx.continuity.listProbeTokens(new Date(0).toISOString());
    expect(token?.returnedAt).not.toBeNull();
    expect(Date.parse(token?.returnedAt as string) - Date.parse(token?.sentAt as string)).toBe(7000);
  });

  it('judges the next round ok and reports the round-trip time', async () => {
    await rt.probe({});
    rt.clock.advance(7);
    await primaryForwardsProbes();
    rt.clock.advance(53);

    const results = await runProbes(rt.ctx);

    expect(results.find((r) => r.probe === 'roundtrip')).toMatchObject({
      ok: true,
      route: 'primary',
      detail: 'returned in 7 s',
      figures: { rttMs: 7000 },
    });
  });

  it('never creates a delivery for a returned probe, nor sends it anywhere', async () => {
    await rt.probe({});
    const [returned] = await primaryForwardsProbes();

    await rt.sweepAfter(3600);

    expect(await rt.deliveries(returned as string)).toEqual([]);
    expect(await rt.message(returned as string)).toMatchObject({ recipients: [] });
    expect(primary.transactions).toHaveLength(1);
    const status = await rt.api({
      rawPath: '/admin/status',
      requestContext: {
        http: { method: 'GET' },
        authorizer: { jwt: { claims: { sub: 'admin', groups: rt.config.adminGroup, amr: ['pwd', 'otp'] } } },
      },
    });
    expect(Object.values(JSON.parse(status.body).queue).every((n) => n === 0)).toBe(true);
  });

  it('fails the round trip once timeoutSeconds pass after the primary stops forwarding', async () => {
    await rt.probe({});
    await primaryForwardsProbes();
    rt.clock.advance(60);
    // This round sees the first probe back and sends the next, which the primary keeps.
    expect((await rt.probe({})).state).toBe('normal');
    expect(probeMessages()).toHaveLength(2);

    rt.clock.advance(TIMEOUT_SECONDS - 1);
    const before = await rt.probe({});
    rt.clock.advance(1);
    const after = await rt.probe({});

    expect(before.state).toBe('normal');
    expect(after.state).toBe('alerting');
    const event = await rt.ctx.continuity.getEvent(after.eventId as string);
    expect(event?.evidence).toEqual([
      expect.objectContaining({
        probe: 'roundtrip',
        ok: false,
        detail: `probe sent ${TIMEOUT_SECONDS} s ago has not come back`,
      }),
    ]);
  });

  // Regression: a round trip in flight reports nothing, so the rounds between two timeouts looked
  // healthy; all-clear closed the event while outbound mail was still broken, and the next
  // timeout paged the admins again, every timeout for as long as the outage lasted.
  it('keeps the event open while the primary is still not forwarding, until a probe comes back', async () => {
    await rt.probe({});
    rt.clock.advance(TIMEOUT_SECONDS);
    const alert = await rt.probe({});
    expect(alert.state).toBe('alerting');

    const states: string[] = [];
    for (let i = 0; i < 5; i++) {
      rt.clock.advance(20);
      states.push((await rt.probe({})).state);
    }

    expect(states).toEqual(['alerting', 'alerting', 'alerting', 'alerting', 'alerting']);
    const outbox = await rt.ctx.continuity.listNotifications(100);
    expect(outbox.map((n) => n.notice)).toEqual(['alert']);
  });

  it('says all clear once probes come back again', async () => {
    await rt.probe({});
    rt.clock.advance(TIMEOUT_SECONDS);
    await rt.probe({});
    await primaryForwardsProbes();

    const states: string[] = [];
    for (let i = 0; i < rt.config.continuity.thresholds.healthyRoundsForAllClear; i++) {
      rt.clock.advance(60);
      states.push((await rt.probe({})).state);
      await primaryForwardsProbes();
    }

    expect(states.at(-1)).toBe('normal');
    const outbox = await rt.ctx.continuity.listNotifications(100);
    expect(outbox.filter((n) => n.notice === 'all-clear').map((n) => n.channel)).toEqual(['email']);
  });
});
