import { describe, expect, it } from 'vitest';
import { invokeContinuity, revokeContinuity, runHandover } from '../../lambdas/core/continuity-service.js';
import { createSentCopy, SENT_COPY_REASON, sentCopyId } from '../../lambdas/core/sending/outbound.js';
import type { OutgoingRecord } from '../../lambdas/core/sending/records.js';
import { continuityHarness } from '../support/continuity.js';
import { compose } from '../support/webmail.js';

/** A message Alice sent from the webmail, as the outbound queue records it. */
function sentByAlice(id: string): OutgoingRecord {
  return {
    kind: 'outgoing',
    user: 'alice',
    id,
    version: 3,
    dueAt: null,
    expiresAt: 0,
    data: {
      state: 'sent',
      createdAt: '2026-11-22T10:00:30.000Z',
      undoUntil: '2026-11-22T10:00:40.000Z',
      sentAt: '2026-11-22T10:00:40.000Z',
      draftId: `d-${id}`,
      from: 'alice@example.com',
      fromName: 'Alice Smith',
      subject: 'Re: order',
      messageIdHeader: `<${id}@example.com>`,
      rawKey: `outgoing/${id}`,
      size: 100,
      attachments: [],
      uploadIds: [],
      recipients: [
        {
          address: 'partner@outside.test',
          field: 'to',
          internal: false,
          status: 'relayed',
          detail: null,
          updatedAt: '',
        },
      ],
      attempts: 1,
      duringEvent: true,
      sentCopyId: null,
      providerId: null,
      notices: 0,
    },
  };
}

describe('the hand-over of sent copies', () => {
  it('hands each sent copy to the sender’s mailbox once, after every held inbound message', async () => {
    const h = continuityHarness({ handover: { ratePerSecond: 1000, concurrency: 2 } });
    await invokeContinuity(h.deps, 'ops@example.org');
    const raw = await compose({
      from: 'alice@example.com',
      to: 'partner@outside.test',
      subject: 'Re: order',
      text: 'ok',
    });
    const deps = { ...h.deps, trigger: { requestDelivery: async () => {} } };
    // A sent copy recorded before some of the held inbound mail arrived: it still goes last.
    await h.receive('m00', ['alice@example.com'], '2026-11-22T10:00:10.000Z');
    await createSentCopy(deps, sentByAlice('s1'), raw);
    await h.receive('m01', ['bob@example.com'], '2026-11-22T10:01:00.000Z');
    await h.receive('m02', ['alice@example.com'], '2026-11-22T10:02:00.000Z');
    await createSentCopy(deps, sentByAlice('s2'), raw);
    expect(
      await h.store.getDelivery({ messageId: sentCopyId('s1'), recipient: 'alice@example.com' }),
    ).toMatchObject({
      state: 'held',
      reason: SENT_COPY_REASON,
    });
    h.clock.advance(3600);
    await revokeContinuity(h.deps, 'ops@example.org');
    expect(await runHandover(h.deps, 10_000)).toMatchObject({ done: true });
    const order = h.primary.order();
    expect(order.slice(0, 3).sort()).toEqual(['m00', 'm01', 'm02']);
    expect(order.slice(3)).toEqual([sentCopyId('s1'), sentCopyId('s2')]);
    expect(h.primary.sent.find((s) => s.messageId === sentCopyId('s1'))?.recipients).toEqual([
      'alice@example.com',
    ]);
    // Once: another run and another request for the same copy send nothing more.
    await runHandover(h.deps, 10_000);
    await createSentCopy(deps, sentByAlice('s1'), raw);
    expect(h.primary.order()).toHaveLength(5);
    const copy = (await h.blobs.getRaw(`raw/${sentCopyId('s1')}`)).toString();
    expect(copy.split('\r\n')[0]).toBe('X-Lifeboat-Sent-Copy: yes');
  });
});
