/**
 * The staff webmail API's shapes: every request body and query, and every response. The API
 * validates with them and the web app imports them, so a renamed field fails the type check
 * instead of a user. This module imports zod only, so it bundles for the browser.
 */
import * as z from 'zod';

/** A page of the list or of search results unless the app asks for another size. */
export const DEFAULT_PAGE_SIZE = 50;
/**
 * Largest page: one batch read of message records and one of read marks per page, and DynamoDB
 * reads at most 100 keys per batch.
 */
export const MAX_PAGE_SIZE = 100;
/** Longest search query: a person types a few words and operators, never a document. */
export const MAX_QUERY_CHARS = 500;
/** Longest cursor accepted: the API's own are under 100 characters. */
export const MAX_CURSOR_CHARS = 512;

/** Delivery states a mailbox shows: all but quarantined, which staff never see. */
export const mailboxStates = ['queued', 'delivering', 'delivered', 'deferred', 'failed', 'held'] as const;
export type MailboxState = (typeof mailboxStates)[number];

const isoTime = z.iso.datetime({ offset: true });

// The remote-content markers live in a module without zod, so the web app's renderer imports
// them without bundling a validator; re-exported here for the server's sanitiser.
export { REMOTE_ATTRIBUTES, REMOTE_SHEET_ATTRIBUTE } from './remote-markers.js';

/** One row of the mailbox list or of search results. Every string is shown as text, never as HTML. */
export const messageSummarySchema = z.object({
  id: z.string(),
  /** When the gateway received it (the list's order). */
  receivedAt: isoTime,
  /** The message's own Date header, when it had a valid one. */
  date: isoTime.nullable(),
  from: z.string().nullable(),
  /** The sender's display name from the From header, when it has one. */
  fromName: z.string().nullable(),
  to: z.array(z.string()),
  subject: z.string().nullable(),
  snippet: z.string(),
  hasAttachments: z.boolean(),
  /** Bytes as received. */
  size: z.number().int().nonnegative(),
  seen: z.boolean(),
  flagged: z.boolean(),
  /** Where the message stands: delivered to the primary, held during an outage, deferred … */
  state: z.enum(mailboxStates),
  /** Which of the user's addresses it was sent to (an alias, a shared address). */
  deliveredTo: z.array(z.string()),
});
export type MessageSummary = z.infer<typeof messageSummarySchema>;

export const messagePageSchema = z.object({
  messages: z.array(messageSummarySchema),
  /** Pass back for the next (older) page; null at the end. */
  cursor: z.string().nullable(),
});
export type MessagePage = z.infer<typeof messagePageSchema>;

export const attachmentSchema = z.object({
  /** The `part` to ask a link for. */
  index: z.number().int().nonnegative(),
  filename: z.string().nullable(),
  contentType: z.string(),
  size: z.number().int().nonnegative(),
  /** The Content-ID without angle brackets, which `cid:` URLs in the HTML refer to. */
  contentId: z.string().nullable(),
  /** Shown in the body (an embedded image) rather than offered as a download. */
  inline: z.boolean(),
});
export type AttachmentView = z.infer<typeof attachmentSchema>;

