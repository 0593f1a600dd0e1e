import type { AddressObject, ParsedMail } from 'mailparser';
import * as z from 'zod';
import type {
  BlobStore,
  Clock,
  LinkSigner,
  LinkSubject,
  Logger,
  MailboxFlags,
  MailboxPosition,
  MessageStore,
} from '../ports.js';
import {
  type AttachmentView,
  DEFAULT_PAGE_SIZE,
  MAX_PAGE_SIZE,
  type MailboxState,
  type MessageDetail,
  type MessagePage,
  type MessageSummary,
} from '../webmail/schemas.js';
import { type LifeboatConfig, webmailHistoryDays } from './config.js';
import type { MailboxUser } from './directory.js';
import { NotFoundError, ValidationError } from './errors.js';
import { sanitiseMailHtml } from './html-sanitise.js';
import { MAX_LISTED_ITEMS } from './ingest.js';
import type { DeliveryRecord, MessageRecord } from './model.js';
import { parseForReading } from './summarise.js';

/**
 * Index pages read per address for one list page. Quarantined deliveries are skipped after they
 * are read, so a mailbox full of them could otherwise make one request read it all; past this a
 * short page is returned with a cursor to go on from.
 */
export const MAX_FETCHES_PER_ADDRESS = 3;
/** Rounds of message-record reads per list page, for the same reason (probe messages are skipped). */
export const MAX_MESSAGE_ROUNDS = 3;
/**
 * Characters of text and of HTML a read returns. A Lambda response is capped at 6 MB; a body
 * past this is cut (`truncated`) and the raw message, downloaded by link, has it whole.
 */
export const MAX_BODY_CHARS = 2 * 1024 * 1024;
/** Header lines a read returns; a message with more is hostile or broken. */
export const MAX_HEADER_LINES = 500;
/** Characters of one header value returned. */
export const MAX_HEADER_CHARS = 8 * 1024;

export interface MailboxDeps {
  store: MessageStore;
  blobs: BlobStore;
  clock: Clock;
  log: Logger;
  config: Pick<LifeboatConfig, 'historyDays' | 'retentionDays' | 'webmail'>;
  /** Signs links for embedded images and downloads; without it a read lists no image links. */
  links?: LinkSigner | undefined;
}

/** The first instant inside the history window. */
export function historyStart(deps: Pick<MailboxDeps, 'clock' | 'config'>): string {
  return new Date(deps.clock.now().getTime() - webmailHistoryDays(deps.config) * 86_400_000).toISOString();
}

const positionSchema = z.strictObject({
  r: z.iso.datetime(),
  m: z.string().min(1).max(256),
});

/** An opaque cursor: the last place examined in newest-first order, so pages never overlap. */
export function encodePosition(p: MailboxPosition): string {
  return Buffer.from(JSON.stringify({ r: p.receivedAt, m: p.messageId })).toString('base64url');
}

/** @throws ValidationError for anything this API did not hand out */
export function decodePosition(cursor: string): MailboxPosition {
  try {
    const p = positionSchema.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    return { receivedAt: p.r, messageId: p.m };
  } catch {
    throw new ValidationError('cursor', ['is not a cursor this API returned']);
  }
}

/** Code-unit order of the byMailbox key (received time, then message id). */
function compareKey(a: MailboxPosition, b: MailboxPosition): number {
  const x = `${a.receivedAt}#${a.messageId}`;
  const y = `${b.receivedAt}#${b.messageId}`;
  return x < y ? -1 : x > y ? 1 : 0;
}

const positionOf = (d: DeliveryRecord): MailboxPosition => ({
  receivedAt: d.receivedAt,
  messageId: d.messageId,
});

/** The state shown when a message reached several of the user's addresses: what most needs saying. */
const STATE_RANK: Record<MailboxState, number> = {
  failed: 0,
  held: 1,
  deferred: 2,
  queued: 3,
  delivering: 4,
  delivered: 5,
};

/** A user's deliveries of one message that they may see (never quarantined). */
function visible(deliveries: readonly DeliveryRecord[]): DeliveryRecord[] {
  return deliveries.filter((d) => d.state !== 'quarantined');
}

