import { isExpired, nextAttemptAt } from '../backoff.js';
import { buildDsn } from '../dsn.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { holdReasonFor } from '../holds.js';
import { MAX_LISTED_ITEMS, NO_ROUTE } from '../ingest.js';
import type { DeliveryRecord, MessageRecord } from '../model.js';
import { resolveRoute } from '../routing.js';
import { summariseMessage } from '../summarise.js';
import { deleteDraftBody } from './drafts.js';
import type { DraftData, OutgoingData, OutgoingRecipient, OutgoingRecord, SendingDeps } from './records.js';

/**
 * The header on the copy of a message sent from the webmail during an event, handed to the
 * sender's own mailbox on the primary: a transport rule, a filter or a Sieve script files it as sent.
 */
export const SENT_COPY_HEADER = 'X-Lifeboat-Sent-Copy';
/**
 * The hold reason of a sent copy: the hand-over sends these after every delivery held with
 * `continuity`, so the primary gets the mail that waited first and the sender's own copies last.
 */
export const SENT_COPY_REASON = 'sent-copy';
/**
 * How long the outbound worker's claim on a message lasts: longer than a relay transaction with
 * its timeouts (connect 30 s, two idle timeouts of 120 s); past it, a stopped worker's message is
 * taken over.
 */
export const OUTBOUND_LEASE_SECONDS = 330;
/** Messages one run of the outbound worker takes at most; the rest wait for the next run. */
export const OUTBOUND_BATCH = 20;

/** The sent copy's record id: the sent message's, marked. */
export function sentCopyId(outgoingId: string): string {
  return `${outgoingId}.copy`;
}

/**
 * Writes a change to an outgoing record, reading it again if another writer (an SES event)
 * changed it meanwhile.
 */
export async function updateOutgoing(
  deps: Pick<SendingDeps, 'sending'>,
  rec: OutgoingRecord,
  change: (r: OutgoingRecord) => Pick<OutgoingRecord, 'dueAt' | 'data'>,
): Promise<OutgoingRecord> {
  let current = rec;
  for (let attempt = 0; ; attempt++) {
    const next: OutgoingRecord = { ...current, ...change(current), version: current.version + 1 };
    try {
      await deps.sending.putSending(next, current.version);
      return next;
    } catch (err) {
      if (!(err instanceof ConflictError) || attempt >= 4) throw err;
      const fresh = await deps.sending.getSending<OutgoingData>('outgoing', rec.user, rec.id);
      if (!fresh) throw err;
      current = fresh;
    }
  }
}

const setRecipients = (
  data: OutgoingData,
  change: (r: OutgoingRecipient) => OutgoingRecipient,
): OutgoingData => ({ ...data, recipients: data.recipients.map(change) });

/**
 * The sender's copy for their mailbox on the primary: the message as sent with
 * `X-Lifeboat-Sent-Copy: yes` (and the Bcc, which the sent message does not carry) on top,
 * recorded as a message with one delivery to the sender's address. While the sender's route is
 * held, the delivery is held with reason `sent-copy`, which the hand-over sends after the held
 * inbound mail; otherwise it is delivered at once. The same delivery machinery as all mail, so
 * a copy reaches the primary once (see the one window where a duplicate is possible) and
 * survives a crash. The webmail never lists it (it is on its way to the sent folder).
 * Idempotent: a second call finds the delivery there.
 */
