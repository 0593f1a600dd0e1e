import type { SNSClient } from '@aws-sdk/client-sns';
import { describe, expect, it } from 'vitest';
import { createSnsNotifier } from '../../lambdas/adapters/notifiers.js';
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