function shownState(deliveries: readonly DeliveryRecord[]): MailboxState {
  const states = deliveries.map((d) => d.state as MailboxState);
  return states.reduce((a, b) => (STATE_RANK[b] < STATE_RANK[a] ? b : a));
}

/** A list row: the record's summary fields, the user's marks and the state of their deliveries. */
export function summaryOf(
  message: MessageRecord,
  mine: DeliveryRecord[],
  flags: MailboxFlags | undefined,
): MessageSummary {
  return {
    id: message.id,
    receivedAt: message.receivedAt,
    date: message.date,
    from: message.from,
    fromName: message.fromName ?? null,
    to: message.to,
    subject: message.subject,
    snippet: message.snippet,
    hasAttachments: message.attachments.length > 0,
    size: message.size,
    seen: flags?.seen ?? false,
    flagged: flags?.flagged ?? false,
    state: shownState(mine),
    deliveredTo: mine.map((d) => d.recipient),
  };
}

/** One address's deliveries, read a page at a time as the merge asks for them. */
interface Stream {
  address: string;
  buffer: DeliveryRecord[];
  cursor: string | undefined;
  done: boolean;
  fetches: number;
}

/** What one list or search page cost in store calls, for the benchmark and the tests. */
export interface PageCost {
  /** Mailbox index pages read (list), or index blobs consulted (search). */
  indexReads: number;
  /** Single delivery reads: the per-hit authorisation check of a search. */
  deliveryReads: number;
  messageReads: number;
  flagReads: number;
  /** Raw messages read: a search's quoted phrases are matched on the message itself. */
  rawReads: number;
}

/**
 * The user's mailbox, newest first: every delivery to one of their addresses within the
 * history window, whatever its state (delivered before the outage, held, deferred, queued,
 * failed), except quarantined mail and round-trip probe messages. A message sent to two of the
 * user's addresses is one row. The addresses' index pages are merged (k-way, on the index's own
 * order); the cursor is the last place examined, so a page never repeats or skips a message even
 * as new mail arrives.
 *
 * Store calls per page, for a user with k addresses: k index reads (one per address), one batch
 * read of message records, one batch read of read marks. Quarantined or probe mail in the way
 * costs more reads, up to k × MAX_FETCHES_PER_ADDRESS index reads and MAX_MESSAGE_ROUNDS
 * message reads, after which a short page comes back with a cursor.
 */
