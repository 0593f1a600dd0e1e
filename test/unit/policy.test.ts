import { describe, expect, it } from 'vitest';
import { decideDisposition } from '../../lambdas/core/policy.js';
import { passVerdicts } from '../support/fixtures.js';

const policy = { virus: 'quarantine', spam: 'deliver', dmarcReject: 'quarantine' } as const;

describe('decideDisposition', () => {
  it('delivers clean mail', () => {
    expect(decideDisposition(passVerdicts, policy)).toEqual({ state: 'queued' });
  });

  it('quarantines a virus whatever the other verdicts', () => {
    expect(decideDisposition({ ...passVerdicts, virus: 'FAIL' }, policy)).toEqual({
      state: 'quarantined',
      reason: 'policy:virus',
    });
  });

  it('delivers spam by default and quarantines it when configured to', () => {
    const spam = { ...passVerdicts, spam: 'FAIL' as const };
    expect(decideDisposition(spam, policy).state).toBe('queued');
    expect(decideDisposition(spam, { ...policy, spam: 'quarantine' })).toEqual({
      state: 'quarantined',
      reason: 'policy:spam',
    });
  });

  it('quarantines a DMARC failure only where the sender publishes p=reject', () => {
    expect(decideDisposition({ ...passVerdicts, dmarc: 'FAIL', dmarcPolicy: 'REJECT' }, policy)).toEqual({
      state: 'quarantined',
      reason: 'policy:dmarc-reject',
    });
    expect(decideDisposition({ ...passVerdicts, dmarc: 'FAIL', dmarcPolicy: 'NONE' }, policy).state).toBe(
      'queued',
    );
    expect(
      decideDisposition(
        { ...passVerdicts, dmarc: 'FAIL', dmarcPolicy: 'REJECT' },
        { ...policy, dmarcReject: 'deliver' },
      ).state,
    ).toBe('queued');
  });
});