export const messageDetailSchema = z.object({
  ...messageSummarySchema.omit({ snippet: true }).shape,
  cc: z.array(z.string()),
  replyTo: z.array(z.string()),
  messageIdHeader: z.string().nullable(),
  inReplyTo: z.string().nullable(),
  /** Every header line as received, unfolded; values are text (encoded words left as sent). */
  headers: z.array(z.object({ name: z.string(), value: z.string() })),
  text: z.string().nullable(),
  /**
   * The HTML body, sanitised by the server (lambdas/core/html-sanitise.ts): formatting only, no
   * script, forms, frames, SVG or MathML; links open in a new tab with `noopener noreferrer`;
   * `cid:` images point at their signed links; remote images are held back in
   * `data-lifeboat-remote-*` attributes and a `<style media="not all" data-lifeboat-remote>` sheet.
   * The web app sanitises it again and shows it in a sandboxed iframe (web/src/mail/render.ts):
   * never insert it into a page, however clean it looks.
   */
  html: z.string().nullable(),
  /** Always true: `html` has been through the server's sanitiser. */
  htmlSanitised: z.literal(true),
  /** Remote images (and CSS `url()`s) in `html` held back until the user allows them for the message. */
  remoteImages: z.number().int().nonnegative(),
  /** The text or HTML was longer than the API returns; the raw message has it whole. */
  truncated: z.boolean(),
  attachments: z.array(attachmentSchema),
  /** Signed links for the embedded images, by Content-ID, for the renderer to put in place of `cid:`. */
  inlineImages: z.record(z.string(), z.string()),
  /** Why the message could not be parsed, when it could not; the raw message is still available. */
  parseError: z.string().nullable(),
});
export type MessageDetail = z.infer<typeof messageDetailSchema>;

export const listQuerySchema = z.strictObject({
  cursor: z.string().min(1).max(MAX_CURSOR_CHARS).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(DEFAULT_PAGE_SIZE),
});

export const searchQuerySchema = z.strictObject({
  ...listQuerySchema.shape,
  /** Words, "quoted phrases" and from: to: subject: has:attachment before: after: is:unread. */
  q: z.string().trim().min(1, 'type something to search for').max(MAX_QUERY_CHARS),
});

export const flagsBodySchema = z
  .strictObject({ seen: z.boolean().optional(), flagged: z.boolean().optional() })
  .refine((b) => b.seen !== undefined || b.flagged !== undefined, { message: 'give seen, flagged or both' });
export type FlagsBody = z.infer<typeof flagsBodySchema>;

export const flagsResponseSchema = z.object({ id: z.string(), seen: z.boolean(), flagged: z.boolean() });

export const linkQuerySchema = z.strictObject({
  /** `raw` for the whole message, or an attachment's index. */
  part: z.union([z.literal('raw'), z.coerce.number().int().min(0).max(10_000)]),
});

export const linkResponseSchema = z.object({
  url: z.string(),
  expiresAt: isoTime,
});
export type LinkResponse = z.infer<typeof linkResponseSchema>;

export const meResponseSchema = z.object({
  id: z.string(),
  name: z.string(),
  /** The primary address first. */
  addresses: z.array(z.string()),
  /** Days back the mailbox lists and searches. */
  historyDays: z.number().int().positive(),
});
export type MeResponse = z.infer<typeof meResponseSchema>;

/** Every error: a stable code the app maps to words, the API's own message, and any field problems. */
export const errorResponseSchema = z.object({
  error: z.string(),
  message: z.string(),
  problems: z.array(z.string()).optional(),
});
export type ErrorResponse = z.infer<typeof errorResponseSchema>;

/** The organisation's continuity states, as the admin API names them. */
export const continuityStates = ['normal', 'alerting', 'continuity', 'recovering'] as const;
export type ContinuityState = (typeof continuityStates)[number];

/** `GET /mail/api/status`: what the continuity banner shows. */
export const statusResponseSchema = z.object({
  /**
   * `normal`; `alerting` (the primary looks down, admins are paged); `continuity` (mail is held
   * here for hand-over); `recovering` (held mail is being handed to the primary).
   */
  state: z.enum(continuityStates),
  /** When that state began; null when normal. */
  since: isoTime.nullable(),
  /** The open event holds (or would hold) mail of one of my addresses' routes. */
  scopeCoversMe: z.boolean(),
  /** The open event is a drill, a rehearsal: the banner says so. Absent when it is not. */
  drill: z.boolean().optional(),
});
export type StatusResponse = z.infer<typeof statusResponseSchema>;

// ---------------------------------------------------------------------------------------------
// Sending: drafts, uploads, send, undo, the Sent view, signatures.
// ---------------------------------------------------------------------------------------------

