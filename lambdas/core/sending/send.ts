import type {
  Draft,
  SendBody,
  SendingInfo,
  SentItem,
  SentPage,
  UndoResponse,
} from '../../webmail/schemas.js';
import { MAX_ATTACHMENT_TOTAL_BYTES, sendBodySchema } from '../../webmail/schemas.js';
import { recordDays } from '../config.js';
import type { MailboxUser } from '../directory.js';
import { ConflictError, NotFoundError, ValidationError } from '../errors.js';
import {
  composeMime,
  isInternal,
  loadAttachments,
  type ParsedRecipient,
  parseRecipient,
  threadingFor,
} from './compose.js';
import { checkFrom, createDraft, getDraft, loadDraft } from './drafts.js';
import {
  type DraftRecord,
  expiresAfterDays,
  newSendingId,
  OUTGOING_PREFIX,
  type OutgoingData,
  type OutgoingRecipient,
  type OutgoingRecord,
  SendError,
  type SendingDeps,
  sendingIdAt,
  type UploadData,
} from './records.js';

/** Records read at most to count a user's recent sends: the rate limits' own ceiling, with room. */
const MAX_RATE_READS = 20_000;

/** What the user sent in the last hour and day (undone messages never left, so they do not count). */
export async function recentSends(
  deps: Pick<SendingDeps, 'sending' | 'clock'>,
  user: string,
): Promise<{
  lastHour: number;
  recipientsLastDay: number;
  oldestInHour: string | null;
  oldestInDay: Array<{ at: string; n: number }>;
}> {
  const now = deps.clock.now().getTime();
  const hourAgo = new Date(now - 3_600_000).toISOString();
  const sinceId = sendingIdAt(new Date(now - 86_400_000));
  let cursor: string | undefined;
  let read = 0;
  let lastHour = 0;
  let recipientsLastDay = 0;
  let oldestInHour: string | null = null;
  const day: Array<{ at: string; n: number }> = [];
  do {
    const page = await deps.sending.listSending<OutgoingData>('outgoing', user, {
      limit: 100,
      cursor,
      sinceId,
    });
    for (const r of page.items) {
      if (r.data.state === 'undone') continue;
      recipientsLastDay += r.data.recipients.length;
      day.push({ at: r.data.createdAt, n: r.data.recipients.length });
      if (r.data.createdAt >= hourAgo) {
        lastHour++;
        oldestInHour = r.data.createdAt;
      }
    }
    read += page.items.length;
    cursor = page.cursor;
  } while (cursor && read < MAX_RATE_READS);
  return { lastHour, recipientsLastDay, oldestInHour, oldestInDay: day.reverse() };
}

/**
 * Refuses a send over the user's limits: `messagesPerHour` messages in any hour, or
 * `recipientsPerDay` recipients in any 24 hours, so a stolen session cannot spam the world from
 * the organisation's domain. The message says when the user may send again.
 * @throws SendError RATE_LIMITED
 */
async function checkRate(deps: SendingDeps, user: MailboxUser, recipients: number): Promise<void> {
  const limits = deps.config.webmail.send;
  const recent = await recentSends(deps, user.id);
  const now = deps.clock.now().getTime();
  if (recent.lastHour >= limits.messagesPerHour && recent.oldestInHour) {
    const wait = Math.max(1, Math.ceil((Date.parse(recent.oldestInHour) + 3_600_000 - now) / 1000));
    throw new SendError(
      'RATE_LIMITED',
      `you have sent ${recent.lastHour} messages in the last hour, the most allowed (webmail.send.messagesPerHour); try again in ${Math.ceil(wait / 60)} minutes`,
      wait,
    );
  }
  if (recent.recipientsLastDay + recipients > limits.recipientsPerDay) {
    // Frees up as the oldest sends of the day pass their 24 hours.
    let over = recent.recipientsLastDay + recipients - limits.recipientsPerDay;
    let until = now + 86_400_000;
    for (const s of recent.oldestInDay) {
      over -= s.n;
      if (over <= 0) {
        until = Date.parse(s.at) + 86_400_000;
        break;
      }
    }
    const wait = Math.max(1, Math.ceil((until - now) / 1000));
    throw new SendError(
      'RATE_LIMITED',
      `this message would take you past ${limits.recipientsPerDay} recipients in 24 hours (webmail.send.recipientsPerDay); you have written to ${recent.recipientsLastDay}`,
      wait,
    );
  }
}

