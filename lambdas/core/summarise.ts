import { type AddressObject, type ParsedMail, simpleParser } from 'mailparser';
import type { MessageRecord } from './model.js';
import { MAX_INDEXED_TEXT_CHARS } from './search/mailbox-index.js';

/** Characters of body text kept for list views; enough for two lines of a webmail list. */
export const SNIPPET_CHARS = 200;

/** Longest display name kept: a list row shows a few words, and a header can be made of anything. */
export const MAX_NAME_CHARS = 100;

/** What the message record takes from the parsed message. */
export type MessageSummary = Pick<
  MessageRecord,
  | 'from'
  | 'fromName'
  | 'to'
  | 'cc'
  | 'subject'
  | 'date'
  | 'messageIdHeader'
  | 'inReplyTo'
  | 'snippet'
  | 'attachments'
  | 'parseError'
>;

function addresses(value: AddressObject | AddressObject[] | undefined): string[] {
  if (!value) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.flatMap((a) => a.value.map((v) => v.address ?? v.name).filter((s): s is string => Boolean(s)));
}

/** The first sender's display name, trimmed and bounded; null when the header gives none. */
function displayName(value: AddressObject | AddressObject[] | undefined): string | null {
  const first = (Array.isArray(value) ? value[0] : value)?.value[0];
  const name = first?.name?.replace(/\s+/g, ' ').trim() ?? '';
  return name === '' ? null : name.slice(0, MAX_NAME_CHARS);
}

/** The first part of a body a snippet is looked for in; four times as much each time it falls short. */
const SNIPPET_SCAN_CHARS = 1024;

/**
 * `body` with its whitespace runs made single spaces, trimmed and cut to SNIPPET_CHARS, reading
 * only as much of it as that takes: a long body costs no more than a short one. A collapsed
 * prefix is a prefix of the collapsed whole, and once it holds two characters past the cut, one
 * of them is not a space, so trimming the whole could not reach into the snippet.
 */
export function collapseSnippet(body: string): string {
  for (let n = SNIPPET_SCAN_CHARS; ; n *= 4) {
    if (n >= body.length) return body.replace(/\s+/g, ' ').trim().slice(0, SNIPPET_CHARS);
    const head = body.slice(0, n).replace(/\s+/g, ' ').trimStart();
    if (head.length >= SNIPPET_CHARS + 2) return head.slice(0, SNIPPET_CHARS);
  }
}

function snippetOf(text: string | undefined, html: string | false | undefined): string {
  let body = text ?? '';
  if (!body && html) {
    body = html
      .replace(/<(style|script)[^>]*>[\s\S]*?<\/\1>/gi, ' ')
      .replace(/<[^>]+>/g, ' ')
      .replace(/&nbsp;/g, ' ');
  }
  return collapseSnippet(body);
}

const empty: Omit<MessageSummary, 'parseError'> = {
  from: null,
  fromName: null,
  to: [],
  cc: [],
  subject: null,
  date: null,
  messageIdHeader: null,
  inReplyTo: null,
  snippet: '',
  attachments: [],
};

/** The summary of a message that could not be parsed: nothing but the problem, cut to 500 characters. */
export function unparsedSummary(parseError: string): MessageSummary {
  return { ...empty, parseError: parseError.slice(0, 500) };
}

/** What list views and policies need from a parsed message; `snippetText` is the text the snippet is read from. */
function summaryOf(mail: ParsedMail, snippetText: string | undefined): MessageSummary {
  const date = mail.date && !Number.isNaN(mail.date.getTime()) ? mail.date.toISOString() : null;
  return {
    from: addresses(mail.from)[0] ?? null,
    fromName: displayName(mail.from),
    to: addresses(mail.to),
    cc: addresses(mail.cc),
    subject: mail.subject ?? null,
    date,
    messageIdHeader: mail.messageId ?? null,
    inReplyTo: mail.inReplyTo ?? null,
    snippet: snippetOf(snippetText, mail.html),
    attachments: mail.attachments.map((a) => ({
      filename: a.filename ?? null,
      contentType: a.contentType,
      size: a.size,
    })),
    parseError: null,
  };
}