/**
 * SES v2 sends a message of up to 40 MB including its encoding; base64 makes attachments 4/3 of
 * their size plus line breaks, so about 28 MB of attachments in total leaves room for the body and
 * headers. The local relay gets the same limit, so a message that leaves locally leaves in AWS.
 */
export const MAX_ATTACHMENT_TOTAL_BYTES = 28_000_000;
/** Attachments on one message: a person attaches a handful; more is a script. */
export const MAX_ATTACHMENTS = 50;
/**
 * Characters of text and of HTML a draft or a message may carry: a long letter with a quoted
 * thread is well under 1 MB, and the whole JSON body (both parts) must fit the API's request limit.
 */
export const MAX_BODY_CHARS_SENT = 400_000;
/** RFC 5322 §2.1.1: a header line is at most 998 characters, the subject with it. */
export const MAX_SUBJECT_CHARS_SENT = 998;
/** RFC 5321 §4.5.3.1: a path (an address) is at most 256 octets; with a display name, a little more. */
export const MAX_RECIPIENT_CHARS = 320;
/** Recipients in one field the API reads at all; the configured cap (webmail.send.maxRecipients) is lower. */
export const MAX_RECIPIENTS_PER_FIELD = 500;
/** A signature is a few lines: name, role, a phone number, perhaps a small logo's worth of HTML. */
export const MAX_SIGNATURE_CHARS = 10_000;
/** Drafts one user keeps: enough for every thread in flight, bounded so a list is one read. */
export const MAX_DRAFTS = 200;
/** Longest file name kept for an upload (the name shown and sent; a path is never kept). */
export const MAX_FILENAME_CHARS = 255;

/** A message id of the user's mailbox (the API's `id`, not the Message-ID header). */
const mailboxMessageId = z.string().regex(/^[A-Za-z0-9._=+-]{1,256}$/, 'is not a message id');
/** `Name <address>` or a bare address; the server parses it and refuses anything else. */
const recipientText = z.string().trim().min(3).max(MAX_RECIPIENT_CHARS);

/**
 * One attachment of a draft or of a message being sent:
 * - `upload`: a file the browser uploaded through a signed upload (POST /mail/api/uploads);
 * - `message-part`: attachment `part` of a message in my mailbox (forward with its attachments);
 * - `message`: a whole message of my mailbox, attached as `message/rfc822` (forward as attachment).
 */
export const attachmentRefSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('upload'), uploadId: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/) }),
  z.strictObject({
    kind: z.literal('message-part'),
    messageId: mailboxMessageId,
    part: z.number().int().min(0).max(10_000),
  }),
  z.strictObject({ kind: z.literal('message'), messageId: mailboxMessageId }),
]);
export type AttachmentRef = z.infer<typeof attachmentRefSchema>;

const composeShape = {
  /** One of my addresses (GET /mail/api/me); my primary address when absent. */
  from: z.string().trim().max(MAX_RECIPIENT_CHARS),
  to: z.array(recipientText).max(MAX_RECIPIENTS_PER_FIELD),
  cc: z.array(recipientText).max(MAX_RECIPIENTS_PER_FIELD),
  bcc: z.array(recipientText).max(MAX_RECIPIENTS_PER_FIELD),
  subject: z.string().max(MAX_SUBJECT_CHARS_SENT),
  /** The plain-text body; with `html`, the text alternative. */
  text: z.string().max(MAX_BODY_CHARS_SENT).nullable(),
  /** The HTML body, as the editor made it; the server sends it as given (it is the user's own). */
  html: z.string().max(MAX_BODY_CHARS_SENT).nullable(),
  attachments: z.array(attachmentRefSchema).max(MAX_ATTACHMENTS),
  /**
   * The message of my mailbox this replies to or forwards: the server sets `In-Reply-To` and
   * `References` from its headers, so the thread holds together at every recipient.
   */
  inReplyTo: mailboxMessageId.nullable(),
};

/**
 * What a message to be sent says: the same fields in a draft and in an inline send. Bcc never
 * appears in the message's headers; it is kept in the Sent view and the sender's sent copy.
 */
