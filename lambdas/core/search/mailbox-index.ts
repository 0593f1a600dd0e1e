import MiniSearch from 'minisearch';
import type { BlobStore } from '../../ports.js';
import { indexKey, indexSegmentKey } from '../../storage-layout.js';
import { NotFoundError } from '../errors.js';
import type { MessageRecord } from '../model.js';
import { normaliseText } from './query.js';

/**
 * Characters of body text indexed per message: past the first 32 K characters (about 5,000
 * words) is quoted history and signatures, rarely what anyone looks for, and every word
 * indexed is bytes a cold search reads.
 */
export const MAX_INDEXED_TEXT_CHARS = 32 * 1024;

/** The manifest format; a manifest of another format is rebuilt rather than misread. */
export const INDEX_FORMAT = 3;

/**
 * Messages per segment before the writer opens a new one. A write rewrites the segments it
 * touches (new mail: only the newest), and a search that fills its page from the newest
 * messages reads only the newest segments; a search that must look at every message reads them
 * all. Two thousand keeps a segment around a megabyte and a fraction of a millisecond per
 * thousand messages to open, so both the write and the worst search stay small at 100,000.
 */
export const SEGMENT_MESSAGES = 2_000;

/** First bytes of a segment blob; anything else is not read as one. */
const SEGMENT_MAGIC = 'LBX3';

/**
 * The text a quoted phrase is matched against: every searched field, normalised, a NUL between
 * fields so a phrase never matches across two of them.
 */
export function phraseTextOf(
  doc: Pick<IndexDoc, 'subject' | 'from' | 'to' | 'cc' | 'attachments' | 'text'>,
): string {
  return normaliseText([doc.subject, doc.from, doc.to, doc.cc, doc.attachments, doc.text].join(' \u0000 '));
}

/** What the index is given of one message: the fields searched and those filters read back. */
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

/** Fields searched by free words, split into words as MiniSearch splits them (`@` and `.` split too). */
export const SEARCH_FIELDS = ['subject', 'from', 'to', 'cc', 'text', 'attachments'] as const;
export type SearchField = (typeof SEARCH_FIELDS)[number];

/**
 * Kept with each entry: the filters (`from:`, dates) are applied to these. The body is not
 * kept (it would double the index); a quoted phrase is checked on the raw message of each hit
 * shown instead.
 */