/**
 * Reads what list views and policies need from a raw message. Never throws: a message that
 * cannot be parsed is still kept and relayed, with the problem recorded in `parseError`.
 */
export async function summariseMessage(raw: Buffer): Promise<MessageSummary> {
  try {
    const mail = await simpleParser(raw, {
      skipHtmlToText: true,
      skipTextToHtml: true,
      skipTextLinks: true,
      skipImageLinks: true,
      // The record lists an attachment's name, type and size; hashing its bytes would be wasted.
      checksumAlgo: false,
    });
    return summaryOf(mail, mail.text);
  } catch (err) {
    return unparsedSummary(`${(err as Error).name}: ${(err as Error).message}`);
  }
}

/** HTML past this length is not converted to text when a message has no text part: CPU, not memory. */
export const MAX_HTML_TO_TEXT_CHARS = 1024 * 1024;

/** Parses a raw message for reading, downloading parts and indexing. Throws on unparseable input. */
export function parseForReading(raw: Buffer): Promise<ParsedMail> {
  return simpleParser(raw, {
    // `cid:` links stay as they are: the renderer puts signed links there, not megabytes of data: URLs.
    keepCidLinks: true,
    skipTextToHtml: true,
    skipTextLinks: true,
    maxHtmlLengthToParse: MAX_HTML_TO_TEXT_CHARS,
    checksumAlgo: false,
  });
}

/** What a message's search index entry takes from its body. */
export interface IndexBody {
  /** The text as the reading parse gives it (HTML converted), cut to what the index keeps. */
  text: string | null;
  attachmentNames: string[];
}

/** The index body of a message that could not be parsed: it is indexed from its record. */
export const unparsedIndexBody = (): IndexBody => ({ text: null, attachmentNames: [] });

/**
 * The text and attachment names the index takes from a message parsed for reading. The text is
 * cut to MAX_INDEXED_TEXT_CHARS here, as the index cuts it, so it travels no further than it is used.
 */
export function indexBodyOf(mail: ParsedMail): IndexBody {
  return {
    text: mail.text === undefined ? null : mail.text.slice(0, MAX_INDEXED_TEXT_CHARS),
    attachmentNames: mail.attachments.map((a) => a.filename).filter((f): f is string => Boolean(f)),
  };
}

/** What one parse of a message at ingest yields: its record's summary and its search index body. */
export interface MessageReading {
  summary: MessageSummary;
  index: IndexBody;
}

/**
 * Whether the message is one HTML part: the summary parse leaves such a message's text empty and
 * takes the snippet from the HTML, where the reading parse converts it (with link targets in brackets).
 */
function isHtmlOnly(mail: ParsedMail): boolean {
  const type = mail.headers.get('content-type') as { value?: unknown } | string | undefined;
  const value = typeof type === 'string' ? type : type?.value;
  return typeof value === 'string' && value.trim().toLowerCase() === 'text/html';
}

/**
 * Parses a raw message once, as the reader does (HTML converted to text up to
 * MAX_HTML_TO_TEXT_CHARS), for both its record's summary and its search index body: the indexer
 * then need not read and parse the raw message again. The summary is the one summariseMessage
 * gives, but for an HTML part beside a text part and not its alternative (a mailing list's footer
 * added to HTML mail, a delivery report): converted here, its words can start the snippet where
 * the summary parse skipped them. The index body is the one a parse of the raw message at indexing
 * time gives (indexBody). Never throws:
 * a message that cannot be parsed is kept and relayed with `parseError`, and indexed from its record.
 */
export async function readMessage(raw: Buffer): Promise<MessageReading> {
  try {
    const mail = await parseForReading(raw);
    return { summary: summaryOf(mail, isHtmlOnly(mail) ? '' : mail.text), index: indexBodyOf(mail) };
  } catch (err) {
    return {
      summary: unparsedSummary(`${(err as Error).name}: ${(err as Error).message}`),
      index: unparsedIndexBody(),
    };
  }
}
