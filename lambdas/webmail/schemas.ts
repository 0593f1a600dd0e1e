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
});
export type StatusResponse = z.infer<typeof statusResponseSchema>;