export async function createSentCopy(
  deps: Pick<SendingDeps, 'store' | 'blobs' | 'config' | 'clock' | 'log' | 'trigger'>,
  rec: OutgoingRecord,
  raw: Buffer,
): Promise<string> {
  const id = sentCopyId(rec.id);
  const existing = await deps.store.getDelivery({ messageId: id, recipient: rec.data.from });
  if (existing) return id;
  const bcc = rec.data.recipients.filter((r) => r.field === 'bcc').map((r) => r.address);
  const copy = Buffer.concat([
    Buffer.from(`${SENT_COPY_HEADER}: yes\r\n${bcc.length ? `Bcc: ${bcc.join(', ')}\r\n` : ''}`),
    raw,
  ]);
  const rawKey = `raw/${id}`;
  await deps.blobs.putRaw(rawKey, copy);
  const now = deps.clock.now().toISOString();
  const summary = await summariseMessage(copy);
  const message: MessageRecord = {
    id,
    rawKey,
    envelopeFrom: rec.data.from,
    recipients: [rec.data.from],
    receivedAt: now,
    size: copy.length,
    ...summary,
    to: summary.to.slice(0, MAX_LISTED_ITEMS),
    cc: summary.cc.slice(0, MAX_LISTED_ITEMS),
    attachments: summary.attachments.slice(0, MAX_LISTED_ITEMS),
    verdicts: { spam: 'PASS', virus: 'PASS', spf: 'PASS', dkim: 'PASS', dmarc: 'PASS' },
    sentCopyOf: rec.id,
  };
  await deps.store.putMessage(message);
  const route = resolveRoute(deps.config, rec.data.from);
  const hold = route ? holdReasonFor(route.name, await deps.store.listHolds()) : null;
  const delivery: DeliveryRecord = {
    messageId: id,
    recipient: rec.data.from,
    route: route?.name ?? NO_ROUTE,
    state: !route ? 'failed' : hold !== null ? 'held' : 'queued',
    attempts: 0,
    receivedAt: now,
    updatedAt: now,
    nextAttemptAt: route && hold === null ? now : null,
    lastError: route ? null : `no route serves ${rec.data.from}`,
    lastResponse: null,
    deliveredAt: null,
    reason: !route ? 'no-route' : hold !== null ? SENT_COPY_REASON : null,
    version: 1,
    leaseId: null,
    rawKey,
    envelopeFrom: rec.data.from,
  };
  await deps.store.createDelivery(delivery);
  if (delivery.state === 'queued') {
    await deps.trigger.requestDelivery(id).catch((err: Error) =>
      deps.log.warn('sent copy: first attempt not requested; the sweeper will pick it up', {
        id,
        error: err.message,
      }),
    );
  }
  deps.log.info('sent copy recorded', { id, held: delivery.state === 'held' });
  return id;
}

/**
 * A notice in the sender's mailbox for each recipient the relay refused (a 5xx, or given up after
 * `queue.lifetimeHours`): a delivery status notification (RFC 3464) with the relay's answer and
 * the original's headers, taken in as inbound mail for the sender, so it is in their webmail at
 * once and reaches their mailbox on the primary like any bounce.
 */
export async function noticeBounces(
  deps: SendingDeps,
  rec: OutgoingRecord,
  raw: Buffer,
  bounced: OutgoingRecipient[],
): Promise<number> {
  let n = rec.data.notices;
  for (const r of bounced) {
    const dsn = buildDsn({
      hostname: deps.config.hostname,
      from: `MAILER-DAEMON@${deps.config.domains[0]}`,
      envelopeFrom: rec.data.from,
      recipient: r.address,
      queueId: rec.id,
      receivedAt: rec.data.createdAt,
      raw,
      lastReply: r.detail,
      lastAttemptAt: r.updatedAt,
      explanation: [
        'Your message, sent from the webmail, could not be delivered to the recipient below:',
        'the mail server that sends it refused it. It will not be delivered. The original',
        'headers are attached.',
      ],
      now: deps.clock.now(),
    });
    n++;
    await deps.intake.accept({
      id: `${rec.id}.n${n}`,
      raw: dsn.raw,
      envelopeFrom: '',
      recipients: [rec.data.from],
      receivedAt: deps.clock.now().toISOString(),
    });
  }
  return n;
}

/** The whole message's state once every recipient has an outcome (or some wait for a retry). */
export function overallState(data: OutgoingData): OutgoingData['state'] {
  const rs = data.recipients;
  if (rs.some((r) => r.status === 'deferred' || r.status === 'waiting')) return 'retrying';
  const failed = rs.filter((r) => r.status === 'bounced' || r.status === 'failed').length;
  if (failed === rs.length) return 'failed';
  return failed > 0 ? 'partly-failed' : 'sent';
}

