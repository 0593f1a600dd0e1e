/**
 * How much packing shrinks archived raw mail: each message gzipped as its own pack member, exactly
 * as the packer does (lambdas/core/raw-packs.ts `packMember`), the packed bytes over the original
 * bytes, apart for messages under 128 KB and for larger ones (mostly attachments, already
 * compressed or base64), the two classes the worked month prices (bench/aws-cost.ts).
 */
import { packMember } from '../lambdas/core/raw-packs.js';
import { seededRandom } from './webmail-data.js';

/** The boundary the worked month splits mail at: S3's 128 KB minimum for Glacier IR. */
export const LARGE_BYTES = 128 * 1024;

export interface PackRatioClass {
  messages: number;
  rawBytes: number;
  packedBytes: number;
  /** packedBytes ÷ rawBytes, to three decimals. */
  ratio: number;
}

export interface PackRatios {
  small: PackRatioClass;
  large: PackRatioClass;
}

/** Packs every message of `raws` as its own member and sums each size class. */
export function measurePackRatios(raws: readonly Buffer[]): PackRatios {
  const tally = () => ({ messages: 0, rawBytes: 0, packedBytes: 0, ratio: 0 });
  const out: PackRatios = { small: tally(), large: tally() };
  for (const raw of raws) {
    const c = raw.length >= LARGE_BYTES ? out.large : out.small;
    c.messages += 1;
    c.rawBytes += raw.length;
    c.packedBytes += packMember(raw).length;
  }
  for (const c of [out.small, out.large]) {
    c.ratio = c.rawBytes ? Math.round((c.packedBytes / c.rawBytes) * 1000) / 1000 : 1;
  }
  return out;
}

/**
 * Bytes of already-compressed attachment in the stand-in for large mail: what makes a message
 * 128 KB or more in real mail is a JPEG, a PDF or an Office file (a zip), whose bytes gzip does not
 * shrink; only their base64 (4 characters for 3 bytes) and the text around them do.
 */
const ATTACHMENT_BYTES = 300 * 1024;

/** `n` bytes from the benchmarks' seeded generator, so the stand-in is the same bytes every run. */
function pseudoRandomBytes(n: number, seed: number): Buffer {
  const random = seededRandom(seed);
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(random() * 256);
  return out;
}

/**
 * Large mail as real mail has it: a text body and one attachment of incompressible
 * bytes (a stand-in for a JPEG, a PDF or an Office file), base64 in lines of 76 as mail clients send
 * it. The corpus's own large messages are parser test cases, mostly text, which pack far better
 * than attachments do.
 */
export function attachmentMessage(body: Buffer, seed = 1): Buffer {
  const base64 = pseudoRandomBytes(ATTACHMENT_BYTES, seed).toString('base64').replace(/.{76}/g, '$&\r\n');
  const text = body.toString('latin1');
  return Buffer.from(
    [
      'From: Sender <sender@example.com>',
      'To: Recipient <recipient@example.com>',
      'Subject: The report, attached',
      'Date: Thu, 03 Dec 2026 12:00:00 +0000',
      'Message-ID: <attachment-stand-in@example.com>',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/plain; charset=utf-8',
      '',
      text,
      '--b1',
      'Content-Type: application/pdf; name="report.pdf"',
      'Content-Disposition: attachment; filename="report.pdf"',
      'Content-Transfer-Encoding: base64',
      '',
      base64,
      '--b1--',
      '',
    ].join('\r\n'),
    'latin1',
  );
}

/**
 * The packed ratio of large mail with real attachments: each of `bodies` (small corpus messages,
 * standing in for the text around an attachment) sent with an incompressible attachment, packed as
 * the packer packs it.
 */
export function measureAttachmentPackRatio(bodies: readonly Buffer[]): PackRatioClass {
  const c: PackRatioClass = { messages: 0, rawBytes: 0, packedBytes: 0, ratio: 0 };
  bodies.forEach((body, i) => {
    const raw = attachmentMessage(body, i + 1);
    c.messages += 1;
    c.rawBytes += raw.length;
    c.packedBytes += packMember(raw).length;
  });
  c.ratio = c.rawBytes ? Math.round((c.packedBytes / c.rawBytes) * 1000) / 1000 : 1;
  return c;
}