/** Every recipient once (the first field that names them wins), checked against the cap and the paths out. */
function collectRecipients(deps: SendingDeps, fields: { to: string[]; cc: string[]; bcc: string[] }) {
  const seen = new Set<string>();
  const header: { to: ParsedRecipient[]; cc: ParsedRecipient[] } = { to: [], cc: [] };
  const all: Array<ParsedRecipient & { field: 'to' | 'cc' | 'bcc' }> = [];
  const problems: string[] = [];
  for (const field of ['to', 'cc', 'bcc'] as const) {
    fields[field].forEach((text, i) => {
      let r: ParsedRecipient;
      try {
        r = parseRecipient(text, `${field}.${i}`);
      } catch (err) {
        problems.push(...((err as ValidationError).problems ?? [String(err)]));
        return;
      }
      if (field !== 'bcc') header[field].push(r);
      if (seen.has(r.address)) return;
      seen.add(r.address);
      all.push({ ...r, field });
    });
  }
  if (problems.length) throw new ValidationError('recipients', problems);
  if (all.length === 0) throw new SendError('NO_RECIPIENTS', 'add at least one recipient in To, Cc or Bcc');
  const cap = deps.config.webmail.send.maxRecipients;
  if (all.length > cap) {
    throw new SendError(
      'TOO_MANY_RECIPIENTS',
      `a message may have at most ${cap} recipients (webmail.send.maxRecipients); this one has ${all.length}`,
    );
  }
  if (!deps.relay && all.some((r) => !isInternal(deps.config, r.address))) {
    throw new SendError(
      'NO_OUTBOUND_PATH',
      'mail to addresses outside the organisation cannot leave: no relay is configured (local.relay)',
    );
  }
  return { header, all };
}

/** The Sent view of a record, with each colleague's delivery as the store has it now. */
export async function sentItemOf(deps: Pick<SendingDeps, 'store'>, rec: OutgoingRecord): Promise<SentItem> {
  const d = rec.data;
  const internal =
    d.recipients.some((r) => r.internal) &&
    ['sent', 'partly-failed', 'failed', 'retrying', 'sending'].includes(d.state);
  const deliveries = internal ? await deps.store.listDeliveries(rec.id) : [];
  const copy = d.sentCopyId ? await deps.store.listDeliveries(d.sentCopyId) : [];
  const recipients = d.recipients.map((r) => {
    const live = r.internal ? deliveries.find((x) => x.recipient === r.address) : undefined;
    if (!live) return r;
    const status =
      live.state === 'delivered'
        ? 'delivered'
        : live.state === 'held'
          ? 'held'
          : live.state === 'failed'
            ? 'failed'
            : live.state === 'deferred'
              ? 'deferred'
              : 'queued';
    return {
      ...r,
      status,
      detail: live.lastResponse ?? live.lastError ?? r.detail,
      updatedAt: live.updatedAt,
    } as OutgoingRecipient;
  });
  return {
    id: rec.id,
    state: d.state,
    createdAt: d.createdAt,
    undoUntil: d.state === 'waiting' ? d.undoUntil : null,
    sentAt: d.sentAt,
    from: d.from,
    subject: d.subject,
    messageIdHeader: d.messageIdHeader,
    size: d.size,
    attachments: d.attachments,
    recipients: recipients.map(({ address, field, internal: i, status, detail, updatedAt }) => ({
      address,
      field,
      internal: i,
      status,
      detail,
      updatedAt,
    })),
    sentCopy:
      !d.duringEvent || d.state === 'undone'
        ? 'none'
        : copy[0]?.state === 'delivered'
          ? 'handed-over'
          : 'pending',
  };
}

/**
 * Sends a message: a saved draft, or one given inline (saved as a draft first, so undo always
 * has a draft to give back). The From must be one of the user's addresses; the recipients within
 * the cap and the user's rate limits; the attachments theirs and within the size limit. The
 * message is composed now and waits in the outbound queue for `webmail.send.undoSeconds`, then
 * the outbound worker sends it (dispatchOutgoing). Every send is audited (who, when, how many
 * recipients, the Message-ID; never the subject or the body).
 * @throws SendError FROM_NOT_YOURS, NO_RECIPIENTS, TOO_MANY_RECIPIENTS, RATE_LIMITED,
 *   ATTACHMENT_TOO_LARGE, UPLOAD_INCOMPLETE, NO_OUTBOUND_PATH; ConflictError for a stale draft
 */
