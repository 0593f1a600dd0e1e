import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { createS3SendingBlobs } from '../../lambdas/adapters/s3-blobs.js';
import { parseSesSendingEvent } from '../../lambdas/adapters/ses-sending-events.js';
import {
  MAX_SQS_DELAY_SECONDS,
  type OutboundWakes,
  wakeDelaySeconds,
} from '../../lambdas/adapters/sqs-outbound-wake.js';
import type { OutgoingData } from '../../lambdas/core/sending/records.js';
import { createOutboundHandler } from '../../lambdas/handlers/outbound.js';
import { createSesEventsHandler } from '../../lambdas/handlers/ses-events.js';
import type { SentItem } from '../../lambdas/webmail/schemas.js';
import { sendingHarness } from '../support/sending.js';

type Harness = Awaited<ReturnType<typeof sendingHarness>>;

function fakeWakes(): OutboundWakes & { requested: string[] } {
  const requested: string[] = [];
  return {
    requested,
    async request(dueAt) {
      requested.push(dueAt);
    },
    wake(dueAt) {
      requested.push(dueAt);
    },
    async settle() {},
  };
}

/**
 * The mail bucket in memory as the S3 adapter calls it (PutObject, GetObject, DeleteObject), so the
 * webmail and the outbound worker run on the AWS sending blobs without S3.
 */
function memoryBucket() {
  const objects = new Map<string, Buffer>();
  const deleted: string[] = [];
  const client = {
    async send(command: { input: { Bucket: string; Key: string; Body?: Buffer } }) {
      const { Key } = command.input;
      if (command instanceof PutObjectCommand) {
        objects.set(Key, Buffer.from(command.input.Body as Buffer));
        return {};
      }
      if (command instanceof GetObjectCommand) {
        const body = objects.get(Key);
        if (!body) throw Object.assign(new Error('The specified key does not exist.'), { name: 'NoSuchKey' });
        return { Body: { transformToByteArray: async () => new Uint8Array(body) } };
      }
      if (command instanceof DeleteObjectCommand) {
        deleted.push(Key);
        objects.delete(Key);
        return {};
      }
      throw new Error(`the bucket fake does not answer ${command.constructor.name}`);
    },
  } as unknown as S3Client;
  const keys = (prefix: string) => [...objects.keys()].filter((k) => k.startsWith(prefix));
  return { client, objects, deleted, keys };
}

/** The sending harness with its draft bodies, uploads and messages as sent in the S3 adapter. */
async function s3SendingHarness() {
  const h = await sendingHarness();
  const bucket = memoryBucket();
  h.deps.sendingBlobs = createS3SendingBlobs(bucket.client, 'lifeboat-mail');
  return { h, bucket };
}

const sqsEvent = (...dueAts: string[]) => ({
  Records: dueAts.map((dueAt, i) => ({ messageId: `m${i}`, body: JSON.stringify({ dueAt }) })),
});

async function sendToPartner(h: Harness): Promise<SentItem> {
  const res = await h.call('POST', '/mail/api/send', {
    body: { to: ['partner@outside.test', 'other@outside.test'], subject: 'Figures', text: 'See below.' },
  });
  expect(res.status).toBe(202);
  return res.body as unknown as SentItem;
}

const sesEvent = (item: SentItem, detailType: string, detail: Record<string, unknown>) => ({
  source: 'aws.ses',
  'detail-type': detailType,
  detail: {
    ...detail,
    mail: {
      messageId: 'ses-0001',
      tags: {
        'ses:configuration-set': ['Lifeboat-webmail'],
        'lifeboat-user': [Buffer.from('alice').toString('base64url')],
        'lifeboat-sent': [item.id],
      },
    },
  },
});

describe('wakeDelaySeconds', () => {
  it('delays to the due time, never past what SQS allows, never negative', () => {
    const now = new Date('2025-01-01T00:00:00.000Z');
    expect(wakeDelaySeconds('2025-01-01T00:00:10.000Z', now)).toBe(10);
    expect(wakeDelaySeconds('2025-01-01T02:00:00.000Z', now)).toBe(MAX_SQS_DELAY_SECONDS);
    expect(wakeDelaySeconds('2024-12-31T23:59:00.000Z', now)).toBe(0);
  });
});