export const composeFieldsSchema = z.strictObject({
  from: composeShape.from.optional(),
  to: composeShape.to.default([]),
  cc: composeShape.cc.default([]),
  bcc: composeShape.bcc.default([]),
  subject: composeShape.subject.default(''),
  text: composeShape.text.default(null),
  html: composeShape.html.default(null),
  attachments: composeShape.attachments.default([]),
  inReplyTo: composeShape.inReplyTo.default(null),
});
export type ComposeFields = z.infer<typeof composeFieldsSchema>;
export type ComposeInput = z.input<typeof composeFieldsSchema>;

/** How a draft starts from a message of my mailbox. */
export const draftModes = ['reply', 'reply-all', 'forward', 'forward-as-attachment'] as const;
export type DraftMode = (typeof draftModes)[number];

/**
 * `POST /mail/api/drafts`: a new draft, blank or from a message of my mailbox. With `source`, the
 * server fills it in: recipients (reply: Reply-To or From; reply all: and every To and Cc but my
 * own addresses), `Re:`/`Fwd:` subject, the original quoted below, `inReplyTo`, and for a forward
 * the original's attachments (or the original itself as an attachment). My signature is put in a
 * new draft's body by the server, above the quote; fields given here win over what it fills in.
 */
export const createDraftBodySchema = z.strictObject({
  ...z.strictObject(composeShape).partial().shape,
  source: z.strictObject({ messageId: mailboxMessageId, mode: z.enum(draftModes) }).optional(),
  /** Leave my signature out of a new draft. @default false */
  noSignature: z.boolean().default(false),
});
export type CreateDraftBody = z.input<typeof createDraftBodySchema>;

/**
 * `PUT /mail/api/drafts/{id}`: saves the whole draft (as you type; a phone that dies loses at
 * most the last save). `version` is the draft's version as last read: a save over a newer one
 * (another tab, another device) answers 409 `CONFLICT`, and the app reloads the draft.
 */
export const saveDraftBodySchema = z.strictObject({
  ...composeFieldsSchema.shape,
  version: z.number().int().positive(),
});
export type SaveDraftBody = z.input<typeof saveDraftBodySchema>;

/** An attachment as a draft or a sent message lists it. */
export const attachedFileSchema = z.object({
  ref: attachmentRefSchema,
  filename: z.string(),
  contentType: z.string(),
  size: z.number().int().nonnegative(),
});
export type AttachedFile = z.infer<typeof attachedFileSchema>;

export const draftSchema = z.object({
  id: z.string(),
  /** Goes up by one with every save; give it back with the next save. */
  version: z.number().int().positive(),
  createdAt: isoTime,
  updatedAt: isoTime,
  from: z.string(),
  to: z.array(z.string()),
  cc: z.array(z.string()),
  bcc: z.array(z.string()),
  subject: z.string(),
  text: z.string().nullable(),
  html: z.string().nullable(),
  /** Each attachment with its name and size, in the order given. */
  attachments: z.array(attachedFileSchema),
  inReplyTo: z.string().nullable(),
});
export type Draft = z.infer<typeof draftSchema>;

/** `GET /mail/api/drafts`: my drafts, last saved first, without their bodies. */
export const draftListSchema = z.object({
  drafts: z.array(
    draftSchema
      .omit({ text: true, html: true, attachments: true })
      .extend({ snippet: z.string(), attachmentCount: z.number().int().nonnegative() }),
  ),
});
export type DraftList = z.infer<typeof draftListSchema>;

/**
 * `POST /mail/api/uploads`: asks for a signed upload of one file. The file goes straight to
 * storage (an S3 presigned PUT in AWS, the runtime's upload route locally), never through the API.
 */