export async function submitSend(deps: SendingDeps, user: MailboxUser, input: SendBody): Promise<SentItem> {
  const body = sendBodySchema.parse(input);
  let draft: { record: DraftRecord; text: string | null; html: string | null };
  if ('draftId' in body) {
    const loaded = await loadDraft(deps, user, body.draftId);
    if (body.version !== undefined && body.version !== loaded.record.version)
      throw new ConflictError(`draft ${body.draftId} (saved elsewhere since; reload it)`);
    draft = { record: loaded.record, ...loaded.body };
  } else {
    checkFrom(user, body.from);
    const created: Draft = await createDraft(deps, user, { ...body, noSignature: true });
    const loaded = await loadDraft(deps, user, created.id);
    draft = { record: loaded.record, ...loaded.body };
  }
  const d = draft.record.data;
  const from = checkFrom(user, d.from);
  const { header, all } = collectRecipients(deps, d);
  await checkRate(deps, user, all.length);
  const refs = d.attachments.map((a) => a.ref);
  const attachments = await loadAttachments(deps, user, refs);
  const threading = d.inReplyTo
    ? await threadingFor(deps, user, d.inReplyTo)
    : { inReplyTo: null, references: [] };
  const now = deps.clock.now();
  const { raw, messageIdHeader } = await composeMime({
    from: { name: user.name, address: from },
    to: header.to,
    cc: header.cc,
    subject: d.subject,
    text: draft.text,
    html: draft.html,
    attachments,
    inReplyTo: threading.inReplyTo,
    references: threading.references,
    date: now,
  });
  if (raw.length > MAX_ATTACHMENT_TOTAL_BYTES * 1.45) {
    throw new SendError(
      'ATTACHMENT_TOO_LARGE',
      'the message would be larger than SES sends (40 MB including encoding)',
    );
  }
  const org = await deps.continuity.getOrg();
  const outgoingId = newSendingId(now);
  const undoUntil = new Date(now.getTime() + deps.config.webmail.send.undoSeconds * 1000).toISOString();
  const rawKey = `${OUTGOING_PREFIX}${outgoingId}`;
  await deps.sendingBlobs.putRaw(rawKey, raw);
  const uploadIds = refs.flatMap((r) => (r.kind === 'upload' ? [r.uploadId] : []));
  const data: OutgoingData = {
    state: 'waiting',
    createdAt: now.toISOString(),
    undoUntil,
    sentAt: null,
    draftId: draft.record.id,
    from,
    fromName: user.name,
    subject: d.subject,
    messageIdHeader,
    rawKey,
    size: raw.length,
    attachments: attachments.map((a) => ({
      filename: a.filename,
      contentType: a.contentType,
      size: a.content.length,
    })),
    uploadIds,
    recipients: all.map((r) => ({
      address: r.address,
      field: r.field,
      internal: isInternal(deps.config, r.address),
      status: 'waiting',
      detail: null,
      updatedAt: now.toISOString(),
    })),
    attempts: 0,
    duringEvent: org?.state === 'continuity' || org?.state === 'recovering',
    sentCopyId: null,
    providerId: null,
    notices: 0,
  };
  const record: OutgoingRecord = {
    kind: 'outgoing',
    user: user.id,
    id: outgoingId,
    version: 1,
    dueAt: undoUntil,
    expiresAt: expiresAfterDays(now, recordDays(deps.config)),
    data,
  };
  // The draft is hidden first: a crash after it leaves a draft marked as queued, never a message sent twice.
  await deps.sending.putSending(
    { ...draft.record, version: draft.record.version + 1, data: { ...d, sentAs: outgoingId } },
    draft.record.version,
  );
  await deps.sending.putSending(record, 0);
  await markUploads(deps, user.id, uploadIds, 'sent');
  const internal = data.recipients.filter((r) => r.internal).length;
  await deps.continuity.appendAudit({
    at: now.toISOString(),
    actor: user.id,
    action: 'mail-send',
    target: outgoingId,
    detail: `from ${from}: ${all.length} recipients (${internal} internal, ${all.length - internal} external), ${attachments.length} attachments, ${raw.length} bytes, Message-ID ${messageIdHeader}`,
    eventId: data.duringEvent ? (org?.eventId ?? null) : null,
  });
  deps.log.info('webmail send accepted', {
    id: outgoingId,
    user: user.id,
    recipients: all.length,
    internal,
    bytes: raw.length,
    duringEvent: data.duringEvent,
  });
  deps.wake?.(undoUntil);
  return sentItemOf(deps, record);
}

