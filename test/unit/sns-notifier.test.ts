import type { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import type { SNSClient } from '@aws-sdk/client-sns';
import { describe, expect, it } from 'vitest';
import { createSnsNotifier } from '../../lambdas/adapters/notifiers.js';
import { createSesStaffEmail } from '../../lambdas/adapters/ses-staff-email.js';
import type { NotificationRecord } from '../../lambdas/ports.js';

/** SNS as the notifier calls it: a MessageId per publish, or a refusal for numbers in `refuse`. */
function fakeSns(refuse: string[] = []) {
  const published: Array<Record<string, unknown>> = [];
  const client = {
    async send(command: { input: Record<string, unknown> }) {
      if (refuse.includes(command.input.PhoneNumber as string)) throw new Error('Phone number is opted out');
      published.push(command.input);
      return { MessageId: `mid-${published.length}` };
    },
  } as unknown as SNSClient;
  return { client, published };
}

const text = (over: Partial<NotificationRecord>): NotificationRecord => ({
  id: 'n1',
  at: '2026-12-03T09:00:00.000Z',
  channel: 'sms',
  audience: 'staff',
  to: ['+447700900001'],
  subject: 'Contoso email is down',
  text: 'Read mail at https://mail.example.com/mail/',
  eventId: null,
  notice: 'staff-notice',
  ...over,
});

describe('createSnsNotifier', () => {
  it('gives back the MessageId SNS accepted a staff text with', async () => {
    const sns = fakeSns();
    const receipt = await createSnsNotifier(sns.client, {}).send(text({}));
    expect(receipt).toEqual({ messageId: 'mid-1' });
    expect(sns.published[0]).toMatchObject({
      PhoneNumber: '+447700900001',
      Message: 'Read mail at https://mail.example.com/mail/',
    });
  });

  it('throws with SNS’s reason for a refused number', async () => {
    const sns = fakeSns(['+447700900001']);
    await expect(createSnsNotifier(sns.client, {}).send(text({}))).rejects.toThrow(
      /Phone number is opted out/,
    );
  });

  it('refuses staff email with the reason when no mail service is set up, and never uses the admin topic for it', async () => {
    const sns = fakeSns();
    const notifier = createSnsNotifier(sns.client, { adminEmailTopicArn: 'arn:aws:sns:eu-west-1:1:admins' });
    await expect(notifier.send(text({ channel: 'email', to: ['bob@home.example'] }))).rejects.toThrow(
      /email to personal addresses is not set up/,
    );
    expect(sns.published).toEqual([]);
  });

  it('sends staff email through the mail service given, with its message id', async () => {
    const sent: string[] = [];
    const notifier = createSnsNotifier(fakeSns().client, {
      staffEmail: async (to, subject) => {
        sent.push(`${to} ${subject}`);
        return 'ses-1';
      },
    });
    expect(await notifier.send(text({ channel: 'email', to: ['bob@home.example'] }))).toEqual({
      messageId: 'ses-1',
    });
    expect(sent).toEqual(['bob@home.example Contoso email is down']);
  });
});

/** SES v2 as the staff email calls it: a MessageId per SendEmail, or the sandbox's refusal for `refuse`. */
function fakeSes(refuse: string[] = []) {
  const sent: Array<SendEmailCommand['input']> = [];
  const client = {
    async send(command: SendEmailCommand) {
      const to = command.input.Destination?.ToAddresses?.[0] as string;
      if (refuse.includes(to))
        throw Object.assign(
          new Error(
            `Email address is not verified. The following identities failed the check in region EU-WEST-1: ${to}`,
          ),
          { name: 'MessageRejected' },
        );
      sent.push(command.input);
      return { MessageId: `ses-${sent.length}` };
    },
  } as unknown as SESv2Client;
  return { client, sent };
}

describe('createSesStaffEmail', () => {
  it('sends a staff notice to each personal address through SES as plain text from the configured address', async () => {
    const ses = fakeSes();
    const notifier = createSnsNotifier(fakeSns().client, {
      staffEmail: createSesStaffEmail({ from: 'continuity@example.com', client: ses.client }),
    });
    const receipt = await notifier.send(
      text({
        channel: 'email',
        to: ['bob@home.example'],
        text: 'Read mail at https://mail.example.com/mail/',
      }),
    );
    expect(receipt).toEqual({ messageId: 'ses-1' });
    expect(ses.sent).toEqual([
      {
        FromEmailAddress: 'continuity@example.com',
        Destination: { ToAddresses: ['bob@home.example'] },
        Content: {
          Simple: {
            Subject: { Data: 'Contoso email is down', Charset: 'UTF-8' },
            Body: { Text: { Data: 'Read mail at https://mail.example.com/mail/', Charset: 'UTF-8' } },
          },
        },
      },
    ]);
  });

  it('gives each recipient SES’s MessageId for their own message', async () => {
    const ses = fakeSes();
    const notifier = createSnsNotifier(fakeSns().client, {
      staffEmail: createSesStaffEmail({ from: 'continuity@example.com', client: ses.client }),
    });
    const ids = [];
    for (const to of ['bob@home.example', 'carol@home.example'])
      ids.push((await notifier.send(text({ channel: 'email', to: [to] })))?.messageId);
    expect(ids).toEqual(['ses-1', 'ses-2']);
    expect(ses.sent.map((m) => m.Destination?.ToAddresses)).toEqual([
      ['bob@home.example'],
      ['carol@home.example'],
    ]);
  });

  it('throws with SES’s reason for a refused address, the address masked, and still sends to the others', async () => {
    const ses = fakeSes(['bob@home.example']);
    const notifier = createSnsNotifier(fakeSns().client, {
      staffEmail: createSesStaffEmail({ from: 'continuity@example.com', client: ses.client }),
    });
    const refused = notifier.send(text({ channel: 'email', to: ['bob@home.example', 'carol@home.example'] }));
    await expect(refused).rejects.toThrow(
      /^email not sent to 1 of 2: b…@home\.example: Email address is not verified\. .*: b…@home\.example$/,
    );
    await expect(refused).rejects.not.toThrow(/bob@/);
    expect(ses.sent.map((m) => m.Destination?.ToAddresses)).toEqual([['carol@home.example']]);
  });
});