export async function listMailbox(
  deps: MailboxDeps,
  user: MailboxUser,
  options: { cursor?: string | undefined; limit?: number | undefined } = {},
): Promise<MessagePage & { cost: PageCost }> {
  const limit = options.limit ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
    throw new ValidationError('limit', [`must be an integer from 1 to ${MAX_PAGE_SIZE}, got ${limit}`]);
  }
  const start = options.cursor === undefined ? undefined : decodePosition(options.cursor);
  const since = historyStart(deps);
  const cost: PageCost = { indexReads: 0, deliveryReads: 0, messageReads: 0, flagReads: 0, rawReads: 0 };
  const streams: Stream[] = user.addresses.map((address) => ({
    address,
    buffer: [],
    cursor: undefined,
    done: false,
    fetches: 0,
  }));
  let budgetSpent = false;

  /** Fills every stream whose buffer ran dry; false once a stream needs more than its budget. */
  async function refill(): Promise<void> {
    const dry = streams.filter((s) => s.buffer.length === 0 && !s.done);
    const allowed = dry.filter((s) => s.fetches < MAX_FETCHES_PER_ADDRESS);
    if (allowed.length < dry.length) budgetSpent = true;
    await Promise.all(
      allowed.map(async (s) => {
        s.fetches++;
        cost.indexReads++;
        // A page's worth per address: at most MAX_BATCH_READ keys, one batch read on DynamoDB.
        const page = await deps.store.queryMailbox(s.address, {
          since,
          before: start,
          limit,
          cursor: s.cursor,
        });
        s.buffer.push(...page.items);
        s.cursor = page.cursor;
        s.done = page.cursor === undefined;
      }),
    );
  }

  /** The next message in newest-first order, with every delivery of it to the user's addresses. */
  async function next(): Promise<DeliveryRecord[] | undefined> {
    await refill();
    if (budgetSpent) return undefined;
    let top: MailboxPosition | undefined;
    for (const s of streams) {
      const head = s.buffer[0];
      if (head && (top === undefined || compareKey(positionOf(head), top) > 0)) top = positionOf(head);
    }
    if (top === undefined) return undefined;
    const group: DeliveryRecord[] = [];
    for (const s of streams) {
      const head = s.buffer[0];
      if (head && compareKey(positionOf(head), top) === 0) group.push(s.buffer.shift() as DeliveryRecord);
    }
    return group;
  }

  const rows: Array<{ message: MessageRecord; mine: DeliveryRecord[] }> = [];
  let last: MailboxPosition | undefined = start;
  for (let round = 0; round < MAX_MESSAGE_ROUNDS && rows.length < limit; round++) {
    const candidates: DeliveryRecord[][] = [];
    let stopped = false;
    while (candidates.length < limit - rows.length) {
      const group = await next();
      if (group === undefined) {
        stopped = true;
        break;
      }
      last = positionOf(group[0] as DeliveryRecord);
      const mine = visible(group);
      if (mine.length) candidates.push(mine);
    }
    if (candidates.length) {
      cost.messageReads++;
      const ids = candidates.map((c) => (c[0] as DeliveryRecord).messageId);
      const messages = new Map((await deps.store.getMessages(ids)).map((m) => [m.id, m]));
      for (const mine of candidates) {
        const message = messages.get((mine[0] as DeliveryRecord).messageId);
        // Round-trip probes prove the mail path; they are nobody's mail. A sent copy is on its
        // way to the sender's sent folder on the primary: the Sent view lists it, not the inbox.
        if (message && !message.probeToken && !message.sentCopyOf) rows.push({ message, mine });
      }
    }
    if (stopped) break;
  }
  const ended = streams.every((s) => s.done && s.buffer.length === 0);
  let flags: Record<string, MailboxFlags> = {};
  if (rows.length) {
    cost.flagReads++;
    flags = await deps.store.getMailboxFlags(
      user.id,
      rows.map((r) => r.message.id),
    );
  }
  return {
    messages: rows.map((r) => summaryOf(r.message, r.mine, flags[r.message.id])),
    cursor: ended || last === undefined ? null : encodePosition(last),
    cost,
  };
}

/** The message and the user's deliveries of it, if the user may see it; otherwise not found. */
export async function authoriseMessage(
  deps: Pick<MailboxDeps, 'store' | 'clock' | 'config'>,
  user: Pick<MailboxUser, 'addresses'>,
  messageId: string,
): Promise<{ message: MessageRecord; mine: DeliveryRecord[] }> {
  const since = historyStart(deps);
  const [deliveries, message] = await Promise.all([
    deps.store.listDeliveries(messageId),
    deps.store.getMessage(messageId),
  ]);
  const mine = visible(deliveries).filter(
    (d) => user.addresses.includes(d.recipient) && d.receivedAt >= since,
  );
  // The same answer whether the message does not exist or is someone else's: never reveal which.
  if (mine.length === 0 || !message || message.probeToken || message.sentCopyOf)
    throw new NotFoundError(`message ${messageId}`);
  return { message, mine };
}

function addressList(value: AddressObject | AddressObject[] | undefined): string[] {
  if (!value) return [];
  const list = Array.isArray(value) ? value : [value];
  const out: string[] = [];
  const walk = (entries: AddressObject['value']) => {
    for (const e of entries) {
      if (e.group) walk(e.group);
      else if (e.address) out.push(e.name ? `${e.name} <${e.address}>` : e.address);
      else if (e.name) out.push(e.name);
    }
  };
  for (const a of list) walk(a.value);
  return out.slice(0, MAX_LISTED_ITEMS);
}

// The reading parse lives with the summary, which ingest takes from the same parse.
export { MAX_HTML_TO_TEXT_CHARS, parseForReading } from './summarise.js';

/** Image types shown in the page; SVG is not one (it can carry script). */
export const INLINE_IMAGE_TYPES: ReadonlySet<string> = new Set([
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
]);

