import { randomBytes } from 'node:crypto';
import type { AddressObject, ParsedMail } from 'mailparser';
import addressparser from 'nodemailer/lib/addressparser/index.js';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import type { AttachedFile, AttachmentRef, DraftMode } from '../../webmail/schemas.js';
import { MAX_ATTACHMENT_TOTAL_BYTES } from '../../webmail/schemas.js';
import type { MailboxUser } from '../directory.js';
import { NotFoundError, ValidationError } from '../errors.js';
import { authoriseMessage, type MailboxDeps, parseForReading } from '../mailbox.js';
import { normaliseAddress } from '../routing.js';
import { SendError, type SendingDeps, UPLOADS_PREFIX, type UploadData } from './records.js';

/**
 * An address the sending side accepts: ASCII local part and domain (no SMTPUTF8: neither every
 * relay nor the primary is sure to take it), one `@`, a dotted domain.
 */
const ADDRESS = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;

export interface ParsedRecipient {
  /** Lower-cased, for the envelope and every comparison. */
  address: string;
  /** The display name as typed, if any. */
  name: string;
}

/**
 * Parses `Name <address>` or `address` into one recipient.
 * @throws ValidationError naming the field for anything else (two addresses, a group, no domain)
 */
export function parseRecipient(text: string, field: string): ParsedRecipient {
  const parsed = addressparser(text, { flatten: true });
  const one = parsed.length === 1 ? parsed[0] : undefined;
  if (!one?.address || !ADDRESS.test(one.address) || one.address.length > 254) {
    throw new ValidationError('recipients', [
      `${field}: ${JSON.stringify(text.slice(0, 80))} is not one email address`,
    ]);
  }
  return { address: normaliseAddress(one.address), name: one.name ?? '' };
}

/** The domain part of an address. */
export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/** Whether an address is on one of the organisation's domains (its MX is Lifeboat: never relayed out). */
export function isInternal(config: { domains: readonly string[] }, address: string): boolean {
  return config.domains.includes(domainOf(address));
}

/** A resolved attachment, ready for the composer. */
export interface AttachmentContent {
  filename: string;
  contentType: string;
  content: Buffer;
}

type MailboxAccess = Pick<MailboxDeps, 'store' | 'blobs' | 'clock' | 'config'>;

/** A file name for a message attached whole: its subject, made safe, with `.eml`. */
function emlName(subject: string | null): string {
  const base = (subject ?? '')
    .replace(/[^\p{L}\p{N} ._()-]+/gu, ' ')
    .trim()
    .slice(0, 80);
  return `${base || 'message'}.eml`;
}

/**
 * What an attachment reference names, as the draft lists it (name, type, size), without reading
 * any bytes but the upload's record: the message record's attachment list serves forwards.
 * @throws NotFoundError when the user may not see it
 */
export async function describeRef(
  deps: Pick<SendingDeps, 'sending'> & MailboxAccess,
  user: MailboxUser,
  ref: AttachmentRef,
): Promise<AttachedFile> {
  if (ref.kind === 'upload') {
    const upload = await deps.sending.getSending<UploadData>('upload', user.id, ref.uploadId);
    if (!upload) throw new NotFoundError(`upload ${ref.uploadId}`);
    return {
      ref,
      filename: upload.data.filename,
      contentType: upload.data.contentType,
      size: upload.data.size ?? upload.data.declaredSize,
    };
  }
  const { message } = await authoriseMessage(deps, user, ref.messageId);
  if (ref.kind === 'message') {
    return { ref, filename: emlName(message.subject), contentType: 'message/rfc822', size: message.size };
  }
  const a = message.attachments[ref.part];
  if (!a) throw new NotFoundError(`attachment ${ref.part} of message ${ref.messageId}`);
  return { ref, filename: a.filename ?? `attachment-${ref.part}`, contentType: a.contentType, size: a.size };
}

/**
 * The bytes of every attachment, checked against MAX_ATTACHMENT_TOTAL_BYTES as they are read.
 * An upload must belong to the user and have arrived; a forwarded part must be in their mailbox.
 * @throws SendError ATTACHMENT_TOO_LARGE, UPLOAD_INCOMPLETE, UPLOAD_USED; NotFoundError
 */
