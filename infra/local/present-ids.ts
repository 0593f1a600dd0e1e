import { createReadStream } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { normaliseMessageId } from '../../lambdas/console/replay.js';

/**
 * Bytes read from the start of a message file to find its header block: headers of real mail
 * run to a few kilobytes (long Received chains, DKIM signatures, ARC sets), well under this.
 */
export const HEADER_READ_BYTES = 256 * 1024;

/** What an export says of one message: its Message-ID and Date, when it has them. */
interface Found {
  messageId: string | null;
  date: string | null;
}

/** Message-ID and Date of a header block (unfolded). */
function headersOf(block: string): Found {
  let messageId: string | null = null;
  let date: string | null = null;
  let current = '';
  const take = (line: string) => {
    const colon = line.indexOf(':');
    if (colon <= 0) return;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'message-id' && messageId === null) messageId = value.match(/<[^>]+>/)?.[0] ?? value;
    if (name === 'date' && date === null) date = value;
  };
  for (const line of block.split(/\r?\n/)) {
    if (/^[ \t]/.test(line)) current += ` ${line.trim()}`;
    else {
      take(current);
      current = line;
    }
  }
  take(current);
  return { messageId, date };
}

async function readHeaderBlock(file: string): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const buf = Buffer.alloc(HEADER_READ_BYTES);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    const text = buf.subarray(0, bytesRead).toString('latin1');
    const end = text.search(/\r?\n\r?\n/);
    return end < 0 ? text : text.slice(0, end);
  } finally {
    await handle.close();
  }
}

/** Every message of an mbox file (`From ` separated), header blocks only, read as a stream. */
async function* mboxHeaders(file: string): AsyncGenerator<string> {
  const lines = createInterface({
    input: createReadStream(file, { encoding: 'latin1' }),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  let block: string[] | null = null;
  let inHeaders = false;
  let previousBlank = true;
  for await (const line of lines) {
    if (previousBlank && line.startsWith('From ')) {
      if (block) yield block.join('\n');
      block = [];
      inHeaders = true;
    } else if (inHeaders) {
      if (line === '') inHeaders = false;
      else block?.push(line);
    }
    previousBlank = line === '';
  }
  if (block) yield block.join('\n');
}

async function isMbox(file: string): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const buf = Buffer.alloc(5);
    await handle.read(buf, 0, 5, 0);
    return buf.toString('latin1') === 'From ';
  } finally {
    await handle.close();
  }
}

/**
 * Message files of a folder: a Maildir's (and Maildir++ subfolders') `cur/` and `new/`, never
 * `tmp/` (messages still being written), or any `.eml` file, at any depth.
 */
async function* messageFiles(dir: string): AsyncGenerator<string> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name === 'tmp') continue;
      yield* messageFiles(full);
    } else if (entry.isFile()) {
      const parent = path.basename(dir);
      if (parent === 'cur' || parent === 'new' || /\.eml$/i.test(entry.name)) yield full;
      else if (await isMbox(full)) yield `mbox:${full}`;
    }
  }
}

export interface PresentIdsOptions {
  /** Only messages whose Date is at or after this instant (those without a Date are kept). */
  since?: Date | undefined;
}

/**
 * The Message-IDs present in an export of the restored primary (a Maildir, an mbox file, or a
 * folder of .eml files, at any depth), each once, normalised as the replay compares them
 * (`<local@domain>`, the domain in lower case), in the order found. What
 * `lifeboat replay present-ids` prints for `replay start --skip-ids`.
 */
export async function presentIds(source: string, options: PresentIdsOptions = {}): Promise<string[]> {
  const ids = new Set<string>();
  const since = options.since?.getTime();
  const keep = (found: Found) => {
    if (!found.messageId) return;
    if (since !== undefined && found.date) {
      const at = Date.parse(found.date);
      if (!Number.isNaN(at) && at < since) return;
    }
    const id = normaliseMessageId(found.messageId);
    if (id) ids.add(`<${id}>`);
  };
  const fromFile = async (file: string) => {
    if (file.startsWith('mbox:') || (await isMbox(file))) {
      for await (const block of mboxHeaders(file.replace(/^mbox:/, ''))) keep(headersOf(block));
    } else {
      keep(headersOf(await readHeaderBlock(file)));
    }
  };
  if ((await stat(source)).isDirectory()) {
    for await (const file of messageFiles(source)) await fromFile(file);
  } else {
    await fromFile(source);
  }
  return [...ids];
}