/**
 * Deletes the draft a message was sent from, once the message is claimed for sending: no undo can
 * bring it back now, and a kept draft would count against the user's drafts for as long as its
 * record lives. Its body goes too where the storage removes blobs at once (the message as sent is
 * under outgoing/). A draft already gone, or saved again meanwhile, is left as it is.
 */
async function forgetDraft(deps: SendingDeps, rec: OutgoingRecord): Promise<void> {
  const draft = await deps.sending.getSending<DraftData>('draft', rec.user, rec.data.draftId);
  if (!draft || draft.data.sentAs !== rec.id) return;
  try {
    await deps.sending.deleteSending('draft', rec.user, rec.data.draftId, draft.version);
  } catch (err) {
    if (!(err instanceof ConflictError) && !(err instanceof NotFoundError)) throw err;
    return;
  }
  await deleteDraftBody(deps, rec.data.draftId);
}

/**
 * Sends one message whose undo window is over (or whose retry is due): claims it with a
 * conditional write (an undo that comes later finds it gone), then
 * 1. takes it in for the recipients on the organisation's domains, exactly as inbound mail
 *    (their webmail shows it at once; it is handed to the primary, held during an event);
 * 2. records the sender's copy when it was sent during an event (createSentCopy);
 * 3. sends it through the relay to everyone else: accepted is `relayed`, a 4xx is retried with
 *    the queue's backoff until `queue.lifetimeHours`, a 5xx bounces with a notice in the sender's
 *    mailbox.
 * Each step is written as it completes and is idempotent, so a worker that stops part-way leaves
 * the rest to whoever takes the message over when the claim runs out.
 * @returns the record as left, or null when it was not due or another worker had it
 */
