import { type SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import type { OutboundRelay, RecipientOutcome } from '../ports.js';

/** SES errors that refuse the message for good: the sender must change something, a retry would not help. */
const REFUSED = new Set([
  'MessageRejected',
  'MailFromDomainNotVerifiedException',
  'BadRequestException',
  'NotFoundException',
  'AccountSuspendedException',
  'SendingPausedException',
]);

/**
 * Mail from the webmail to outside addresses through SES v2 SendEmail with the raw message as
 * composed (DKIM-signed by the From domain's Easy DKIM identity), in the configuration set whose
 * bounce, complaint and delivery events come back. The sender's user id and the sent message's id
 * travel as message tags, so an event finds its Sent item without an index on SES's id.
 * Accepted by SES is `delivered` to the relay (the Sent view's `relayed`); a refusal is `failed`;
 * throttling and SES's own faults are `deferred` and retried.
 */
export function createSesRelay(client: SESv2Client, configurationSet: string): OutboundRelay {
  return {
    async send(envelope, raw, ref) {
      const outcome = (status: RecipientOutcome['status'], response: string): RecipientOutcome[] =>
        envelope.to.map((recipient) => ({ recipient, status, response, host: 'ses' }));
      try {
        const out = await client.send(
          new SendEmailCommand({
            Destination: { ToAddresses: envelope.to },
            Content: { Raw: { Data: raw } },
            ConfigurationSetName: configurationSet,
            ...(ref
              ? {
                  EmailTags: [
                    // Tag values take letters, digits, _ and - only.
                    { Name: 'lifeboat-user', Value: Buffer.from(ref.user).toString('base64url') },
                    { Name: 'lifeboat-sent', Value: ref.id },
                  ],
                }
              : {}),
          }),
        );
        return {
          outcomes: outcome('delivered', `250 accepted by SES as ${out.MessageId ?? '?'}`),
          providerId: out.MessageId ?? null,
        };
      } catch (err) {
        const name = (err as Error).name;
        const status = REFUSED.has(name) ? 'failed' : 'deferred';
        return {
          outcomes: outcome(
            status,
            `${status === 'failed' ? '554 5.7.1' : '451 4.4.0'} SES ${name}: ${(err as Error).message}`,
          ),
          providerId: null,
        };
      }
    },
  };
}