describe('createOutboundHandler', () => {
  it('puts a wake-up that came early back on the queue and sends nothing', async () => {
    const h = await sendingHarness();
    const item = await sendToPartner(h);
    const wakes = fakeWakes();
    await createOutboundHandler(() => ({ deps: h.deps, wakes }))(sqsEvent(item.undoUntil as string));
    expect(wakes.requested).toEqual([item.undoUntil]);
    expect(h.relay.sent).toHaveLength(0);
  });

  it('sends what is due once the undo window is over, and not a message taken back', async () => {
    const h = await sendingHarness();
    const item = await sendToPartner(h);
    const undone = await sendToPartner(h);
    expect((await h.call('POST', `/mail/api/sent/${undone.id}/undo`)).status).toBe(200);
    h.clock.advance(h.config.webmail.send.undoSeconds + 1);
    const wakes = fakeWakes();
    const handler = createOutboundHandler(() => ({ deps: h.deps, wakes }));
    await handler(sqsEvent(item.undoUntil as string, undone.undoUntil as string));
    expect(h.relay.sent).toHaveLength(1);
    expect((await h.call('GET', `/mail/api/sent/${item.id}`)).body.state).toBe('sent');
    expect((await h.call('GET', `/mail/api/sent/${undone.id}`)).body.state).toBe('undone');
    // A duplicate wake-up (SQS delivers at least once) sends nothing again.
    await handler(sqsEvent(item.undoUntil as string));
    expect(h.relay.sent).toHaveLength(1);
  });

  it('queues a wake-up at the retry time of a deferred recipient', async () => {
    const h = await sendingHarness();
    h.relay.defer.add('partner@outside.test');
    const item = await sendToPartner(h);
    h.clock.advance(h.config.webmail.send.undoSeconds + 1);
    const wakes = fakeWakes();
    // As in AWS, the core's wake is the queue's.
    await createOutboundHandler(() => ({ deps: { ...h.deps, wake: wakes.wake }, wakes }))(
      sqsEvent(item.undoUntil as string),
    );
    const rec = await h.sending.getSending<OutgoingData>('outgoing', 'alice', item.id);
    expect(rec?.data.state).toBe('retrying');
    expect(wakes.requested).toEqual([rec?.dueAt]);
  });

  it('refuses a body that is not a wake-up, so SQS retries it into the dead-letter queue', async () => {
    const h = await sendingHarness();
    const handler = createOutboundHandler(() => ({ deps: h.deps, wakes: fakeWakes() }));
    await expect(handler({ Records: [{ messageId: 'x', body: '{"user":"alice"}' }] })).rejects.toThrow(
      /outbound wake-up x/,
    );
  });
});

