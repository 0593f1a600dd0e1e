import { type ConfigInput, type LifeboatConfig, parseConfig } from '../../lambdas/core/config.js';
import type { DeliveryRecord, MessageRecord, Verdicts } from '../../lambdas/core/model.js';

/** A valid config with split routing: two addresses on-premises, the rest of example.com in the cloud. */
export function testConfig(overrides: Partial<ConfigInput> = {}): LifeboatConfig {
  return parseConfig({
    domains: ['example.com', 'example.net'],
    routes: [
      {
        name: 'onprem',
        addresses: ['ceo@example.com', 'cfo@example.com'],
        hosts: [{ host: '10.0.0.5', port: 25 }],
      },
      {
        name: 'cloud',
        domains: ['example.com', 'example.net'],
        hosts: [
          { host: 'mx1.cloud.test', port: 587 },
          { host: 'mx2.cloud.test', port: 587 },
        ],
        tls: 'starttls-required',
      },
    ],
    ...overrides,
  });
}

export const passVerdicts: Verdicts = {
  spam: 'PASS',
  virus: 'PASS',
  spf: 'PASS',
  dkim: 'PASS',
  dmarc: 'PASS',
};

export function delivery(overrides: Partial<DeliveryRecord> = {}): DeliveryRecord {
  return {
    messageId: 'm1',
    recipient: 'alice@example.com',
    route: 'cloud',
    state: 'queued',
    attempts: 0,
    receivedAt: '2026-11-22T10:00:00.000Z',
    updatedAt: '2026-11-22T10:00:00.000Z',
    nextAttemptAt: '2026-11-22T10:00:00.000Z',
    lastError: null,
    lastResponse: null,
    deliveredAt: null,
    reason: null,
    version: 1,
    leaseId: null,
    ...overrides,
  };
}

/** A message record as ingest writes it, received at the time given. */
export function messageRecord(overrides: Partial<MessageRecord> = {}): MessageRecord {
  const id = overrides.id ?? 'm1';
  return {
    id,
    rawKey: `raw/${id}`,
    envelopeFrom: 'bob@example.org',
    recipients: ['alice@example.com'],
    receivedAt: '2026-11-22T10:00:00.000Z',
    size: 1234,
    from: 'Bob <bob@example.org>',
    to: ['alice@example.com'],
    cc: [],
    subject: 'Quarterly figures',
    date: null,
    messageIdHeader: null,
    inReplyTo: null,
    snippet: '',
    attachments: [],
    verdicts: passVerdicts,
    parseError: null,
    ...overrides,
  };
}

export const simpleMessage = Buffer.from(
  [
    'From: Bob <bob@example.org>',
    'To: Alice <alice@example.com>',
    'Subject: Quarterly figures',
    'Date: Sun, 22 Nov 2026 09:59:00 +0000',
    'Message-ID: <q4@example.org>',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"',
    '',
    '--b1',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Here are the   figures for Q4.',
    '--b1',
    'Content-Type: application/pdf; name="q4.pdf"',
    'Content-Disposition: attachment; filename="q4.pdf"',
    'Content-Transfer-Encoding: base64',
    '',
    'JVBERi0xLjQK',
    '--b1--',
    '',
  ].join('\r\n'),
);

/** An SES receipt rule Lambda-action event, as AWS documents it. */
export function sesEvent(overrides: { recipients?: string[]; messageId?: string; to?: string[] } = {}) {
  return {
    Records: [
      {
        eventSource: 'aws:ses',
        eventVersion: '1.0',
        ses: {
          mail: {
            timestamp: '2026-11-22T10:00:00.000Z',
            source: 'bob@example.org',
            messageId: overrides.messageId ?? 'o3vrnil0e2ic28trm7dfhrc2v0clambda4nbp0g1',
            destination: ['alice@example.com'],
            headersTruncated: false,
            commonHeaders: { to: overrides.to ?? ['alice@example.com'] },
          },
          receipt: {
            timestamp: '2026-11-22T10:00:00.000Z',
            processingTimeMillis: 222,
            recipients: overrides.recipients ?? ['Alice@Example.com'],
            spamVerdict: { status: 'PASS' },
            virusVerdict: { status: 'FAIL' },
            spfVerdict: { status: 'GRAY' },
            dkimVerdict: { status: 'PASS' },
            dmarcVerdict: { status: 'FAIL' },
            dmarcPolicy: 'reject',
            action: {
              type: 'Lambda',
              functionArn: 'arn:aws:lambda:us-east-1:123:function:ingest',
              invocationType: 'Event',
            },
          },
        },
      },
    ],
  };
}