export async function loadAttachments(
  deps: Pick<SendingDeps, 'sending' | 'sendingBlobs'> & MailboxAccess,
  user: MailboxUser,
  refs: readonly AttachmentRef[],
): Promise<AttachmentContent[]> {
  const out: AttachmentContent[] = [];
  let total = 0;
  const parsed = new Map<string, ParsedMail>();
  const add = (a: AttachmentContent) => {
    total += a.content.length;
    if (total > MAX_ATTACHMENT_TOTAL_BYTES) {
      throw new SendError(
        'ATTACHMENT_TOO_LARGE',
        `the attachments come to more than ${MAX_ATTACHMENT_TOTAL_BYTES / 1_000_000} MB: SES sends at most 40 MB a message including encoding, which base64 makes a third larger`,
      );
    }
    out.push(a);
  };
  for (const ref of refs) {
    if (ref.kind === 'upload') {
      const upload = await deps.sending.getSending<UploadData>('upload', user.id, ref.uploadId);
      // Another user's upload is not found, exactly as one that does not exist.
      if (!upload) throw new NotFoundError(`upload ${ref.uploadId}`);
      if (upload.data.state === 'receiving')
        throw new SendError('UPLOAD_INCOMPLETE', `upload ${ref.uploadId} is still arriving`);
      let content: Buffer;
      try {
        content = await deps.sendingBlobs.getRaw(`${UPLOADS_PREFIX}${ref.uploadId}`);
      } catch (err) {
        if (err instanceof NotFoundError)
          throw new SendError('UPLOAD_INCOMPLETE', `upload ${ref.uploadId} has no file yet: upload it first`);
        throw err;
      }
      // In AWS the browser puts the file straight into S3; its size is checked here, when it is used.
      if (content.length > MAX_ATTACHMENT_TOTAL_BYTES)
        throw new SendError('ATTACHMENT_TOO_LARGE', `upload ${ref.uploadId} is larger than its limit`);
      add({ filename: upload.data.filename, contentType: upload.data.contentType, content });
      continue;
    }
    const { message } = await authoriseMessage(deps, user, ref.messageId);
    const raw = await deps.blobs.getRaw(message.rawKey);
    if (ref.kind === 'message') {
      add({ filename: emlName(message.subject), contentType: 'message/rfc822', content: raw });
      continue;
    }
    let mail = parsed.get(ref.messageId);
    if (!mail) {
      mail = await parseForReading(raw);
      parsed.set(ref.messageId, mail);
    }
    const a = mail.attachments[ref.part];
    if (!a) throw new NotFoundError(`attachment ${ref.part} of message ${ref.messageId}`);
    add({
      filename: a.filename ?? `attachment-${ref.part}`,
      contentType: a.contentType,
      content: a.content,
    });
  }
  return out;
}

export interface ComposeInput {
  from: { name: string; address: string };
  to: ParsedRecipient[];
  cc: ParsedRecipient[];
  subject: string;
  text: string | null;
  html: string | null;
  attachments: AttachmentContent[];
  inReplyTo: string | null;
  references: string[];
  date: Date;
}

/**
 * The message as it leaves: MIME by nodemailer's MailComposer, a Message-ID on the sender's own
 * domain (so replies and DMARC reports line up with it), the Date, the user's display name. Bcc
 * is never written into the message; it is in the envelope only.
 */
export async function composeMime(input: ComposeInput): Promise<{ raw: Buffer; messageIdHeader: string }> {
  const messageIdHeader = `<${randomBytes(12).toString('hex')}@${domainOf(input.from.address)}>`;
  const named = (r: ParsedRecipient) => (r.name ? { name: r.name, address: r.address } : r.address);
  const composer = new MailComposer({
    from: input.from,
    to: input.to.map(named),
    cc: input.cc.map(named),
    subject: input.subject,
    ...(input.text !== null ? { text: input.text } : {}),
    ...(input.html !== null ? { html: input.html } : {}),
    ...(input.text === null && input.html === null ? { text: '' } : {}),
    attachments: input.attachments.map((a) => ({
      filename: a.filename,
      contentType: a.contentType,
      content: a.content,
    })),
    messageId: messageIdHeader,
    date: input.date,
    ...(input.inReplyTo ? { inReplyTo: input.inReplyTo } : {}),
    ...(input.references.length ? { references: input.references } : {}),
  });
  const raw = await composer.compile().build();
  return { raw, messageIdHeader };
}

/** Message-IDs in a header value, with their angle brackets. */
function messageIds(value: unknown): string[] {
  const text = Array.isArray(value) ? value.join(' ') : typeof value === 'string' ? value : '';
  return text.match(/<[^<>\s]+>/g) ?? [];
}

/**
 * In-Reply-To and References for a reply to (or forward of) a message of the user's mailbox
 * (RFC 5322 §3.6.4): the original's Message-ID, after its own References (or its In-Reply-To).
 * @throws NotFoundError when the user may not see it
 */
