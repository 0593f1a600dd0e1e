/**
 * A mailbox of generated mail for the webmail benchmark: deterministic for a seed, varied the
 * way a working mailbox is (a few senders write most of it, a long tail writes once; words
 * follow Zipf's law; about a fifth carries attachments and a third is HTML, newsletters among
 * it), built as real MIME so the indexer parses it as it parses received mail.
 */
import type { DeliveryRecord, MessageRecord } from '../lambdas/core/model.js';
import type { IndexDoc } from '../lambdas/core/search/mailbox-index.js';

/** A small, fast, seeded generator (mulberry32): the same seed gives the same mailbox. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Picks ranks 0..n-1 with probability ∝ 1/(rank+1)^s (Zipf's law, as word and sender frequencies
 * in real mail follow), by binary search over the cumulative weights.
 */
export function zipfSampler(n: number, s: number, random: () => number): () => number {
  const cumulative = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    total += 1 / (i + 1) ** s;
    cumulative[i] = total;
  }
  return () => {
    const x = random() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cumulative[mid] as number) < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

const SYLLABLES =
  'ba be bi bo bu da de di do du fa fe fi fo ka ke ki ko ku la le li lo lu ma me mi mo mu na ne ni no nu pa pe pi po pu ra re ri ro ru sa se si so su ta te ti to tu va ve vi vo vu za ze zi zo zu an en in on un ar er or ul st tr pl gr'.split(
    ' ',
  );

/** Words real business mail uses most, ahead of the generated long tail. */
const COMMON = (
  'the and to of a in for is on that this with you it be we are as have will at your our from by can ' +
  'please thanks meeting report budget invoice shipping order customer project team review update ' +
  'contract delivery schedule quarter sales offer price week friday monday call agenda draft attached ' +
  'question payment account policy travel office release plan notes minutes summary deadline'
).split(' ');

/** Distinct words in the generated language: the vocabulary of a large mailbox. */
export const VOCABULARY_SIZE = 30_000;

function makeVocabulary(random: () => number): string[] {
  const words = new Set(COMMON);
  while (words.size < VOCABULARY_SIZE) {
    const n = 2 + Math.floor(random() * 3);
    let w = '';
    for (let i = 0; i < n; i++) w += SYLLABLES[Math.floor(random() * SYLLABLES.length)];
    words.add(w);
  }
  return [...words];
}

const FIRST =
  'Alice Bob Carol Dave Erin Frank Grace Heidi Ivan Judy Mallory Niaj Olivia Peggy Rupert Sybil Trent Victor Walter Yvonne'.split(
    ' ',
  );
const LAST =
  'Smith Jones Brown Garcia Miller Davis Lopez Wilson Moore Taylor Thomas Martin Lee White Harris Clark'.split(
    ' ',
  );
const DOMAINS =
  'partner.example vendor.example example.org logistics.example bank.example news.example'.split(' ');