export async function dispatchOutgoing(
  deps: SendingDeps,
  rec: OutgoingRecord,
): Promise<OutgoingRecord | null> {
  const now = deps.clock.now();
  const { data } = rec;
  if (
    !['waiting', 'sending', 'retrying'].includes(data.state) ||
    rec.dueAt === null ||
    rec.dueAt > now.toISOString()
  ) {
    return null;
  }
  let cur: OutgoingRecord = {
    ...rec,
    version: rec.version + 1,
    dueAt: new Date(now.getTime() + OUTBOUND_LEASE_SECONDS * 1000).toISOString(),
    data: {
      ...data,
      state: 'sending',
      attempts: data.attempts + 1,
      sentAt: data.sentAt ?? now.toISOString(),
    },
  };
  try {
    await deps.sending.putSending(cur, rec.version);
  } catch (err) {
    if (err instanceof ConflictError) return null;
    throw err;
  }
  await forgetDraft(deps, rec);
  const raw = await deps.sendingBlobs.getRaw(data.rawKey);
  const at = () => deps.clock.now().toISOString();

  const internal = cur.data.recipients.filter((r) => r.internal && r.status === 'waiting');
  if (internal.length > 0) {
    await deps.intake.accept({
      id: rec.id,
      raw,
      envelopeFrom: data.from,
      recipients: internal.map((r) => r.address),
      receivedAt: at(),
    });
    cur = await updateOutgoing(deps, cur, (r) => ({
      dueAt: r.dueAt,
      data: setRecipients(r.data, (x) =>
        x.internal && x.status === 'waiting' ? { ...x, status: 'queued', updatedAt: at() } : x,
      ),
    }));
  }

  if (data.duringEvent && cur.data.sentCopyId === null) {
    const copyId = await createSentCopy(deps, cur, raw);
    cur = await updateOutgoing(deps, cur, (r) => ({
      dueAt: r.dueAt,
      data: { ...r.data, sentCopyId: copyId },
    }));
  }

  const pending = cur.data.recipients.filter(
    (r) => !r.internal && (r.status === 'waiting' || r.status === 'deferred'),
  );
  let bouncedNow: OutgoingRecipient[] = [];
  if (pending.length > 0) {
    const expired = isExpired(data.createdAt, now, deps.config.queue);
    let outcomes: Map<string, { status: string; detail: string }>;
    let providerId: string | null = null;
    if (!deps.relay) {
      outcomes = new Map(
        pending.map((r) => [r.address, { status: 'failed', detail: 'no relay is configured (local.relay)' }]),
      );
    } else {
      try {
        const result = await deps.relay.send({ from: data.from, to: pending.map((r) => r.address) }, raw, {
          user: rec.user,
          id: rec.id,
        });
        providerId = result.providerId;
        outcomes = new Map(
          result.outcomes.map((o) => [
            o.recipient,
            { status: o.status, detail: o.host ? `${o.host}: ${o.response}` : o.response },
          ]),
        );
      } catch (err) {
        // The relay reports answers itself; anything thrown is local and retried.
        outcomes = new Map(
          pending.map((r) => [
            r.address,
            { status: 'deferred', detail: `local error: ${(err as Error).message}` },
          ]),
        );
      }
    }
    const time = at();
    const statusOf = (x: OutgoingRecipient): OutgoingRecipient => {
      const o = outcomes.get(x.address);
      if (!o || x.internal || !(x.status === 'waiting' || x.status === 'deferred')) return x;
      if (o.status === 'delivered') return { ...x, status: 'relayed', detail: o.detail, updatedAt: time };
      if (o.status === 'failed') return { ...x, status: 'bounced', detail: o.detail, updatedAt: time };
      // Mail is never given up before queue.lifetimeHours, as for inbound mail.
      return expired
        ? {
            ...x,
            status: 'bounced',
            detail: `gave up after ${deps.config.queue.lifetimeHours} hours: ${o.detail}`,
            updatedAt: time,
          }
        : { ...x, status: 'deferred', detail: o.detail, updatedAt: time };
    };
    bouncedNow = cur.data.recipients
      .map(statusOf)
      .filter((x) => x.status === 'bounced' && outcomes.has(x.address));
    cur = await updateOutgoing(deps, cur, (r) => ({
      dueAt: r.dueAt,
      data: { ...setRecipients(r.data, statusOf), providerId: providerId ?? r.data.providerId },
    }));
  }
  if (bouncedNow.length > 0) {
    const notices = await noticeBounces(deps, cur, raw, bouncedNow);
    cur = await updateOutgoing(deps, cur, (r) => ({ dueAt: r.dueAt, data: { ...r.data, notices } }));
  }
  const state = overallState(cur.data);
  cur = await updateOutgoing(deps, cur, (r) => ({
    dueAt: state === 'retrying' ? nextAttemptAt(deps.clock.now(), r.data.attempts, deps.config.queue) : null,
    data: { ...r.data, state: overallState(r.data) },
  }));
  deps.log.info('webmail send dispatched', {
    id: rec.id,
    user: rec.user,
    state: cur.data.state,
    internal: internal.length,
    external: pending.length,
    bounced: bouncedNow.length,
    attempt: cur.data.attempts,
  });
  if (bouncedNow.length > 0) {
    await deps.continuity.appendAudit({
      at: at(),
      actor: 'lifeboat',
      action: 'mail-send-bounced',
      target: rec.id,
      detail: `${bouncedNow.length} of ${cur.data.recipients.length} recipients refused by the relay; notice to ${data.from}`,
      eventId: null,
    });
  }
  if (state === 'retrying' && cur.dueAt) deps.wake?.(cur.dueAt);
  return cur;
}

/**
 * One run of the outbound worker: every message whose undo window is over, whose retry is due,
 * or whose claim a stopped worker left, oldest due first, up to OUTBOUND_BATCH.
 * @returns how many it sent (or tried to)
 */
export async function dispatchDue(deps: SendingDeps): Promise<number> {
  const due = await deps.sending.listSendingDue(deps.clock.now().toISOString(), OUTBOUND_BATCH);
  let n = 0;
  for (const rec of due) {
    if (rec.kind !== 'outgoing') continue;
    try {
      if (await dispatchOutgoing(deps, rec as OutgoingRecord)) n++;
    } catch (err) {
      // The claim stays: the message is taken again once it runs out.
      deps.log.error('webmail send not dispatched; it is tried again when its claim runs out', {
        id: rec.id,
        error: (err as Error).message,
      });
    }
  }
  return n;
}
