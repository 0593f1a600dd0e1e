import { type AddressObject, simpleParser } from 'mailparser';
import type { MessageRecord } from './model.js';

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
      snippet: snippetOf(mail.text, mail.html),
      attachments: mail.attachments.map((a) => ({
        filename: a.filename ?? null,
        contentType: a.contentType,
        size: a.size,
      })),
      parseError: null,
    };
  } catch (err) {
    return unparsedSummary(`${(err as Error).name}: ${(err as Error).message}`);
  }
}
