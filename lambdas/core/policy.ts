import type { LifeboatConfig } from './config.js';
import type { Verdicts } from './model.js';

export type Disposition = { state: 'queued' } | { state: 'quarantined'; reason: string };

/**
 * Decides from SES's verdicts whether a message goes on to the primary or into quarantine.
 * A virus always quarantines; spam and DMARC-reject follow the configured policy.
 */
export function decideDisposition(verdicts: Verdicts, policy: LifeboatConfig['policy']): Disposition {
  if (verdicts.virus === 'FAIL') return { state: 'quarantined', reason: 'policy:virus' };
  if (verdicts.spam === 'FAIL' && policy.spam === 'quarantine')
    return { state: 'quarantined', reason: 'policy:spam' };
  if (verdicts.dmarc === 'FAIL' && verdicts.dmarcPolicy === 'REJECT' && policy.dmarcReject === 'quarantine') {
    return { state: 'quarantined', reason: 'policy:dmarc-reject' };
  }
  return { state: 'queued' };
}
