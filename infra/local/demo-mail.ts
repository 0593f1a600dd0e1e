import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import type { SesEvent } from '../../lambdas/adapters/ses-event.js';
import type { Logger } from '../../lambdas/ports.js';
import { RAW_PREFIX } from '../../lambdas/storage-layout.js';

/** Written once the demo mailbox is filled, so a restart never adds the same mail again. */
export const DEMO_MAIL_MARKER = 'demo-mail-seeded';

/** What seeding needs of the runtime: its stores and its ingest, as the receiver uses them. */
export interface DemoMailTarget {
  dataDir: string;
  putRaw(key: string, body: Buffer): Promise<void>;
  putReceipt(event: SesEvent): Promise<void>;
  ingest(event: SesEvent): Promise<unknown>;
}

interface DemoMessage {
  /** Hours before now it arrived. */
  hoursAgo: number;
  from: string;
  to: string[];
  cc?: string[];
  subject: string;
  text: string;
  html?: string;
  attachments?: { filename: string; contentType: string; content: string }[];
}

/** A small newsletter whose images live on another server: what the webmail blocks until allowed. */
const NEWSLETTER_HTML = `<!doctype html><html><body style="font-family:Georgia,serif;max-width:600px">
<img src="https://images.newsletter.example/header.png" alt="Harbour News" width="600" height="120">
<h1>Harbour News, this week</h1>
<p>The spring regatta is on Saturday; moorings on the east pontoon close at noon.</p>
<p><a href="https://newsletter.example/regatta">Read the programme</a></p>
<img src="https://track.newsletter.example/open.gif?u=alice" width="1" height="1" alt="">
</body></html>`;

/** The demo's mail from before the outage, for the webmail walk-through. */
function demoMessages(domain: string): DemoMessage[] {
  const at = (user: string) => `${user}@${domain}`;
  return [
    {
      hoursAgo: 27,
      from: `Harbour News <news@newsletter.example>`,
      to: [at('alice')],
      subject: 'Harbour News: the spring regatta',
      text: 'The spring regatta is on Saturday; moorings on the east pontoon close at noon.',
      html: NEWSLETTER_HTML,
    },
    {
      hoursAgo: 25,
      from: `Bob Baker <${at('bob')}>`,
      to: [at('alice')],
      subject: 'Q3 figures',
      text: 'Alice,\n\nHere are the Q3 figures for Thursday. The north region is up 4%.\n\nBob',
      attachments: [
        {
          filename: 'q3-figures.csv',
          contentType: 'text/csv',
          content: 'region,q2,q3\nnorth,1200,1248\nsouth,980,1003\n',
        },
      ],
    },
    {
      hoursAgo: 22,
      from: `Carol Chen <${at('carol')}>`,
      to: [at('alice'), at('bob')],
      subject: 'Site visit on Thursday',
      text: 'Hi both,\n\nThe site visit is on Thursday at 10:00. Bring boots.\n\nCarol',
    },
    {
      hoursAgo: 20,
      from: 'Dana Osei <dana@customer.example>',
      to: [at('sales')],
      subject: 'Quote for 40 life jackets',
      text: 'Hello,\n\nCould you send a quote for 40 life jackets, adult sizes?\n\nDana',
    },
    {
      hoursAgo: 19,
      from: `Bob Baker <${at('bob')}>`,
      to: [at('alice')],
      cc: [at('carol')],
      subject: 'Photos from the pontoon',
      text: 'The new pontoon, as promised.',
      attachments: [
        {
          filename: 'pontoon.svg',
          contentType: 'image/svg+xml',
          content:
            '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40"><rect width="120" height="40" fill="#2a6f97"/></svg>',
        },
      ],
    },
  ];
}

function compose(m: DemoMessage, date: Date, domain: string): Promise<Buffer> {
  const mail = new MailComposer({
    from: m.from,
    to: m.to,
    ...(m.cc ? { cc: m.cc } : {}),
    subject: m.subject,
    text: m.text,
    ...(m.html ? { html: m.html } : {}),
    date,
    messageId: `<demo-${randomBytes(6).toString('hex')}@${domain}>`,
    ...(m.attachments ? { attachments: m.attachments } : {}),
  });
  return mail.compile().build();
}

/** The event the receiver would have built for the message, had it arrived `receivedAt`. */
function eventFor(id: string, m: DemoMessage, recipients: string[], receivedAt: Date): SesEvent {
  const when = receivedAt.toISOString();
  const pass = { status: 'PASS' };
  const sender = /<([^>]+)>/.exec(m.from)?.[1] ?? m.from;
  return {
    Records: [
      {
        eventSource: 'aws:ses',
        ses: {
          mail: { timestamp: when, source: sender, messageId: id, destination: recipients },
          receipt: {
            timestamp: when,
            recipients,
            spamVerdict: pass,
            virusVerdict: pass,
            spfVerdict: pass,
            dkimVerdict: pass,
            dmarcVerdict: pass,
            action: { type: 'Lambda', invocationType: 'Event' },
          },
        },
      },
    ],
  } as SesEvent;
}

/**
 * Demo mode's mail from yesterday: a newsletter with remote images, Bob's figures with a CSV
 * attached, a note to two colleagues, a customer's enquiry to the sales@ alias and photos with
 * a copy to Carol. Each is stored and ingested exactly as the receiver stores and ingests mail
 * (raw file, receipt, records; then delivered to the demo primary), dated the hours before now
 * it says, so the webmail walk-through has mail from before the outage. Done once per data folder.
 * @returns how many messages were added (0 when the folder already has them)
 */
export async function seedDemoMail(
  target: DemoMailTarget,
  options: { domain: string; now: Date; log: Logger },
): Promise<number> {
  const marker = path.join(target.dataDir, DEMO_MAIL_MARKER);
  if (existsSync(marker)) return 0;
  const messages = demoMessages(options.domain);
  for (const m of messages) {
    const receivedAt = new Date(options.now.getTime() - m.hoursAgo * 3_600_000);
    const id = `demo${receivedAt.getTime().toString(36)}${randomBytes(4).toString('hex')}`;
    const recipients = [...m.to, ...(m.cc ?? [])].map((a) => a.toLowerCase());
    const raw = await compose(m, receivedAt, options.domain);
    await target.putRaw(`${RAW_PREFIX}${id}`, raw);
    const event = eventFor(id, m, recipients, receivedAt);
    await target.putReceipt(event);
    await target.ingest(event);
  }
  writeFileSync(marker, `${options.now.toISOString()}\n`, { mode: 0o600 });
  options.log.info('demo mail from yesterday added to the staff mailboxes', { messages: messages.length });
  return messages.length;
}