export async function threadingFor(
  deps: MailboxAccess,
  user: MailboxUser,
  messageId: string,
): Promise<{ inReplyTo: string | null; references: string[] }> {
  const { message } = await authoriseMessage(deps, user, messageId);
  const mail = await parseForReading(await deps.blobs.getRaw(message.rawKey));
  const own = messageIds(mail.messageId)[0] ?? null;
  const earlier = messageIds(mail.references);
  const parents = earlier.length ? earlier : messageIds(mail.inReplyTo);
  // Long threads keep the first and the latest ids, as RFC 5322 suggests when trimming.
  const chain = [...parents, ...(own ? [own] : [])];
  const references = chain.length > 20 ? [chain[0] as string, ...chain.slice(-19)] : chain;
  return { inReplyTo: own, references };
}

function addressesOf(value: AddressObject | AddressObject[] | undefined): ParsedRecipient[] {
  const list = value ? (Array.isArray(value) ? value : [value]) : [];
  const out: ParsedRecipient[] = [];
  const walk = (entries: AddressObject['value']) => {
    for (const e of entries) {
      if (e.group) walk(e.group);
      else if (e.address && ADDRESS.test(e.address))
        out.push({ address: normaliseAddress(e.address), name: e.name ?? '' });
    }
  };
  for (const a of list) walk(a.value);
  return out;
}

const display = (r: ParsedRecipient) =>
  r.name ? `${r.name.replace(/[<>"]/g, '')} <${r.address}>` : r.address;

function prefixed(prefix: 'Re' | 'Fwd', subject: string): string {
  const re = prefix === 'Re' ? /^\s*re\s*:/i : /^\s*(fwd?|fw)\s*:/i;
  return re.test(subject) ? subject : `${prefix}: ${subject}`;
}

/** The draft a reply, reply all or forward starts from. */
export interface Prefill {
  to: string[];
  cc: string[];
  subject: string;
  /** The original, quoted (reply) or introduced (forward), below where the user writes. */
  quote: string;
  attachments: AttachmentRef[];
  inReplyTo: string;
}

/**
 * Fills in a reply, reply all or forward of a message of the user's mailbox. Reply goes to
 * Reply-To, else From; reply all adds every To and Cc, never the user's own addresses. The quote
 * is the original's text (`> ` before each line) under an attribution line; a forward lists the
 * original's headers above its text and carries its attachments (or the whole message).
 * @throws NotFoundError when the user may not see it
 */
export async function prefillFrom(
  deps: MailboxAccess,
  user: MailboxUser,
  messageId: string,
  mode: DraftMode,
): Promise<Prefill> {
  const { message } = await authoriseMessage(deps, user, messageId);
  const mail = await parseForReading(await deps.blobs.getRaw(message.rawKey));
  const mine = (r: ParsedRecipient) => user.addresses.includes(r.address);
  const from = addressesOf(mail.from);
  const replyTo = addressesOf(mail.replyTo);
  const subject = mail.subject ?? message.subject ?? '';
  const text = (mail.text ?? message.snippet ?? '').replace(/\r\n/g, '\n');
  const when = (mail.date ?? new Date(message.receivedAt)).toUTCString();
  const who = from[0] ? display(from[0]) : 'someone';
  if (mode === 'reply' || mode === 'reply-all') {
    const primary = replyTo.length ? replyTo : from;
    const seen = new Set<string>();
    const take = (list: ParsedRecipient[]) =>
      list.filter((r) => !mine(r) && !seen.has(r.address) && seen.add(r.address)).map(display);
    const to = take(primary);
    const cc = mode === 'reply-all' ? take([...addressesOf(mail.to), ...addressesOf(mail.cc)]) : [];
    const quoted = text
      .split('\n')
      .map((l) => (l.startsWith('>') ? `>${l}` : `> ${l}`))
      .join('\n');
    return {
      to,
      cc,
      subject: prefixed('Re', subject),
      quote: `On ${when}, ${who} wrote:\n${quoted}\n`,
      attachments: [],
      inReplyTo: messageId,
    };
  }
  const header = [
    '---------- Forwarded message ----------',
    `From: ${who}`,
    `Date: ${when}`,
    `Subject: ${subject}`,
    `To: ${addressesOf(mail.to).map(display).join(', ')}`,
    ...(addressesOf(mail.cc).length ? [`Cc: ${addressesOf(mail.cc).map(display).join(', ')}`] : []),
    '',
  ].join('\n');
  const attachments: AttachmentRef[] =
    mode === 'forward-as-attachment'
      ? [{ kind: 'message', messageId }]
      : mail.attachments.flatMap((a, part) =>
          // Embedded images belong to the HTML, which a forward's text does not carry.
          a.related ? [] : [{ kind: 'message-part' as const, messageId, part }],
        );
  return {
    to: [],
    cc: [],
    subject: prefixed('Fwd', subject),
    quote: mode === 'forward-as-attachment' ? '' : `${header}\n${text}\n`,
    attachments,
    inReplyTo: messageId,
  };
}
