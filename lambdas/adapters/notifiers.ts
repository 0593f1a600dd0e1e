import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { maskEmail } from '../core/staff-notices.js';
import type { Logger, NotificationRecord, Notifier } from '../ports.js';
import type { StaffEmailSend } from './ses-staff-email.js';

/**
 * Pages through SNS: an SMS straight to each number (SNS SMS, Transactional so it is not
 * throttled as marketing), an email through the admin topic whose subscriptions the stack makes
 * from the config. A staff notice's email goes to each personal address through `staffEmail`.
 */
export function createSnsNotifier(
  sns: SNSClient,
  options: {
    adminEmailTopicArn?: string | undefined;
    /**
     * Sends a staff notice to a personal address (SES in AWS: createSesStaffEmail), resolving to
     * the mail service's message id. The admin topic reaches only the addresses the stack
     * subscribed (the admins'), so staff email needs a mail service; without one it is refused
     * with a reason, which the notice's status shows per recipient.
     */
    staffEmail?: StaffEmailSend | undefined;
  },
): Notifier {
  return {
    async send(n: NotificationRecord) {
      if (n.channel === 'email' && n.audience === 'staff') {
        const { staffEmail } = options;
        if (!staffEmail)
          throw new Error('email to personal addresses is not set up in this deployment; staff get the SMS');
        const failures: string[] = [];
        let messageId: string | undefined;
        for (const to of n.to) {
          try {
            messageId = await staffEmail(to, n.subject, n.text);
          } catch (err) {
            // SES names the address it refused (the sandbox's "not verified"); the reason is kept
            // on the notice, where a personal address is shown masked.
            const reason = (err as Error).message.replaceAll(to, maskEmail(to));
            failures.push(`${maskEmail(to)}: ${reason}`);
          }
        }
        if (failures.length)
          throw new Error(`email not sent to ${failures.length} of ${n.to.length}: ${failures.join('; ')}`);
        return { messageId };
      }
      if (n.channel === 'sms') {
        const failures: string[] = [];
        let messageId: string | undefined;
        for (const PhoneNumber of n.to) {
          try {
            const out = await sns.send(
              new PublishCommand({
                PhoneNumber,
                Message: n.text,
                MessageAttributes: {
                  'AWS.SNS.SMS.SMSType': { DataType: 'String', StringValue: 'Transactional' },
                  'AWS.SNS.SMS.SenderID': { DataType: 'String', StringValue: 'Lifeboat' },
                },
              }),
            );
            messageId = out.MessageId;
          } catch (err) {
            failures.push(`${PhoneNumber.slice(0, 4)}…: ${(err as Error).message}`);
          }
        }
        if (failures.length)
          throw new Error(`SMS not sent to ${failures.length} of ${n.to.length}: ${failures.join('; ')}`);
        return { messageId };
      }
      if (!options.adminEmailTopicArn) throw new Error('no admin email topic is configured');
      // Email subjects on SNS are limited to 100 characters.
      const out = await sns.send(
        new PublishCommand({
          TopicArn: options.adminEmailTopicArn,
          Subject: n.subject.slice(0, 100),
          Message: n.text,
        }),
      );
      return { messageId: out.MessageId };
    },
  };
}

/** The local runtime's transport: the page is already in the outbox; print it so the admin sees it. */
export function createConsoleNotifier(log: Logger): Notifier {
  return {
    async send(n) {
      log.warn(`OUTBOX ${n.channel.toUpperCase()} to ${n.audience}`, {
        to: n.to.join(','),
        notice: n.notice,
        text: n.channel === 'sms' ? n.text : n.subject,
      });
    },
  };
}