export const uploadRequestSchema = z.strictObject({
  filename: z.string().trim().min(1).max(MAX_FILENAME_CHARS),
  contentType: z
    .string()
    .trim()
    .max(255)
    .regex(/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/i, 'must be a MIME type such as application/pdf')
    .default('application/octet-stream'),
  /** Bytes the file has: refused at once above the limit, and the PUT may not carry more. */
  size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  /** The draft it is for. */
  draftId: z.string().max(64).optional(),
});
export type UploadRequest = z.input<typeof uploadRequestSchema>;

/**
 * The signed upload: send the file's bytes with `method` to `url`, with exactly `headers`, before
 * `expiresAt`. The URL works once, for the signed-in user who asked, for at most `maxBytes`; then
 * refer to the file as `{ kind: 'upload', uploadId: id }`.
 */
export const uploadTicketSchema = z.object({
  id: z.string(),
  url: z.string(),
  method: z.literal('PUT'),
  headers: z.record(z.string(), z.string()),
  expiresAt: isoTime,
  maxBytes: z.number().int().positive(),
});
export type UploadTicket = z.infer<typeof uploadTicketSchema>;

/**
 * `POST /mail/api/send`: send a saved draft (`draftId`, with its `version` to be sure the last
 * save is what goes), or a message given inline. The answer is 202 with the Sent item in state
 * `waiting`: it leaves when `undoUntil` has passed, unless `POST /mail/api/sent/{id}/undo` takes it back.
 */
export const sendBodySchema = z.union([
  z.strictObject({ draftId: z.string().min(1).max(64), version: z.number().int().positive().optional() }),
  composeFieldsSchema,
]);
export type SendBody = z.input<typeof sendBodySchema>;

/** Where a message stands as a whole. */
export const sentStates = [
  /** In our outbound queue for the undo window. */
  'waiting',
  /** Taken back within the undo window; it never left. */
  'undone',
  /** Leaving now. */
  'sending',
  /** Some external recipients' relay deferred it; it is tried again. */
  'retrying',
  /** Handed on for every recipient (see each recipient's status). */
  'sent',
  /** At least one recipient bounced; the notice is in my mailbox. */
  'partly-failed',
  /** No recipient got it. */
  'failed',
] as const;
export type SentState = (typeof sentStates)[number];

/**
 * One recipient's status:
 * - internal (on one of the organisation's domains): `delivered` to their mailbox on the primary,
 *   `held` here until the primary is back (they see it in this webmail at once), `queued`/`deferred`;
 * - external: `relayed` (accepted by the relay, or SES), `delivered` (SES delivery event),
 *   `deferred` (tried again), `bounced` (a notice is in my mailbox);
 * - `waiting` before it leaves, `undone` when taken back.
 */
export const recipientStatuses = [
  'waiting',
  'undone',
  'queued',
  'held',
  'deferred',
  'relayed',
  'delivered',
  'bounced',
  'failed',
] as const;
export type RecipientStatus = (typeof recipientStatuses)[number];

export const sentRecipientSchema = z.object({
  address: z.string(),
  field: z.enum(['to', 'cc', 'bcc']),
  internal: z.boolean(),
  status: z.enum(recipientStatuses),
  /** The relay's or the primary's last answer, or why it bounced. */
  detail: z.string().nullable(),
  updatedAt: isoTime,
});
export type SentRecipient = z.infer<typeof sentRecipientSchema>;

/** One message I sent, as the Sent view shows it. */
export const sentItemSchema = z.object({
  id: z.string(),
  state: z.enum(sentStates),
  createdAt: isoTime,
  /** Until when undo works; null once it has left or was undone. */
  undoUntil: isoTime.nullable(),
  /** When it left (the undo window over). */
  sentAt: isoTime.nullable(),
  from: z.string(),
  subject: z.string(),
  /** The message's Message-ID header, on the sender's domain. */
  messageIdHeader: z.string(),
  size: z.number().int().nonnegative(),
  attachments: z.array(attachedFileSchema.omit({ ref: true })),
  recipients: z.array(sentRecipientSchema),
  /**
   * Sent during a continuity event: a copy goes to my own mailbox on the primary after the held
   * mail (`pending`), marked `X-Lifeboat-Sent-Copy: yes`; `handed-over` once the primary took it.
   * `none` outside an event (the primary's own sent folder is not involved then either).
   */
  sentCopy: z.enum(['none', 'pending', 'handed-over']),
});
export type SentItem = z.infer<typeof sentItemSchema>;

