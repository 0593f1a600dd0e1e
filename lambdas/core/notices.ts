import type { NotificationRecord } from '../ports.js';
import type { LifeboatConfig } from './config.js';
import type { ContinuityEvent, Notice } from './continuity.js';
import { fillTemplate } from './staff-notices.js';

/** One SMS segment is 160 GSM-7 characters; longer texts cost more and arrive split. */
export const SMS_MAX_CHARS = 160;

type Draft = Omit<NotificationRecord, 'id' | 'at'>;

function eventLink(config: LifeboatConfig, event: ContinuityEvent): string {
  return `${config.continuity.paging.consoleUrl.replace(/\/$/, '')}/events/${event.id}`;
}

function summary(event: ContinuityEvent): string {
  const last = event.evidence.at(-1);
  return last ? `${last.route}: ${last.probe} ${last.detail}` : (event.reason ?? 'no probe evidence');
}

// Three dots, not '…': U+2026 is outside the GSM-7 alphabet and would send the whole text as
// UCS-2, where a segment holds 70 characters.
const ELLIPSIS = '...';

function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  return max <= ELLIPSIS.length
    ? text.slice(0, Math.max(0, max))
    : `${text.slice(0, max - ELLIPSIS.length)}${ELLIPSIS}`;
}

/** An SMS that fits one segment: the text gives way so that `tail` (the one-click link) arrives whole. */
function smsText(text: string, tail: string): string {
  return `${clip(text, SMS_MAX_CHARS - tail.length)}${tail}`;
}

/**
 * The texts for one notice: a short SMS and a fuller email for admins, an SMS for staff. SMS
 * texts carry the one-click link and stay within one segment where they can.
 */
export function composeNotice(notice: Notice, event: ContinuityEvent, config: LifeboatConfig): Draft[] {
  const org = config.organisation;
  const link = eventLink(config, event);
  const { adminPhones, adminEmails } = config.continuity.paging;
  const admins = (subject: string, sms: string, body: string): Draft[] => [
    ...(adminPhones.length
      ? [
          {
            channel: 'sms' as const,
            audience: 'admins' as const,
            to: adminPhones,
            subject,
            text: sms,
            eventId: event.id,
            notice,
          },
        ]
      : []),
    ...(adminEmails.length
      ? [
          {
            channel: 'email' as const,
            audience: 'admins' as const,
            to: adminEmails,
            subject,
            text: body,
            eventId: event.id,
            notice,
          },
        ]
      : []),
  ];
  const auto = config.continuity.autoInvokeAfterMinutes;
  switch (notice) {
    case 'alert':
    case 'repeat': {
      const prefix = notice === 'repeat' ? `REPEAT ${event.pages}: ` : '';
      const subject = `${prefix}Lifeboat ALERT ${org}: primary mail failing`;
      const tail = ` Invoke: ${link}`;
      const head = `${prefix}Lifeboat ${org}: primary mail failing (`;
      const detail = clip(summary(event), SMS_MAX_CHARS - head.length - 2 - tail.length);
      const sms = smsText(`${head}${detail}).`, tail);
      const body = [
        `Lifeboat's probes say the primary mail system of ${org} is failing. No mail is lost: Lifeboat keeps queueing it.`,
        '',
        'Evidence:',
        ...event.evidence.slice(-10).map((e) => `  ${e.at} ${e.route} ${e.probe}: ${e.detail}`),
        '',
        `Invoke continuity (staff get webmail) or acknowledge: ${link}`,
        auto !== null
          ? `Unless someone acknowledges, continuity is invoked automatically ${auto} minutes after the alert.`
          : 'Automatic invocation is off: continuity starts only when an admin invokes it.',
      ].join('\n');
      return admins(subject, sms, body);
    }
    case 'all-clear':
      return admins(
        `Lifeboat ALL CLEAR ${org}`,
        smsText(`Lifeboat ${org}: all clear, mail flows to the primary again.`, ` ${link}`),
        `The primary mail system of ${org} is accepting mail again; the event is closed.\n${link}`,
      );
    case 'invoked': {
      const how =
        event.invokeMode === 'manual'
          ? `by ${event.invokedBy}`
          : event.invokeMode === 'auto'
            ? 'automatically'
            : 'as scheduled';
      return admins(
        `Lifeboat CONTINUITY invoked ${org}`,
        smsText(
          `Lifeboat ${org}: continuity invoked ${how}. Mail is held and staff use webmail.`,
          ` Revoke: ${link}`,
        ),
        `Continuity was invoked ${how} at ${event.invokedAt}. Inbound mail is held for hand-over and staff can read and send mail at ${config.continuity.staff.webmailUrl}.\nRevoke when the primary is back: ${link}`,
      );
    }
    case 'staff-invoked': {
      const phones = config.continuity.staff.phones;
      if (phones.length === 0) return [];
      return [
        {
          channel: 'sms',
          audience: 'staff',
          to: phones,
          subject: `${org} email continuity`,
          // The admins' own invoke text (continuity.staff.templates.invoke.sms): what happened, the
          // webmail link and how to sign in when the company sign-in is down, in two segments.
          text: fillTemplate(config.continuity.staff.templates.invoke.sms, config),
          eventId: event.id,
          notice,
        },
      ];
    }
    case 'flow-restored':
      return admins(
        `Lifeboat ${org}: primary looks healthy`,
        smsText(
          `Lifeboat ${org}: primary accepts mail again. Revoke continuity to hand mail over:`,
          ` ${link}`,
        ),
        `Probes have seen the primary healthy again. Held mail stays held until an admin revokes continuity: ${link}`,
      );
    case 'revoked':
      return admins(
        `Lifeboat ${org}: handing mail over`,
        smsText(
          `Lifeboat ${org}: continuity revoked by ${event.revokedBy}; handing held mail to the primary.`,
          ` ${link}`,
        ),
        `Continuity was revoked by ${event.revokedBy} at ${event.revokedAt}. Held mail is being handed to the primary in arrival order; progress: ${link}`,
      );
    case 'recovered':
      return admins(
        `Lifeboat ${org}: hand-over complete`,
        smsText(
          `Lifeboat ${org}: hand-over complete, ${event.handover?.released ?? 0} deliveries handed over.`,
          ` ${link}`,
        ),
        `Every held message has been handed to the primary (${event.handover?.released ?? 0} deliveries). The event is closed.\n${link}`,
      );
    case 'scheduled':
      return admins(
        `Lifeboat ${org}: maintenance scheduled`,
        smsText(
          `Lifeboat ${org}: continuity scheduled ${event.scheduledStart} to ${event.scheduledEnd}.`,
          ` ${link}`,
        ),
        `Continuity will start at ${event.scheduledStart} and hand mail over at ${event.scheduledEnd}.\n${link}`,
      );
  }
}