function attachmentViews(mail: ParsedMail): AttachmentView[] {
  return mail.attachments.slice(0, MAX_LISTED_ITEMS).map((a, index) => ({
    index,
    filename: a.filename ?? null,
    contentType: a.contentType,
    size: a.size,
    contentId: a.cid ?? null,
    inline: a.related === true || (a.contentDisposition === 'inline' && a.cid !== undefined),
  }));
}

function cut(text: string | undefined | false, flag: { truncated: boolean }): string | null {
  if (!text) return null;
  if (text.length <= MAX_BODY_CHARS) return text;
  flag.truncated = true;
  return text.slice(0, MAX_BODY_CHARS);
}

/** The part of a read that comes from the raw message: what the webmail and the quarantine preview show alike. */
export type ReadingParts = Pick<
  MessageDetail,
  | 'from'
  | 'to'
  | 'cc'
  | 'replyTo'
  | 'subject'
  | 'messageIdHeader'
  | 'inReplyTo'
  | 'headers'
  | 'text'
  | 'html'
  | 'htmlSanitised'
  | 'remoteImages'
  | 'truncated'
  | 'attachments'
  | 'inlineImages'
  | 'parseError'
>;

/**
 * A raw message for reading: headers, text, the HTML sanitised (lambdas/core/html-sanitise.ts)
 * with remote images held back, and the attachments listed. `linkImages` gives the signed link of
 * each embedded image it may show, by Content-ID; an image without one is dropped from the HTML.
 * A message that does not parse is described by its record, with the parser's complaint.
 */
export async function readRaw(
  deps: Pick<MailboxDeps, 'log'>,
  message: MessageRecord,
  raw: Buffer,
  linkImages: (attachments: AttachmentView[]) => Promise<Record<string, string>> = async () => ({}),
): Promise<ReadingParts> {
  const flag = { truncated: false };
  let mail: ParsedMail;
  try {
    mail = await parseForReading(raw);
  } catch (err) {
    deps.log.warn('message not parsed for reading', { messageId: message.id, error: (err as Error).name });
    return {
      from: message.from,
      to: message.to,
      cc: message.cc,
      replyTo: [],
      subject: message.subject,
      messageIdHeader: message.messageIdHeader,
      inReplyTo: message.inReplyTo,
      headers: [],
      text: null,
      html: null,
      htmlSanitised: true,
      remoteImages: 0,
      truncated: false,
      attachments: [],
      inlineImages: {},
      parseError: `${(err as Error).name}: ${(err as Error).message}`.slice(0, 500),
    };
  }
  const attachments = attachmentViews(mail);
  const inlineImages = await linkImages(attachments);
  const rawHtml = cut(mail.html, flag);
  const safe = rawHtml === null ? null : sanitiseMailHtml(rawHtml, { inlineImages });
  if (safe?.truncated) flag.truncated = true;
  return {
    from: addressList(mail.from)[0] ?? message.from,
    to: addressList(mail.to),
    cc: addressList(mail.cc),
    replyTo: addressList(mail.replyTo),
    subject: mail.subject ?? message.subject,
    messageIdHeader: mail.messageId ?? null,
    inReplyTo: mail.inReplyTo ?? null,
    headers: mail.headerLines.slice(0, MAX_HEADER_LINES).map(({ line }) => {
      const colon = line.indexOf(':');
      return {
        name: colon < 0 ? line : line.slice(0, colon),
        value: (colon < 0 ? '' : line.slice(colon + 1))
          .replace(/\r?\n[ \t]+/g, ' ')
          .trim()
          .slice(0, MAX_HEADER_CHARS),
      };
    }),
    text: cut(mail.text, flag),
    html: safe?.html ?? null,
    htmlSanitised: true,
    remoteImages: safe?.remoteImages ?? 0,
    truncated: flag.truncated,
    attachments,
    inlineImages,
    parseError: null,
  };
}

/**
 * One message for reading: headers, text, the HTML sanitised (lambdas/core/html-sanitise.ts; the
 * web app sanitises it again, see MessageDetail.html), the attachments and signed links for
 * embedded images, which the HTML's `cid:` references now point at.
 * @throws NotFoundError when the user may not see it, exactly as when it does not exist
 */