export const sentPageSchema = z.object({
  items: z.array(sentItemSchema),
  /** Pass back for older items; null at the end. */
  cursor: z.string().nullable(),
});
export type SentPage = z.infer<typeof sentPageSchema>;

export const sentQuerySchema = z.strictObject({
  cursor: z.string().min(1).max(MAX_CURSOR_CHARS).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(DEFAULT_PAGE_SIZE),
});

/** `POST /mail/api/sent/{id}/undo`: the message taken back, and a draft with its content to edit. */
export const undoResponseSchema = z.object({ sent: sentItemSchema, draft: draftSchema });
export type UndoResponse = z.infer<typeof undoResponseSchema>;

/** `GET`/`PUT /mail/api/signature`: my signature, put into new drafts by the server. */
export const signatureSchema = z.strictObject({
  text: z.string().max(MAX_SIGNATURE_CHARS).default(''),
  html: z.string().max(MAX_SIGNATURE_CHARS).nullable().default(null),
});
export type Signature = z.infer<typeof signatureSchema>;

/** `GET /mail/api/sending`: the limits that apply to me and what I have used of them. */
export const sendingInfoSchema = z.object({
  undoSeconds: z.number().int().nonnegative(),
  maxRecipients: z.number().int().positive(),
  messagesPerHour: z.number().int().positive(),
  recipientsPerDay: z.number().int().positive(),
  /** Messages I sent in the last hour. */
  sentLastHour: z.number().int().nonnegative(),
  /** Recipients I sent to in the last 24 hours. */
  recipientsLastDay: z.number().int().nonnegative(),
  maxAttachmentBytes: z.number().int().positive(),
  /** Whether mail to addresses outside the organisation can leave (a relay or SES is configured). */
  external: z.boolean(),
  /** The addresses I may send from, the primary first. */
  fromAddresses: z.array(z.string()),
});
export type SendingInfo = z.infer<typeof sendingInfoSchema>;

/**
 * The sending endpoints' stable error codes (the `error` of an ErrorResponse) and their HTTP
 * status, besides the shared ones (VALIDATION_FAILED 400, UNAUTHENTICATED 401, NOT_FOUND 404,
 * CONFLICT 409 for a stale draft version).
 */
export const SEND_ERROR_STATUS = {
  /** From (or the envelope sender) is not one of my addresses. */
  FROM_NOT_YOURS: 403,
  /** No recipient in To, Cc or Bcc. */
  NO_RECIPIENTS: 400,
  /** More recipients than `webmail.send.maxRecipients` on one message. */
  TOO_MANY_RECIPIENTS: 400,
  /** Over `messagesPerHour` or `recipientsPerDay`; the body's message says when it frees up. */
  RATE_LIMITED: 429,
  /** The attachments (or one upload) are over MAX_ATTACHMENT_TOTAL_BYTES. */
  ATTACHMENT_TOO_LARGE: 413,
  /** The signed upload was used already (it works once). */
  UPLOAD_USED: 409,
  /** An attachment refers to an upload whose bytes never arrived. */
  UPLOAD_INCOMPLETE: 409,
  /** An upload URL not signed here, altered, or signed for another user. */
  UPLOAD_INVALID: 403,
  /** An upload URL past its time. */
  UPLOAD_EXPIRED: 410,
  /** Undo after the window: the message has left. */
  TOO_LATE: 409,
  /** An external recipient, and no relay (local.relay) or SES to send through. */
  NO_OUTBOUND_PATH: 409,
  /** MAX_DRAFTS drafts already. */
  TOO_MANY_DRAFTS: 409,
} as const;
export type SendErrorCode = keyof typeof SEND_ERROR_STATUS;