async function markUploads(
  deps: SendingDeps,
  user: string,
  ids: string[],
  state: UploadData['state'],
): Promise<void> {
  for (const id of ids) {
    const rec = await deps.sending.getSending<UploadData>('upload', user, id);
    if (!rec || rec.data.state === state) continue;
    await deps.sending.putSending(
      { ...rec, version: rec.version + 1, data: { ...rec.data, state } },
      rec.version,
    );
  }
}

/**
 * Takes a message back within the undo window: it never leaves, and its draft comes back to be
 * edited. After the window (or once the outbound worker has claimed it) it is too late.
 * @throws SendError TOO_LATE (409); NotFoundError for another user's message
 */
export async function undoSend(deps: SendingDeps, user: MailboxUser, id: string): Promise<UndoResponse> {
  const rec = await deps.sending.getSending<OutgoingData>('outgoing', user.id, id);
  if (!rec) throw new NotFoundError(`sent message ${id}`);
  const now = deps.clock.now();
  if (rec.data.state !== 'waiting' || now.toISOString() >= rec.data.undoUntil) {
    throw new SendError('TOO_LATE', 'too late to undo: the message has left');
  }
  const undone: OutgoingRecord = {
    ...rec,
    version: rec.version + 1,
    dueAt: null,
    data: {
      ...rec.data,
      state: 'undone',
      recipients: rec.data.recipients.map((r) => ({ ...r, status: 'undone', updatedAt: now.toISOString() })),
    },
  };
  try {
    await deps.sending.putSending(undone, rec.version);
  } catch (err) {
    // The outbound worker claimed it first.
    if (err instanceof ConflictError)
      throw new SendError('TOO_LATE', 'too late to undo: the message has left');
    throw err;
  }
  const { record: draftRec } = await loadDraft(deps, user, rec.data.draftId, { includeQueued: true });
  await deps.sending.putSending(
    { ...draftRec, version: draftRec.version + 1, data: { ...draftRec.data, sentAs: null } },
    draftRec.version,
  );
  await markUploads(deps, user.id, rec.data.uploadIds, 'uploaded');
  await deps.continuity.appendAudit({
    at: now.toISOString(),
    actor: user.id,
    action: 'mail-send-undone',
    target: id,
    detail: `${rec.data.recipients.length} recipients, Message-ID ${rec.data.messageIdHeader}`,
    eventId: null,
  });
  deps.log.info('webmail send undone', { id, user: user.id });
  return { sent: await sentItemOf(deps, undone), draft: await getDraft(deps, user, rec.data.draftId) };
}

/** The Sent view: what the user sent, newest first, with each recipient's status. */
export async function listSent(
  deps: SendingDeps,
  user: MailboxUser,
  query: { limit: number; cursor?: string | undefined },
): Promise<SentPage> {
  const page = await deps.sending.listSending<OutgoingData>('outgoing', user.id, query);
  const items = await Promise.all(page.items.map((r) => sentItemOf(deps, r)));
  return { items, cursor: page.cursor ?? null };
}

export async function getSent(deps: SendingDeps, user: MailboxUser, id: string): Promise<SentItem> {
  const rec = await deps.sending.getSending<OutgoingData>('outgoing', user.id, id);
  if (!rec) throw new NotFoundError(`sent message ${id}`);
  return sentItemOf(deps, rec);
}

/** The limits that apply to the user and what they have used of them. */
export async function sendingInfo(deps: SendingDeps, user: MailboxUser): Promise<SendingInfo> {
  const s = deps.config.webmail.send;
  const recent = await recentSends(deps, user.id);
  return {
    undoSeconds: s.undoSeconds,
    maxRecipients: s.maxRecipients,
    messagesPerHour: s.messagesPerHour,
    recipientsPerDay: s.recipientsPerDay,
    sentLastHour: recent.lastHour,
    recipientsLastDay: recent.recipientsLastDay,
    maxAttachmentBytes: MAX_ATTACHMENT_TOTAL_BYTES,
    external: deps.relay !== undefined,
    fromAddresses: user.addresses,
  };
}
