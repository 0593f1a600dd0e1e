import MiniSearch, { type Options } from 'minisearch';
import type { BlobStore } from '../../ports.js';
import { indexKey } from '../../storage-layout.js';
import { NotFoundError } from '../errors.js';
import type { MessageRecord } from '../model.js';
import { normaliseText } from './query.js';

/**
 * Characters of body text indexed per message. Every search reads the whole mailbox index, so
 * its size is the cost of a search; past the first 32 K characters (about 5,000 words) is
 * quoted history and signatures, rarely what anyone looks for.
 */
export const MAX_INDEXED_TEXT_CHARS = 32 * 1024;

/** The blob format; a blob of another format is rebuilt rather than misread. */
export const INDEX_FORMAT = 1;

/**
 * The text a quoted phrase is matched against: every searched field, normalised, a NUL between
 * fields so a phrase never matches across two of them.
 */
export function phraseTextOf(
  doc: Pick<IndexDoc, 'subject' | 'from' | 'to' | 'cc' | 'attachments' | 'text'>,
): string {
  return normaliseText([doc.subject, doc.from, doc.to, doc.cc, doc.attachments, doc.text].join(' \u0000 '));
}

/** What the index holds of one message: the fields searched and those filters read back. */
export interface IndexDoc {
  id: string;
  receivedAt: string;
  subject: string;
  from: string;
  to: string;
  cc: string;
  text: string;
  attachments: string;
  hasAttachment: boolean;
}

/** Fields searched by free words (MiniSearch tokenises on spaces and punctuation, `@` and `.` included). */
export const SEARCH_FIELDS = ['subject', 'from', 'to', 'cc', 'text', 'attachments'] as const;

/**
 * Stored with each entry: the filters (`from:`, dates) are applied to these. The body is not
 * stored (it would double the blob); a quoted phrase is checked on the raw message of each hit
 * shown instead.
 */
const STORED_FIELDS = ['receivedAt', 'from', 'to', 'cc', 'subject', 'hasAttachment'] as const;

/** The index's options, the same when it is built and when it is loaded. */
export const INDEX_OPTIONS: Options<IndexDoc> = {
  idField: 'id',
  fields: [...SEARCH_FIELDS],
  storeFields: [...STORED_FIELDS],
};

/** The values filters read back for one hit. */
export interface StoredFields {
  receivedAt: string;
  from: string;
  to: string;
  cc: string;
  subject: string;
  hasAttachment: boolean;
}

/** One mailbox's index, in memory: MiniSearch plus each message's arrival, for pruning. */
export interface MailboxIndex {
  address: string;
  search: MiniSearch<IndexDoc>;
  /** Message id → receivedAt of every message in the index. */
  received: Map<string, string>;
}

/** The index of a message: its record's headers and the text and attachment names parsed from it. */
export function indexDocOf(
  message: MessageRecord,
  body: { text: string | null; attachmentNames: readonly string[] },
): IndexDoc {
  return {
    id: message.id,
    receivedAt: message.receivedAt,
    subject: message.subject ?? '',
    from: message.from ?? '',
    to: message.to.join(' '),
    cc: message.cc.join(' '),
    text: (body.text ?? message.snippet).slice(0, MAX_INDEXED_TEXT_CHARS),
    attachments: body.attachmentNames.join(' '),
    hasAttachment: message.attachments.length > 0 || body.attachmentNames.length > 0,
  };
}

export function emptyIndex(address: string): MailboxIndex {
  return { address, search: new MiniSearch(INDEX_OPTIONS), received: new Map() };
}

/** Adds or replaces messages in the index, and drops those received before `since`. */
export function applyDocs(index: MailboxIndex, docs: readonly IndexDoc[], since: string): void {
  for (const doc of docs) {
    if (index.received.has(doc.id)) index.search.replace(doc);
    else index.search.add(doc);
    index.received.set(doc.id, doc.receivedAt);
  }
  for (const [id, receivedAt] of index.received) {
    if (receivedAt < since) {
      index.search.discard(id);
      index.received.delete(id);
    }
  }
}

/** The blob: the format, the mailbox, MiniSearch's own JSON and the arrivals. */
interface IndexBlob {
  format: number;
  address: string;
  received: Record<string, string>;
  index: unknown;
}

export function serialiseIndex(index: MailboxIndex): Buffer {
  const blob: IndexBlob = {
    format: INDEX_FORMAT,
    address: index.address,
    received: Object.fromEntries(index.received),
    index: index.search.toJSON(),
  };
  return Buffer.from(JSON.stringify(blob));
}

/**
 * The mailbox's index from its blob; an empty one when there is none yet. A blob of another
 * format or another mailbox is treated as absent (the next rebuild replaces it).
 */
export async function loadIndex(indexBlobs: BlobStore, address: string): Promise<MailboxIndex> {
  let bytes: Buffer;
  try {
    bytes = await indexBlobs.getRaw(indexKey(address));
  } catch (err) {
    if (err instanceof NotFoundError) return emptyIndex(address);
    throw err;
  }
  const blob = JSON.parse(bytes.toString('utf8')) as IndexBlob;
  if (blob.format !== INDEX_FORMAT || blob.address !== address) return emptyIndex(address);
  return {
    address,
    search: MiniSearch.loadJSON(JSON.stringify(blob.index), INDEX_OPTIONS),
    received: new Map(Object.entries(blob.received)),
  };
}

export async function saveIndex(indexBlobs: BlobStore, index: MailboxIndex): Promise<number> {
  const bytes = serialiseIndex(index);
  await indexBlobs.putRaw(indexKey(index.address), bytes);
  return bytes.length;
}

/**
 * Loaded indexes kept in memory, most recently used last. The writer puts each index it saves
 * here, so in one process (the local runtime) a search never reads a stale blob. Processes that
 * do not share it (AWS: the indexer and the webmail function) must not share a cache either.
 */
export interface IndexCache {
  get(address: string): MailboxIndex | undefined;
  set(index: MailboxIndex): void;
  delete(address: string): void;
}

/** Mailboxes kept loaded at once by default: a few hundred MB at 100,000 messages each is the ceiling. */
export const DEFAULT_CACHED_MAILBOXES = 16;

export function createIndexCache(max = DEFAULT_CACHED_MAILBOXES): IndexCache {
  const entries = new Map<string, MailboxIndex>();
  return {
    get(address) {
      const index = entries.get(address);
      if (index) {
        entries.delete(address);
        entries.set(address, index);
      }
      return index;
    },
    set(index) {
      entries.delete(index.address);
      entries.set(index.address, index);
      while (entries.size > max) entries.delete(entries.keys().next().value as string);
    },
    delete(address) {
      entries.delete(address);
    },
  };
}
