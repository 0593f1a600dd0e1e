import { describe, expect, it } from 'vitest';
import { getStatus, invokeContinuity, runProbeRound } from '../../lambdas/core/continuity-service.js';
import { continuityHarness } from '../support/continuity.js';

describe('runProbeRound after a worker died mid-write', () => {
  it('rebuilds an event the organisation record names but that was never written, and goes on', async () => {
    const h = continuityHarness();
    h.prober.down = true;
    await runProbeRound(h.deps);
    h.clock.advance(60);
    const opened = await runProbeRound(h.deps);
    const id = opened.org.eventId as string;
    // The event write is lost, as if the worker had stopped right after the organisation write.
    h.store.events.delete(id);
    h.clock.advance(60);
    const next = await runProbeRound(h.deps);
    expect(next.org).toMatchObject({ state: 'alerting', eventId: id });
    expect((await getStatus(h.deps)).event?.id).toBe(id);
    await invokeContinuity(h.deps, 'admin@example.com');
    expect((await getStatus(h.deps)).state).toBe('continuity');
  });
});