describe('createSesEventsHandler', () => {
  async function relayed(h: Harness) {
    const item = await sendToPartner(h);
    h.clock.advance(h.config.webmail.send.undoSeconds + 1);
    await createOutboundHandler(() => ({ deps: h.deps, wakes: fakeWakes() }))(
      sqsEvent(item.undoUntil as string),
    );
    return item;
  }
  const bounce = {
    eventType: 'Bounce',
    bounce: {
      bounceType: 'Permanent',
      bounceSubType: 'General',
      bouncedRecipients: [
        {
          emailAddress: 'partner@outside.test',
          status: '5.1.1',
          diagnosticCode: 'smtp; 550 5.1.1 no such user',
        },
      ],
    },
  };

  it('turns an SES bounce into a notice in the sender’s mailbox, once', async () => {
    const h = await sendingHarness();
    const item = await relayed(h);
    const handler = createSesEventsHandler(() => h.deps);
    expect(await handler(sesEvent(item, 'Email Bounced', bounce))).toBe('recorded');
    expect(await handler(sesEvent(item, 'Email Bounced', bounce))).toBe('unchanged');
    const sent = (await h.call('GET', `/mail/api/sent/${item.id}`)).body as unknown as SentItem;
    expect(sent.state).toBe('partly-failed');
    expect(sent.recipients.find((r) => r.address === 'partner@outside.test')).toMatchObject({
      status: 'bounced',
      detail: expect.stringContaining('550 5.1.1 no such user'),
    });
    const inbox = await h.call('GET', '/mail/api/messages');
    const notices = (inbox.body.messages as Array<{ subject: string; from: string }>).filter((m) =>
      /MAILER-DAEMON/i.test(JSON.stringify(m.from)),
    );
    expect(notices).toHaveLength(1);
    const [audit] = await h.store.listAudit(1);
    expect(audit).toMatchObject({ action: 'mail-send-bounced', target: item.id });
  });

  it('records a delivery per recipient and audits a complaint', async () => {
    const h = await sendingHarness();
    const item = await relayed(h);
    const handler = createSesEventsHandler(() => h.deps);
    await handler(
      sesEvent(item, 'Email Delivered', {
        eventType: 'Delivery',
        delivery: { recipients: ['other@outside.test'], smtpResponse: '250 2.0.0 OK' },
      }),
    );
    await handler(
      sesEvent(item, 'Email Complaint Received', {
        eventType: 'Complaint',
        complaint: {
          complainedRecipients: [{ emailAddress: 'other@outside.test' }],
          complaintFeedbackType: 'abuse',
        },
      }),
    );
    const sent = (await h.call('GET', `/mail/api/sent/${item.id}`)).body as unknown as SentItem;
    expect(sent.recipients.find((r) => r.address === 'other@outside.test')).toMatchObject({
      status: 'delivered',
      detail: expect.stringContaining('abuse'),
    });
    expect(sent.recipients.find((r) => r.address === 'partner@outside.test')?.status).toBe('relayed');
    const [audit] = await h.store.listAudit(1);
    expect(audit).toMatchObject({ action: 'mail-send-complaint', target: item.id });
  });

  it('leaves mail without Lifeboat’s tags alone and refuses a malformed event', async () => {
    const h = await sendingHarness();
    const handler = createSesEventsHandler(() => h.deps);
    const untagged = {
      source: 'aws.ses',
      'detail-type': 'Email Delivered',
      detail: {
        eventType: 'Delivery',
        mail: { messageId: 'x', tags: {} },
        delivery: { recipients: ['a@b.test'] },
      },
    };
    expect(await handler(untagged)).toBe('not-ours');
    expect(() => parseSesSendingEvent({ source: 'aws.ses', detail: {} })).toThrow(/detail-type/);
  });
});

describe('createS3SendingBlobs', () => {
  it('deletes a deleted draft’s body from the bucket at once', async () => {
    const { h, bucket } = await s3SendingHarness();
    const draft = (await h.call('POST', '/mail/api/drafts', { body: {} })).body as {
      id: string;
      version: number;
    };
    const saved = await h.call('PUT', `/mail/api/drafts/${draft.id}`, {
      body: { to: ['x@outside.test'], subject: 'Plan', text: 'first words', version: draft.version },
    });
    expect(saved.status).toBe(200);
    expect(bucket.keys('drafts/')).toEqual([`drafts/${draft.id}`]);

    expect((await h.call('DELETE', `/mail/api/drafts/${draft.id}`)).status).toBe(200);
    expect(bucket.keys('drafts/')).toEqual([]);
    expect(bucket.deleted).toEqual([`drafts/${draft.id}`]);
  });

  it('deletes a sent draft’s body once the outbound worker claims the message, and keeps the message as sent', async () => {
    const { h, bucket } = await s3SendingHarness();
    const item = await sendToPartner(h);
    const [body] = bucket.keys('drafts/');
    expect(body).toBeDefined();
    h.clock.advance(h.config.webmail.send.undoSeconds + 1);
    await createOutboundHandler(() => ({ deps: h.deps, wakes: fakeWakes() }))(
      sqsEvent(item.undoUntil as string),
    );
    expect(h.relay.sent).toHaveLength(1);
    expect(bucket.keys('drafts/')).toEqual([]);
    expect(bucket.deleted).toEqual([body]);
    expect(bucket.keys('outgoing/')).toHaveLength(1);
  });

  it('refuses to delete anything but a draft body, without asking S3', async () => {
    const bucket = memoryBucket();
    bucket.objects.set('raw/abc', Buffer.from('mail'));
    const blobs = createS3SendingBlobs(bucket.client, 'lifeboat-mail');
    await expect(blobs.deleteRaw?.('raw/abc')).rejects.toThrow(/only draft bodies/);
    expect(bucket.deleted).toEqual([]);
    expect(bucket.objects.has('raw/abc')).toBe(true);
  });
});