export interface StoredFields {
  receivedAt: string;
  from: string;
  to: string;
  cc: string;
  subject: string;
  hasAttachment: boolean;
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

const tokenize = MiniSearch.getDefault('tokenize') as (text: string) => string[];
const processTerm = MiniSearch.getDefault('processTerm') as (term: string) => string;

/** The words of a text as the index keeps them (MiniSearch's tokenizer: lower case, split on spaces and punctuation). */
export function termsOf(text: string): string[] {
  const out: string[] = [];
  for (const token of tokenize(text)) {
    const term = processTerm(token);
    if (term) out.push(term);
  }
  return out;
}

/** Order of the mailbox: received time, then message id (the byMailbox key). */
export const positionKey = (receivedAt: string, id: string) => `${receivedAt}#${id}`;

/** One entry of a segment, as the writer handles it: stored fields and each field's distinct words. */
export interface SegmentDoc extends StoredFields {
  id: string;
  /** Distinct words of each field, in SEARCH_FIELDS order. */
  terms: string[][];
}

export function segmentDocOf(doc: IndexDoc): SegmentDoc {
  return {
    id: doc.id,
    receivedAt: doc.receivedAt,
    from: doc.from,
    to: doc.to,
    cc: doc.cc,
    subject: doc.subject,
    hasAttachment: doc.hasAttachment,
    terms: SEARCH_FIELDS.map((f) => [...new Set(termsOf(doc[f]))]),
  };
}

/** A segment's stored fields, column by column (JSON, read only when a hit needs them). */
interface SegmentColumns {
  ids: string[];
  received: string[];
  from: string[];
  to: string[];
  cc: string[];
  subject: string[];
  /** '1' where the entry has an attachment, '0' where not. */
  attachment: string;
}

/** Where one field's parts lie in the body. */
interface FieldLayout {
  /** How many distinct words. */
  words: number;
  /** (words + 1) u32 offsets into the word bytes, then the word bytes (UTF-8, in byte order). */
  wordsAt: number;
  /** (words + 1) u32 offsets into the postings, then the postings (varint ordinal gaps). */
  postingsAt: number;
}

/** The small JSON at the head of a segment blob: all a query needs before it looks up a word. */
interface SegmentMeta {
  name: string;
  version: number;
  count: number;
  fields: FieldLayout[];
  columns: { at: number; length: number };
}

/**
 * A segment as read: entries in mailbox order (ordinal 0 the oldest). Opening one parses only a
 * few hundred bytes of JSON; a word is found by binary search over the sorted word bytes, its
 * postings decoded from the blob, and the stored fields parsed only when a hit needs them. A
 * cold search that matches nothing therefore costs little more than reading the blobs.
 */
export class Segment {
  private stored: SegmentColumns | undefined;
  constructor(
    readonly meta: SegmentMeta,
    readonly body: Buffer,
    readonly bytes: number,
  ) {}
  get name() {
    return this.meta.name;
  }
  get version() {
    return this.meta.version;
  }
  get count() {
    return this.meta.count;
  }
  /** The stored fields, parsed on first use. */
  columns(): SegmentColumns {
    this.stored ??= JSON.parse(
      this.body.toString('utf8', this.meta.columns.at, this.meta.columns.at + this.meta.columns.length),
    ) as SegmentColumns;
    return this.stored;
  }
  get ids() {
    return this.columns().ids;
  }
  get received() {
    return this.columns().received;
  }
  get from() {
    return this.columns().from;
  }
  get to() {
    return this.columns().to;
  }
  get cc() {
    return this.columns().cc;
  }
  get subject() {
    return this.columns().subject;
  }
  get attachment() {
    return this.columns().attachment;
  }
}

/** Growable byte buffer with LEB128 varints: postings are ordinal gaps, one or two bytes each. */
class ByteWriter {
  buf = Buffer.allocUnsafe(1024);
  length = 0;
  private room(n: number) {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  varint(value: number) {
    this.room(5);
    let v = value;
    while (v >= 0x80) {
      this.buf[this.length++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.length++] = v;
  }
  u32(value: number) {
    this.room(4);
    this.buf.writeUInt32LE(value, this.length);
    this.length += 4;
  }
  write(bytes: Buffer) {
    this.room(bytes.length);
    bytes.copy(this.buf, this.length);
    this.length += bytes.length;
  }
  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

/** An offset table and the items it points into. */
function writeTable(body: ByteWriter, items: readonly Buffer[]): void {
  let offset = 0;
  for (const item of items) {
    body.u32(offset);
    offset += item.length;
  }
  body.u32(offset);
  for (const item of items) body.write(item);
}

/** A segment blob: magic, meta length, meta JSON, then per field its words and postings, then the stored fields. */
export function encodeSegment(name: string, version: number, docs: readonly SegmentDoc[]): Buffer {
  const sorted = [...docs].sort((a, b) => {
    const x = positionKey(a.receivedAt, a.id);
    const y = positionKey(b.receivedAt, b.id);
    return x < y ? -1 : x > y ? 1 : 0;
  });
  const body = new ByteWriter();
  const fields: FieldLayout[] = [];
  for (let f = 0; f < SEARCH_FIELDS.length; f++) {
    const postings = new Map<string, number[]>();
    sorted.forEach((doc, ordinal) => {
      for (const term of doc.terms[f] ?? []) {
        const list = postings.get(term);
        if (list) list.push(ordinal);
        else postings.set(term, [ordinal]);
      }
    });
    const words = [...postings.keys()].map((w) => ({ w, bytes: Buffer.from(w, 'utf8') }));
    words.sort((a, b) => Buffer.compare(a.bytes, b.bytes));
    const lists = new ByteWriter();
    const offsets: number[] = [];
    for (const { w } of words) {
      offsets.push(lists.length);
      let previous = -1;
      for (const ordinal of postings.get(w) as number[]) {
        lists.varint(ordinal - previous - 1);
        previous = ordinal;
      }
    }
    offsets.push(lists.length);
    const wordsAt = body.length;
    writeTable(
      body,
      words.map((x) => x.bytes),
    );
    const postingsAt = body.length;
    for (const o of offsets) body.u32(o);
    body.write(lists.bytes());
    fields.push({ words: words.length, wordsAt, postingsAt });
  }
  const columns: SegmentColumns = {
    ids: sorted.map((d) => d.id),
    received: sorted.map((d) => d.receivedAt),
    from: sorted.map((d) => d.from),
    to: sorted.map((d) => d.to),
    cc: sorted.map((d) => d.cc),
    subject: sorted.map((d) => d.subject),
    attachment: sorted.map((d) => (d.hasAttachment ? '1' : '0')).join(''),
  };
  const columnBytes = Buffer.from(JSON.stringify(columns));
  const meta: SegmentMeta = {
    name,
    version,
    count: sorted.length,
    fields,
    columns: { at: body.length, length: columnBytes.length },
  };
  body.write(columnBytes);
  const json = Buffer.from(JSON.stringify(meta));
  const prefix = Buffer.alloc(8);
  prefix.write(SEGMENT_MAGIC, 0, 'latin1');
  prefix.writeUInt32LE(json.length, 4);
  return Buffer.concat([prefix, json, body.bytes()]);
}

/** Reads a segment blob; undefined for anything that is not one (a damaged or foreign blob). */
export function decodeSegment(bytes: Buffer): Segment | undefined {
  if (bytes.length < 8 || bytes.toString('latin1', 0, 4) !== SEGMENT_MAGIC) return undefined;
  const metaLength = bytes.readUInt32LE(4);
  try {
    const meta = JSON.parse(bytes.toString('utf8', 8, 8 + metaLength)) as SegmentMeta;
    if (meta.fields?.length !== SEARCH_FIELDS.length) return undefined;
    return new Segment(meta, bytes.subarray(8 + metaLength), bytes.length);
  } catch {
    return undefined;
  }
}

/** The bytes of word number `i` of a field. */
function wordAt(segment: Segment, layout: FieldLayout, i: number): [number, number] {
  const table = layout.wordsAt;
  const base = table + (layout.words + 1) * 4;
  return [
    base + segment.body.readUInt32LE(table + i * 4),
    base + segment.body.readUInt32LE(table + (i + 1) * 4),
  ];
}

/** First word number whose bytes are not below `term`. */
function lowerBound(segment: Segment, layout: FieldLayout, term: Buffer): number {
  let lo = 0;
  let hi = layout.words;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const [start, end] = wordAt(segment, layout, mid);
    if (segment.body.compare(term, 0, term.length, start, end) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Calls `each` with every ordinal holding the field's word number `i`, in order. */
function forEachPosting(
  segment: Segment,
  layout: FieldLayout,
  i: number,
  each: (ordinal: number) => void,
): void {
  const table = layout.postingsAt;
  const base = table + (layout.words + 1) * 4;
  const body = segment.body;
  let p = base + body.readUInt32LE(table + i * 4);
  const end = base + body.readUInt32LE(table + (i + 1) * 4);
  let ordinal = -1;
  while (p < end) {
    let gap = 0;
    let shift = 0;
    let byte: number;
    do {
      byte = body[p++] as number;
      gap |= (byte & 0x7f) << shift;
      shift += 7;
    } while (byte & 0x80);
    ordinal += gap + 1;
    each(ordinal);
  }
}

/** Marks in `out` every ordinal holding the field's word number `i`. */
function markPostings(segment: Segment, layout: FieldLayout, i: number, out: Uint8Array): void {
  forEachPosting(segment, layout, i, (ordinal) => {
    out[ordinal] = 1;
  });
}

/** Marks the entries holding `term` in field `f`, whole or (with `prefix`) as a word's start. */
function markTerm(segment: Segment, f: number, term: string, prefix: boolean, out: Uint8Array): void {
  const layout = segment.meta.fields[f] as FieldLayout;
  const target = Buffer.from(term, 'utf8');
  for (let i = lowerBound(segment, layout, target); i < layout.words; i++) {
    const [start, end] = wordAt(segment, layout, i);
    const exact =
      end - start === target.length && segment.body.compare(target, 0, target.length, start, end) === 0;
    const starts =
      prefix &&
      end - start >= target.length &&
      segment.body.compare(target, 0, target.length, start, start + target.length) === 0;
    if (!exact && !starts) break;
    markPostings(segment, layout, i, out);
    if (!prefix) break;
  }
}

/**
 * One part of a query: every word of `text` must be in one of `fields`, whole or (with
 * `prefix`) as the start of a word. A part with no words in it matches nothing.
 */
export interface TermQuery {
  text: string;
  fields: readonly SearchField[];
  prefix: boolean;
}

/**
 * The entries of a segment matching every part (AND), as marks by ordinal; every entry when
 * there are no parts.
 */
export function matchSegment(segment: Segment, parts: readonly TermQuery[]): Uint8Array {
  const n = segment.count;
  let result: Uint8Array | undefined;
  const and = (marks: Uint8Array) => {
    if (result) {
      const kept = result;
      for (let i = 0; i < n; i++) kept[i] = (kept[i] as number) & (marks[i] as number);
    } else result = marks;
  };
  for (const part of parts) {
    const terms = termsOf(part.text);
    if (terms.length === 0) return new Uint8Array(n);
    for (const term of terms) {
      const marks = new Uint8Array(n);
      for (const name of part.fields)
        markTerm(segment, SEARCH_FIELDS.indexOf(name), term, part.prefix, marks);
      and(marks);
    }
  }
  return result ?? new Uint8Array(n).fill(1);
}

/** The entries of a segment for the writer to change: the inverse of encodeSegment. */
export function segmentDocs(segment: Segment): Map<string, SegmentDoc> {
  const c = segment.columns();
  const docs = c.ids.map(
    (id, i): SegmentDoc => ({
      id,
      receivedAt: c.received[i] as string,
      from: c.from[i] as string,
      to: c.to[i] as string,
      cc: c.cc[i] as string,
      subject: c.subject[i] as string,
      hasAttachment: c.attachment[i] === '1',
      terms: SEARCH_FIELDS.map(() => []),
    }),
  );
  for (let f = 0; f < SEARCH_FIELDS.length; f++) {
    const layout = segment.meta.fields[f] as FieldLayout;
    for (let w = 0; w < layout.words; w++) {
      const [start, end] = wordAt(segment, layout, w);
      const word = segment.body.toString('utf8', start, end);
      forEachPosting(segment, layout, w, (ordinal) => {
        (docs[ordinal] as SegmentDoc).terms[f]?.push(word);
      });
    }
  }
  return new Map(docs.map((d) => [d.id, d]));
}

/** One segment as the manifest lists it. Segments cover disjoint key ranges: (previous `last`, `last`]. */
export interface SegmentRef {
  name: string;
  /** The manifest version it was last written at: a cached copy of another version is stale. */
  version: number;
  count: number;
  /** Lowest and highest key (`receivedAt#id`) it holds. */
  first: string;
  last: string;
  bytes: number;
}

/** The mailbox's index blob: its segments, oldest first. */
export interface IndexManifest {
  format: number;
  address: string;
  /** Raised by every write; each segment written is stamped with it. */
  version: number;
  /** Number of the next segment created (segment names never repeat within a mailbox). */
  nextSegment: number;
  segments: SegmentRef[];
}

/** One mailbox's index in memory: its manifest and the segments read so far. */
export interface MailboxIndex {
  address: string;
  manifest: IndexManifest;
  /** Segments read, by name; only those of the manifest's version are used. */
  loaded: Map<string, Segment>;
}

export function emptyIndex(address: string): MailboxIndex {
  return {
    address,
    manifest: { format: INDEX_FORMAT, address, version: 0, nextSegment: 0, segments: [] },
    loaded: new Map(),
  };
}

/** The manifest blob; undefined when there is none, or it is of another format or mailbox. */
async function readManifest(indexBlobs: BlobStore, address: string): Promise<IndexManifest | undefined> {
  let bytes: Buffer;
  try {
    bytes = await indexBlobs.getRaw(indexKey(address));
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
  try {
    const manifest = JSON.parse(bytes.toString('utf8')) as IndexManifest;
    return manifest.format === INDEX_FORMAT && manifest.address === address ? manifest : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The mailbox's index as its blob now stands: the manifest is read every time (one small
 * read), the segments of `cached` that are still current are kept, the others are read when a
 * search or write needs them. So a copy kept by a process that does not write (a warm webmail
 * Lambda) is never stale. No manifest, or one of another format or mailbox, is an empty index
 * (the next rebuild replaces it).
 */
export async function loadIndex(
  indexBlobs: BlobStore,
  address: string,
  cached?: MailboxIndex,
): Promise<MailboxIndex> {
  const manifest = (await readManifest(indexBlobs, address)) ?? emptyIndex(address).manifest;
  const loaded = new Map<string, Segment>();
  for (const ref of manifest.segments) {
    const segment = cached?.loaded.get(ref.name);
    if (segment && segment.version === ref.version) loaded.set(ref.name, segment);
  }
  return { address, manifest, loaded };
}

/** A segment of the index, from memory or its blob. A missing or unreadable segment reads as empty. */
export async function loadSegment(
  indexBlobs: BlobStore,
  index: MailboxIndex,
  ref: SegmentRef,
): Promise<{ segment: Segment; read: boolean }> {
  const kept = index.loaded.get(ref.name);
  if (kept) return { segment: kept, read: false };
  let bytes: Buffer | undefined;
  try {
    bytes = await indexBlobs.getRaw(indexSegmentKey(index.address, ref.name));
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
  }
  const segment =
    (bytes && decodeSegment(bytes)) ?? (decodeSegment(encodeSegment(ref.name, ref.version, [])) as Segment);
  index.loaded.set(ref.name, segment);
  return { segment, read: true };
}

/** Every message id in the index (reads every segment): for tests and the rebuild's count. */
export async function indexedIds(indexBlobs: BlobStore, index: MailboxIndex): Promise<string[]> {
  const ids: string[] = [];
  for (const ref of index.manifest.segments) {
    ids.push(...(await loadSegment(indexBlobs, index, ref)).segment.ids);
  }
  return ids;
}

/** What one write did, for the log. */
export interface WriteOutcome {
  /** Bytes of the segments and the manifest written. */
  bytes: number;
  segmentsWritten: number;
  documents: number;
}

/**
 * Adds or replaces messages in the index and writes what changed: each segment a message falls
 * in (new mail: the newest segment; a new one once it holds SEGMENT_MESSAGES), then the
 * manifest, which is what makes the new segments the index. Segments wholly before `since`
 * leave the index; a segment being written anyway drops its entries from before `since`.
 *
 * A message goes to the oldest segment whose `last` is at or after it, else the newest (so the
 * ranges stay disjoint and a search can stop at the first segment older than its page).
 */
export async function applyDocs(
  indexBlobs: BlobStore,
  index: MailboxIndex,
  docs: readonly IndexDoc[],
  since: string,
  segmentMessages = SEGMENT_MESSAGES,
): Promise<WriteOutcome> {
  const manifest: IndexManifest = {
    ...index.manifest,
    version: index.manifest.version + 1,
    segments: index.manifest.segments.map((s) => ({ ...s })),
  };
  const dropped = manifest.segments.filter((s) => s.last < since);
  manifest.segments = manifest.segments.filter((s) => s.last >= since);

  const byKey = [...docs].sort((a, b) => {
    const x = positionKey(a.receivedAt, a.id);
    const y = positionKey(b.receivedAt, b.id);
    return x < y ? -1 : x > y ? 1 : 0;
  });
  const changes = new Map<string, IndexDoc[]>();
  for (const doc of byKey) {
    const key = positionKey(doc.receivedAt, doc.id);
    if (doc.receivedAt < since) continue;
    let ref = manifest.segments.find((s) => key <= s.last);
    if (!ref) {
      const newest = manifest.segments.at(-1);
      if (newest && newest.count < segmentMessages) ref = newest;
      else {
        ref = { name: `s${manifest.nextSegment++}`, version: 0, count: 0, first: key, last: key, bytes: 0 };
        manifest.segments.push(ref);
      }
    }
    if (key < ref.first) ref.first = key;
    if (key > ref.last) ref.last = key;
    ref.count++;
    const list = changes.get(ref.name);
    if (list) list.push(doc);
    else changes.set(ref.name, [doc]);
  }

  let bytes = 0;
  const written = new Map<string, Segment>();
  for (const ref of manifest.segments) {
    const add = changes.get(ref.name);
    if (!add) continue;
    const existing = ref.version === 0 ? undefined : (await loadSegment(indexBlobs, index, ref)).segment;
    const entries = existing ? segmentDocs(existing) : new Map<string, SegmentDoc>();
    for (const doc of add) entries.set(doc.id, segmentDocOf(doc));
    for (const [id, doc] of entries) if (doc.receivedAt < since) entries.delete(id);
    const blob = encodeSegment(ref.name, manifest.version, [...entries.values()]);
    await indexBlobs.putRaw(indexSegmentKey(index.address, ref.name), blob);
    bytes += blob.length;
    const segment = decodeSegment(blob) as Segment;
    written.set(ref.name, segment);
    Object.assign(ref, {
      version: manifest.version,
      count: segment.ids.length,
      first: segment.ids.length
        ? positionKey(segment.received[0] as string, segment.ids[0] as string)
        : ref.first,
      last: segment.ids.length
        ? positionKey(segment.received.at(-1) as string, segment.ids.at(-1) as string)
        : ref.last,
      bytes: blob.length,
    });
  }
  manifest.segments = manifest.segments.filter((s) => s.count > 0);
  const manifestBlob = Buffer.from(JSON.stringify(manifest));
  await indexBlobs.putRaw(indexKey(index.address), manifestBlob);
  bytes += manifestBlob.length;
  // A segment that left the index is emptied, so its space is given back (the blob store has no delete).
  for (const ref of dropped)
    await indexBlobs.putRaw(indexSegmentKey(index.address, ref.name), Buffer.alloc(0));

  index.manifest = manifest;
  for (const name of [...index.loaded.keys()]) {
    if (!manifest.segments.some((s) => s.name === name)) index.loaded.delete(name);
  }
  for (const [name, segment] of written) index.loaded.set(name, segment);
  return {
    bytes,
    segmentsWritten: written.size,
    documents: manifest.segments.reduce((n, s) => n + s.count, 0),
  };
}

/**
 * Writes a whole index from messages given newest first (the rebuild): a segment is written as
 * soon as it is full, so the messages of only one segment are in memory at once; the manifest
 * last. Replaces whatever index the mailbox had.
 */
export function createIndexBuilder(
  indexBlobs: BlobStore,
  address: string,
  previous: IndexManifest,
  segmentMessages = SEGMENT_MESSAGES,
) {
  const version = previous.version + 1;
  let next = previous.nextSegment;
  const refs: SegmentRef[] = [];
  let pending: SegmentDoc[] = [];
  const seen = new Set<string>();
  async function flush(): Promise<void> {
    if (pending.length === 0) return;
    const name = `s${next++}`;
    const blob = encodeSegment(name, version, pending);
    await indexBlobs.putRaw(indexSegmentKey(address, name), blob);
    const segment = decodeSegment(blob) as Segment;
    refs.unshift({
      name,
      version,
      count: segment.ids.length,
      first: positionKey(segment.received[0] as string, segment.ids[0] as string),
      last: positionKey(segment.received.at(-1) as string, segment.ids.at(-1) as string),
      bytes: blob.length,
    });
    pending = [];
  }
  return {
    /** Adds messages older than (or as old as) every one added before. */
    async add(docs: readonly IndexDoc[]): Promise<void> {
      for (const doc of docs) {
        if (seen.has(doc.id)) continue;
        seen.add(doc.id);
        pending.push(segmentDocOf(doc));
        if (pending.length >= segmentMessages) await flush();
      }
    },
    /** Writes the last segment and the manifest; returns the new index. */
    async finish(): Promise<MailboxIndex> {
      await flush();
      const manifest: IndexManifest = {
        format: INDEX_FORMAT,
        address,
        version,
        nextSegment: next,
        segments: refs,
      };
      await indexBlobs.putRaw(indexKey(address), Buffer.from(JSON.stringify(manifest)));
      const stale = previous.segments.filter((s) => !refs.some((r) => r.name === s.name));
      for (const ref of stale) await indexBlobs.putRaw(indexSegmentKey(address, ref.name), Buffer.alloc(0));
      return { address, manifest, loaded: new Map() };
    },
  };
}

/**
 * Loaded indexes kept in memory, most recently used last. Every use re-reads the manifest and
 * keeps only the segments still current, so processes that do not share a writer (AWS: the
 * indexer and the webmail function) may each keep one.
 */
export interface IndexCache {
  get(address: string): MailboxIndex | undefined;
  set(index: MailboxIndex): void;
  delete(address: string): void;
}

/** Mailboxes kept loaded at once by default: tens of MB at 100,000 messages each is the ceiling. */
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
