import type * as SesV2 from '@aws-sdk/client-sesv2';

/** The one call made of SES: SendEmail. A real client, or a fake in tests. */
export type SesSend = Pick<SesV2.SESv2Client, 'send'>;

export interface SesStaffEmailOptions {
  /** The From address, on an accepted domain: SES checks it against that domain's identity. */
  from: string;
  /** @default the SDK's region from the environment */
  region?: string | undefined;
  /** @default an SESv2 client for `region`, loaded with the first notice */
  client?: SesSend | undefined;
}

/** One staff notice to one personal address; resolves to SES's MessageId. */
export type StaffEmailSend = (to: string, subject: string, text: string) => Promise<string | undefined>;

/**
 * Staff notices by email in AWS: SES v2 SendEmail, simple content in plain text, one call per
 * personal address (no recipient sees another's), from `from` through its domain's identity. No
 * configuration set: the webmail's set hands its events to the Sent view, which a notice is not in.
 * SES's MessageId comes back as the recipient's message id. In the SES sandbox only verified
 * addresses are accepted, and SES's refusal is the recipient's reason. The SES client is loaded
 * with the first notice, so the admin API does not pay for it at cold start.
 */
export function createSesStaffEmail(options: SesStaffEmailOptions): StaffEmailSend {
  let ready: Promise<{ client: SesSend; SendEmailCommand: typeof SesV2.SendEmailCommand }> | undefined;
  const load = async () => {
    const sdk = await import('@aws-sdk/client-sesv2');
    return {
      client: options.client ?? new sdk.SESv2Client({ region: options.region }),
      SendEmailCommand: sdk.SendEmailCommand,
    };
  };
  return async (to, subject, text) => {
    ready ??= load();
    const { client, SendEmailCommand } = await ready;
    const out = await client.send(
      new SendEmailCommand({
        FromEmailAddress: options.from,
        Destination: { ToAddresses: [to] },
        Content: {
          Simple: {
            Subject: { Data: subject, Charset: 'UTF-8' },
            Body: { Text: { Data: text, Charset: 'UTF-8' } },
          },
        },
      }),
    );
    return out.MessageId;
  };
}