export async function readMessage(
  deps: MailboxDeps,
  user: MailboxUser,
  messageId: string,
): Promise<MessageDetail> {
  const { message, mine } = await authoriseMessage(deps, user, messageId);
  const [raw, flagsById] = await Promise.all([
    deps.blobs.getRaw(message.rawKey),
    deps.store.getMailboxFlags(user.id, [messageId]),
  ]);
  const { snippet: _snippet, ...base } = summaryOf(message, mine, flagsById[messageId]);
  const parts = await readRaw(deps, message, raw, async (attachments) => {
    const inlineImages: Record<string, string> = {};
    if (!deps.links) return inlineImages;
    const address = (mine[0] as DeliveryRecord).recipient;
    for (const a of attachments) {
      if (!a.inline || a.contentId === null || !INLINE_IMAGE_TYPES.has(a.contentType)) continue;
      const link = await deps.links.sign({ user: user.id, messageId, part: a.index, address });
      inlineImages[a.contentId] = link.url;
    }
    return inlineImages;
  });
  return { ...base, ...parts };
}

/**
 * Sets the user's read or flagged mark on a message they may see. Marks are the user's own and
 * live apart from the deliveries: they never change what is handed over to the primary.
 * @throws NotFoundError when the user may not see it
 */
export async function setMessageFlags(
  deps: MailboxDeps,
  user: MailboxUser,
  messageId: string,
  changes: Partial<MailboxFlags>,
): Promise<MailboxFlags & { id: string }> {
  await authoriseMessage(deps, user, messageId);
  const flags = await deps.store.setMailboxFlags(user.id, messageId, changes);
  return { id: messageId, ...flags };
}

/** Marks a message read (or unread). */
export function markSeen(deps: MailboxDeps, user: MailboxUser, messageId: string, seen = true) {
  return setMessageFlags(deps, user, messageId, { seen });
}

/** Flags a message (or clears the flag). */
export function flagMessage(deps: MailboxDeps, user: MailboxUser, messageId: string, flagged = true) {
  return setMessageFlags(deps, user, messageId, { flagged });
}

/**
 * A short-lived link to the raw message or one attachment of a message the user may see.
 * @throws NotFoundError when the user may not see it, or it has no such attachment
 */
export async function linkFor(
  deps: MailboxDeps & { links: LinkSigner },
  user: MailboxUser,
  messageId: string,
  part: 'raw' | number,
) {
  const { message, mine } = await authoriseMessage(deps, user, messageId);
  if (part !== 'raw' && part >= message.attachments.length) {
    throw new NotFoundError(`attachment ${part} of message ${messageId}`);
  }
  return deps.links.sign({ user: user.id, messageId, part, address: (mine[0] as DeliveryRecord).recipient });
}

/** A part to send to the browser: its bytes and how to present them. */
export interface DownloadPart {
  body: Buffer;
  contentType: string;
  filename: string;
  /** Safe to show in the page (an image type that cannot carry script); otherwise a download. */
  inline: boolean;
}

/**
 * The bytes a verified link points at, after checking again that the delivery it was made
 * through is still visible (not quarantined since, not expired out of the window).
 * @throws NotFoundError when it no longer is, or the part does not exist
 */
export async function fetchLinkedPart(deps: MailboxDeps, subject: LinkSubject): Promise<DownloadPart> {
  const { message } = await authoriseMessage(deps, { addresses: [subject.address] }, subject.messageId);
  const raw = await deps.blobs.getRaw(message.rawKey);
  if (subject.part === 'raw') {
    return { body: raw, contentType: 'message/rfc822', filename: `${subject.messageId}.eml`, inline: false };
  }
  const mail = await parseForReading(raw);
  const attachment = mail.attachments.slice(0, MAX_LISTED_ITEMS)[subject.part];
  if (!attachment) throw new NotFoundError(`attachment ${subject.part} of message ${subject.messageId}`);
  return {
    body: attachment.content,
    contentType: attachment.contentType,
    filename: attachment.filename ?? `attachment-${subject.part}`,
    inline: INLINE_IMAGE_TYPES.has(attachment.contentType),
  };
}
