import { describe, expect, it } from 'vitest';
import { parseSesEvent, toIngestInput } from '../../lambdas/adapters/ses-event.js';
import { ValidationError } from '../../lambdas/core/errors.js';
import { sesEvent } from '../support/fixtures.js';

describe('parseSesEvent', () => {
  it('maps the receipt to ingest input with the S3 key SES wrote', () => {
    const [record] = parseSesEvent(sesEvent());
    const input = toIngestInput(record!);
    expect(input).toMatchObject({
      messageId: 'o3vrnil0e2ic28trm7dfhrc2v0clambda4nbp0g1',
      rawKey: 'raw/o3vrnil0e2ic28trm7dfhrc2v0clambda4nbp0g1',
      envelopeFrom: 'bob@example.org',
      recipients: ['Alice@Example.com'],
      verdicts: { virus: 'FAIL', spf: 'GRAY', dmarc: 'FAIL', dmarcPolicy: 'REJECT' },
    });
  });

  it('routes on receipt.recipients, never on the To header', () => {
    const [record] = parseSesEvent(sesEvent({ recipients: ['bcc@example.com'], to: ['alice@example.com'] }));
    expect(toIngestInput(record!).recipients).toEqual(['bcc@example.com']);
  });

  it('rejects a forged event with every problem listed', () => {
    const bad = sesEvent({ messageId: '../../etc/passwd', recipients: [] });
    try {
      parseSesEvent(bad);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ValidationError);
      const text = (err as ValidationError).problems.join('\n');
      expect(text).toMatch(/Records\.0\.ses\.mail\.messageId: must be an SES message id/);
      expect(text).toMatch(
        /Records\.0\.ses\.receipt\.recipients: an SES receipt names at least one recipient/,
      );
    }
  });
});
