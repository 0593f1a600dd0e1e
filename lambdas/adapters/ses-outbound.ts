import type { Envelope, OutboundMail } from '../ports.js';

/**
 * Mail Lifeboat writes itself (an admin's bounce), sent through SES v2 with the raw MIME as
 * built. SES chooses the envelope sender (the From domain's identity, or its custom MAIL FROM
 * domain): it cannot send with a null reverse-path, so a DSN's own bounces return to SES, which
 * suppresses them, rather than to anyone's mailbox. The SES client is loaded with the first send,
 * so functions that never send a bounce do not pay for it at cold start.
 */
export function createSesOutbound(region: string): OutboundMail {
  let client: Promise<{ send(raw: Buffer, to: string[]): Promise<void> }> | undefined;
  const load = async () => {
    const { SESv2Client, SendEmailCommand } = await import('@aws-sdk/client-sesv2');
    const ses = new SESv2Client({ region });
    return {
      async send(raw: Buffer, to: string[]) {
        await ses.send(
          new SendEmailCommand({ Destination: { ToAddresses: to }, Content: { Raw: { Data: raw } } }),
        );
      },
    };
  };
  return {
    async send(envelope: Envelope, raw: Buffer) {
      client ??= load();
      await (await client).send(raw, envelope.to);
    },
  };
}