const ATTACHMENTS = [
  ['report', 'pdf', 'application/pdf'],
  ['invoice', 'pdf', 'application/pdf'],
  ['figures', 'xlsx', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'],
  ['photo', 'jpg', 'image/jpeg'],
  ['minutes', 'docx', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document'],
] as const;

/** Senders in a mailbox; Zipf-distributed, so the first few write most of it. */
export const SENDERS = 400;

/** One generated message: what was sent, and its raw MIME. */
export interface GeneratedMessage {
  id: string;
  receivedAt: string;
  from: string;
  to: string;
  subject: string;
  text: string;
  html: boolean;
  attachmentNames: string[];
  raw: Buffer;
}

export interface MailboxSpec {
  /** The mailbox's address (the envelope recipient of every message). */
  address: string;
  messages: number;
  /** The newest message's arrival; the rest are spread evenly over `spanDays` before it. */
  newest: Date;
  spanDays: number;
  seed: number;
}

function encodeBase64Lines(bytes: Buffer): string {
  return (bytes.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');
}

/**
 * The messages of a mailbox, oldest first, generated one at a time (a 100,000-message mailbox
 * is never all in memory).
 */
export function* generateMailbox(spec: MailboxSpec): Generator<GeneratedMessage> {
  const random = seededRandom(spec.seed);
  const vocabulary = makeVocabulary(random);
  const word = zipfSampler(vocabulary.length, 1.05, random);
  const sender = zipfSampler(SENDERS, 1.1, random);
  const senders = Array.from({ length: SENDERS }, (_, i) => {
    const first = FIRST[i % FIRST.length] as string;
    const last = LAST[Math.floor(i / FIRST.length) % LAST.length] as string;
    const domain = DOMAINS[i % DOMAINS.length] as string;
    return { name: `${first} ${last}`, address: `${first}.${last}${i}@${domain}`.toLowerCase() };
  });
  const words = (n: number) => Array.from({ length: n }, () => vocabulary[word()]).join(' ');
  const stepMs = (spec.spanDays * 86_400_000) / spec.messages;
  const newest = spec.newest.getTime();
  for (let i = 0; i < spec.messages; i++) {
    const receivedAt = new Date(newest - (spec.messages - 1 - i) * stepMs).toISOString();
    const id = `bench${String(i).padStart(7, '0')}`;
    const who = senders[sender()] as (typeof senders)[number];
    const newsletter = random() < 0.1;
    const subject = `${random() < 0.3 ? 'Re: ' : ''}${words(3 + Math.floor(random() * 5))}`;
    const paragraphs = Array.from({ length: 1 + Math.floor(random() * 5) }, () =>
      words(20 + Math.floor(random() * 60)),
    );
    const text = paragraphs.join('\n\n');
    const html = newsletter || random() < 0.25;
    const attachmentNames: string[] = [];
    const attachmentCount = random() < 0.2 ? 1 + Math.floor(random() * 2) : 0;
    const parts: string[] = [];
    for (let a = 0; a < attachmentCount; a++) {
      const [stem, ext, type] = ATTACHMENTS[
        Math.floor(random() * ATTACHMENTS.length)
      ] as (typeof ATTACHMENTS)[number];
      const name = `${stem}-${vocabulary[word()]}-${1 + Math.floor(random() * 99)}.${ext}`;
      attachmentNames.push(name);
      const body = Buffer.alloc(512 + Math.floor(random() * 2048), i & 0xff);
      parts.push(
        `Content-Type: ${type}; name="${name}"\r\nContent-Disposition: attachment; filename="${name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n${encodeBase64Lines(body)}`,
      );
    }
    const textPart = `Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${text.replace(/\n/g, '\r\n')}`;
    const htmlBody = paragraphs
      .map((p) => `<p>${p}</p>`)
      .join(newsletter ? '<img src="https://news.example/pixel.gif" width="1" height="1">' : '');
    const htmlPart = `Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n<html><body>${htmlBody}</body></html>`;
    const body = html
      ? `Content-Type: multipart/alternative; boundary="alt${i}"\r\n\r\n--alt${i}\r\n${textPart}\r\n--alt${i}\r\n${htmlPart}\r\n--alt${i}--`
      : textPart;
    const mime = parts.length
      ? `Content-Type: multipart/mixed; boundary="mix${i}"\r\n\r\n--mix${i}\r\n${body}\r\n${parts.map((p) => `--mix${i}\r\n${p}\r\n`).join('')}--mix${i}--`
      : body;
    const from = `${who.name} <${who.address}>`;
    const raw = Buffer.from(
      `From: ${from}\r\nTo: ${spec.address}\r\nSubject: ${subject}\r\nDate: ${new Date(receivedAt).toUTCString()}\r\nMessage-ID: <${id}@bench.example>\r\nMIME-Version: 1.0\r\n${mime}\r\n`,
    );
    yield { id, receivedAt, from, to: spec.address, subject, text, html, attachmentNames, raw };
  }
}

/** The message record ingest would have written for a generated message. */
export function recordOf(m: GeneratedMessage, address: string): MessageRecord {
  return {
    id: m.id,
    rawKey: `raw/${m.id}`,
    envelopeFrom: m.from.replace(/^.*<|>$/g, ''),
    recipients: [address],
    receivedAt: m.receivedAt,
    size: m.raw.length,
    from: m.from,
    to: [m.to],
    cc: [],
    subject: m.subject,
    date: m.receivedAt,
    messageIdHeader: `<${m.id}@bench.example>`,
    inReplyTo: null,
    snippet: m.text.slice(0, 200),
    attachments: m.attachmentNames.map((filename) => ({
      filename,
      contentType: 'application/octet-stream',
      size: 1024,
    })),
    verdicts: { spam: 'PASS', virus: 'PASS', spf: 'PASS', dkim: 'PASS', dmarc: 'PASS' },
    parseError: null,
  };
}

/** The delivery ingest would have written: handed over to the primary before the outage. */
export function deliveryOf(m: GeneratedMessage, address: string): DeliveryRecord {
  return {
    messageId: m.id,
    recipient: address,
    route: 'primary',
    state: 'delivered',
    attempts: 1,
    receivedAt: m.receivedAt,
    updatedAt: m.receivedAt,
    nextAttemptAt: null,
    lastError: null,
    lastResponse: '250 2.0.0 Ok',
    deliveredAt: m.receivedAt,
    reason: null,
    version: 2,
    leaseId: null,
    rawKey: `raw/${m.id}`,
    envelopeFrom: m.from.replace(/^.*<|>$/g, ''),
  };
}

/** The index entry the indexer would make, without parsing the MIME it was built from. */
export function docOf(m: GeneratedMessage): IndexDoc {
  return {
    id: m.id,
    receivedAt: m.receivedAt,
    subject: m.subject,
    from: m.from,
    to: m.to,
    cc: '',
    text: m.text,
    attachments: m.attachmentNames.join(' '),
    hasAttachment: m.attachmentNames.length > 0,
  };
}
