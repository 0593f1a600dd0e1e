import type { ContinuityEvent, OrgState } from '../../lambdas/core/continuity.js';
import { ConflictError, NotFoundError, ValidationError } from '../../lambdas/core/errors.js';
import { type DeliveryRecord, deliveryStates, type MessageRecord } from '../../lambdas/core/model.js';
import { parsePackIndex, storedInIndex, unpackMember } from '../../lambdas/core/raw-packs.js';
import type {
  AttemptSample,
  AuditEntry,
  AuditQuery,
  BlobStore,
  Clock,
  ContinuityStore,
  DeliveryAttempt,
  DeliveryKey,
  HoldRecord,
  MailboxFlags,
  MailboxQuery,
  MessageStore,
  MetricsBucketRecord,
  MetricsResolution,
  MetricsUpdate,
  NotificationRecord,
  PackedMember,
  Page,
  ProbeToken,
  ReceivedMessage,
  StateCounts,
  StateQuery,
  StoredQuery,
  StoredRaw,
} from '../../lambdas/ports.js';
import { KEYS, MAX_BATCH_READ, PACKS_PREFIX } from '../../lambdas/storage-layout.js';

/** Code-unit order, as DynamoDB and SQLite compare keys (not the locale's order). */
const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

const key = (messageId: string, recipient: string) => `${messageId}\u0000${recipient}`;

/** The time a delivery sorts by in the queue index, exactly as the DynamoDB adapter computes it. */
function indexTime(d: DeliveryRecord): string {
  return d.state === 'queued' || d.state === 'deferred' || d.state === 'delivering'
    ? (d.nextAttemptAt ?? d.receivedAt)
    : d.receivedAt;
}

/** The queue index's sort key (time, then message and recipient), as the stores order it. */
const queueSortKey = (d: DeliveryRecord) => `${indexTime(d)}#${d.messageId}#${d.recipient}`;
const daySortKey = (m: MessageRecord) => `${m.receivedAt}#${m.id}`;
const mailboxSortKey = (d: DeliveryRecord) => KEYS.mailboxSk(d.receivedAt, d.messageId);

/** The batch reads' cap, as DynamoDB's BatchGetItem. */
function batch(ids: readonly string[]): string[] {
  const distinct = [...new Set(ids)];
  if (distinct.length > MAX_BATCH_READ) {
    throw new ValidationError('batch read', [`at most ${MAX_BATCH_READ} keys per request`]);
  }
  return distinct;
}

/**
 * Keyset paging over a sorted list: the cursor is the last sort key returned, so an item that
 * moves while a caller pages cannot shift the rest (as with DynamoDB's LastEvaluatedKey).
 */
function pageAfter<T>(
  sorted: T[],
  sortKey: (item: T) => string,
  limit: number,
  cursor: string | undefined,
  descending = false,
): Page<T> {
  const after = cursor === undefined ? undefined : Buffer.from(cursor, 'base64url').toString('utf8');
  const rest =
    after === undefined
      ? sorted
      : sorted.filter((item) => (descending ? sortKey(item) < after : sortKey(item) > after));
  const items = rest.slice(0, limit);
  const last = items.at(-1);
  return {
    items,
    cursor:
      rest.length > limit && last ? Buffer.from(sortKey(last), 'utf8').toString('base64url') : undefined,
  };
}

/** An in-memory MessageStore with DynamoDB's semantics (conditional writes, index order), for unit tests. */
export class MemoryStore implements MessageStore, ContinuityStore {
  messages = new Map<string, MessageRecord>();
  deliveries = new Map<string, DeliveryRecord>();
  holds = new Map<string, HoldRecord>();
  /** Marks by `<user>\u0000<messageId>`. */
  flags = new Map<string, MailboxFlags>();
  /** Set to make the next replaceDelivery throw, as a crashed write would. */
  failNextReplace: Error | null = null;

  async putMessage(m: MessageRecord) {
    this.messages.set(m.id, structuredClone(m));
  }
  async getMessage(id: string) {
    const m = this.messages.get(id);
    return m && structuredClone(m);
  }
  async createDelivery(d: DeliveryRecord) {
    const k = key(d.messageId, d.recipient);
    if (this.deliveries.has(k)) return false;
    this.deliveries.set(k, structuredClone(d));
    return true;
  }
  async getDelivery({ messageId, recipient }: { messageId: string; recipient: string }) {
    const d = this.deliveries.get(key(messageId, recipient));
    return d && structuredClone(d);
  }
  async listDeliveries(messageId: string) {
    return [...this.deliveries.values()]
      .filter((d) => d.messageId === messageId)
      .sort((a, b) => compare(a.recipient, b.recipient))
      .map((d) => structuredClone(d));
  }
  async replaceDelivery(next: DeliveryRecord, expectedVersion: number) {
    if (this.failNextReplace) {
      const err = this.failNextReplace;
      this.failNextReplace = null;
      throw err;
    }
    const k = key(next.messageId, next.recipient);
    const current = this.deliveries.get(k);
    if (!current || current.version !== expectedVersion) throw new ConflictError(k);
    this.deliveries.set(k, structuredClone(next));
  }
  async deleteDelivery({ messageId, recipient }: DeliveryKey, expectedVersion: number) {
    const k = key(messageId, recipient);
    const current = this.deliveries.get(k);
    if (!current || current.version !== expectedVersion) throw new ConflictError(k);
    this.deliveries.delete(k);
  }
  deliveryAttempts: DeliveryAttempt[] = [];
  async recordDeliveryAttempt(a: DeliveryAttempt) {
    this.deliveryAttempts.push(structuredClone(a));
  }
  async listDeliveryAttempts({ messageId, recipient }: DeliveryKey, limit: number) {
    // Sorted by time; attempts of the same instant stay in the order they were recorded.
    return this.deliveryAttempts
      .filter((a) => a.messageId === messageId && a.recipient === recipient)
      .sort((a, b) => compare(a.at, b.at))
      .slice(-limit)
      .map((a) => structuredClone(a));
  }
  async queryByState(q: StateQuery): Promise<Page<DeliveryRecord>> {
    const all = [...this.deliveries.values()]
      .filter((d) => d.state === q.state && d.state !== 'delivered')
      .filter((d) => !q.before || indexTime(d) <= q.before)
      .sort((a, b) => compare(queueSortKey(a), queueSortKey(b)));
    const page = pageAfter(all, queueSortKey, q.limit ?? 100, q.cursor);
    return { items: page.items.map((d) => structuredClone(d)), cursor: page.cursor };
  }
  queueCursorAfter(d: DeliveryRecord) {
    return Buffer.from(queueSortKey(d), 'utf8').toString('base64url');
  }
  /** Counted from the records themselves: the reference the stores' kept counters are checked against. */
  async countByState(): Promise<StateCounts> {
    const counts = Object.fromEntries(deliveryStates.map((s) => [s, 0])) as StateCounts;
    for (const d of this.deliveries.values()) counts[d.state]++;
    return counts;
  }
  async oldestDeferred(route: string): Promise<string | undefined> {
    let oldest: string | undefined;
    for (const d of this.deliveries.values()) {
      if (d.state !== 'deferred' || d.route !== route) continue;
      if (oldest === undefined || d.receivedAt < oldest) oldest = d.receivedAt;
    }
    return oldest;
  }
  async listMessagesByDay(day: string, limit = 100, cursor?: string): Promise<Page<MessageRecord>> {
    const all = [...this.messages.values()]
      .filter((m) => m.receivedAt.slice(0, 10) === day)
      .sort((a, b) => compare(daySortKey(b), daySortKey(a)));
    const page = pageAfter(all, daySortKey, limit, cursor, true);
    return { items: page.items.map((m) => structuredClone(m)), cursor: page.cursor };
  }
  async listReceived(from: string, to: string): Promise<ReceivedMessage[]> {
    return [...this.messages.values()]
      .filter((m) => daySortKey(m) >= from && daySortKey(m) < to)
      .sort((a, b) => compare(daySortKey(a), daySortKey(b)))
      .map(({ id, receivedAt, recipients, sentCopyOf }) => ({
        id,
        receivedAt,
        recipients: [...recipients],
        ...(sentCopyOf === undefined ? {} : { sentCopyOf }),
      }));
  }
  async getMessages(ids: readonly string[]) {
    return batch(ids)
      .map((id) => this.messages.get(id))
      .filter((m): m is MessageRecord => m !== undefined)
      .map((m) => structuredClone(m));
  }
  async queryMailbox(address: string, q: MailboxQuery): Promise<Page<DeliveryRecord>> {
    const before = q.before && KEYS.mailboxSk(q.before.receivedAt, q.before.messageId);
    const all = [...this.deliveries.values()]
      .filter((d) => d.recipient === address)
      .filter((d) => q.since === undefined || mailboxSortKey(d) >= q.since)
      .filter((d) => before === undefined || mailboxSortKey(d) < before)
      .sort((a, b) => compare(mailboxSortKey(b), mailboxSortKey(a)));
    const page = pageAfter(all, mailboxSortKey, q.limit, q.cursor, true);
    return { items: page.items.map((d) => structuredClone(d)), cursor: page.cursor };
  }
  async getMailboxFlags(user: string, messageIds: readonly string[]) {
    const found: Record<string, MailboxFlags> = {};
    for (const id of batch(messageIds)) {
      const f = this.flags.get(key(user, id));
      if (f) found[id] = { ...f };
    }
    return found;
  }
  async setMailboxFlags(user: string, messageId: string, changes: Partial<MailboxFlags>) {
    const current = this.flags.get(key(user, messageId)) ?? { seen: false, flagged: false };
    const next = {
      seen: changes.seen ?? current.seen,
      flagged: changes.flagged ?? current.flagged,
    };
    this.flags.set(key(user, messageId), next);
    return { ...next };
  }
  org: OrgState | undefined;
  events = new Map<string, ContinuityEvent>();
  audit: AuditEntry[] = [];
  notifications: NotificationRecord[] = [];
  attempts: AttemptSample[] = [];
  probeTokens = new Map<string, ProbeToken>();

  async getOrg() {
    return this.org && structuredClone(this.org);
  }
  async putOrg(next: OrgState, expectedVersion: number) {
    if ((this.org?.version ?? 0) !== expectedVersion) throw new ConflictError('org');
    this.org = { ...structuredClone(next), version: expectedVersion + 1 };
  }
  async getEvent(id: string) {
    const e = this.events.get(id);
    return e && structuredClone(e);
  }
  async putEvent(e: ContinuityEvent) {
    this.events.set(e.id, structuredClone(e));
  }
  async listEvents(limit: number) {
    return [...this.events.values()].sort((a, b) => compare(b.id, a.id)).slice(0, limit);
  }
  async appendAudit(entry: AuditEntry) {
    this.audit.push({ ...entry });
  }
  async listAudit(limit: number) {
    // Newest first by time; entries of the same instant, the later appended first.
    return [...this.audit]
      .reverse()
      .sort((a, b) => compare(b.at, a.at))
      .slice(0, limit);
  }
  async queryAudit(q: AuditQuery): Promise<Page<AuditEntry>> {
    // Each entry's place: its time, then the order it was appended in (as SQLite's seq).
    const place = (i: number) => `${this.audit[i]?.at}#${String(i).padStart(12, '0')}`;
    const all = this.audit
      .map((_, i) => i)
      .filter((i) => {
        const at = this.audit[i]?.at as string;
        return (q.from === undefined || at >= q.from) && (q.to === undefined || at < q.to);
      })
      .sort((a, b) => compare(place(b), place(a)));
    const page = pageAfter(all, place, q.limit, q.cursor, true);
    return { items: page.items.map((i) => ({ ...(this.audit[i] as AuditEntry) })), cursor: page.cursor };
  }
  metrics = new Map<string, MetricsBucketRecord>();
  async addMetrics(updates: readonly MetricsUpdate[]) {
    for (const u of updates) {
      const k = `${u.resolution}\u0000${u.start}`;
      const bucket = this.metrics.get(k) ?? { resolution: u.resolution, start: u.start, values: {} };
      for (const [name, value] of Object.entries(u.add ?? {}))
        bucket.values[name] = (bucket.values[name] ?? 0) + value;
      for (const [name, value] of Object.entries(u.set ?? {})) bucket.values[name] = value;
      this.metrics.set(k, bucket);
    }
  }
  async listMetrics(resolution: MetricsResolution, from: string, to: string) {
    return [...this.metrics.values()]
      .filter((b) => b.resolution === resolution && b.start >= from && b.start < to)
      .sort((a, b) => compare(a.start, b.start))
      .map((b) => structuredClone(b));
  }
  async putNotification(n: NotificationRecord) {
    // Keyed by time and id, as in DynamoDB and SQLite: writing the same record again replaces it.
    const i = this.notifications.findIndex((x) => x.at === n.at && x.id === n.id);
    if (i >= 0) this.notifications[i] = structuredClone(n);
    else this.notifications.push(structuredClone(n));
  }
  async listNotifications(limit: number) {
    // Newest first by time; notifications of the same instant, the later written first.
    return [...this.notifications]
      .reverse()
      .sort((a, b) => compare(b.at, a.at))
      .slice(0, limit);
  }
  async recordAttempt(sample: AttemptSample) {
    this.attempts.push({ ...sample });
  }
  async listAttempts(route: string, since: string) {
    return this.attempts
      .filter((a) => a.route === route && a.at >= since)
      .sort((a, b) => compare(a.at, b.at))
      .map((a) => ({ ...a }));
  }
  async putProbeToken(t: ProbeToken) {
    this.probeTokens.set(t.token, { ...t });
  }
  async getProbeToken(token: string) {
    const t = this.probeTokens.get(token);
    return t && { ...t };
  }
  async listProbeTokens(since: string) {
    return [...this.probeTokens.values()]
      .filter((t) => t.sentAt >= since)
      .sort((a, b) => compare(a.sentAt, b.sentAt))
      .map((t) => ({ ...t }));
  }

  async putHold(h: HoldRecord) {
    this.holds.set(h.scope, { ...h });
  }
  async deleteHold(scope: string) {
    this.holds.delete(scope);
  }
  async listHolds() {
    return [...this.holds.values()].sort((a, b) => compare(a.scope, b.scope)).map((h) => ({ ...h }));
  }
}

export class MemoryBlobs implements BlobStore {
  objects = new Map<string, Buffer>();
  /** When each object was stored (ISO); a test may set it to place an object in the archive's past. */
  storedAt = new Map<string, string>();
  constructor(private readonly clock: Clock = { now: () => new Date() }) {}
  async getRaw(k: string) {
    const b = this.objects.get(k);
    if (!b) throw new NotFoundError(`no object ${k}`);
    return b;
  }
  async putRaw(k: string, body: Buffer) {
    this.objects.set(k, body);
    this.storedAt.set(k, this.clock.now().toISOString());
  }
  async listStored(q: StoredQuery): Promise<Page<StoredRaw>> {
    const items: StoredRaw[] = [...this.objects]
      .filter(([k]) => k.startsWith('raw/'))
      .map(([key, body]) => ({ key, storedAt: this.storedAt.get(key) as string, size: body.length }))
      .filter((o) => o.storedAt >= q.from && o.storedAt < q.to);
    // Packed mail, from the packs' indexes (as the S3 adapter lists it).
    for (const [key, body] of this.objects) {
      if (key.startsWith(PACKS_PREFIX) && key.endsWith('.json')) {
        items.push(...storedInIndex(parsePackIndex(key, body), q.from, q.to));
      }
    }
    return { items, cursor: undefined };
  }
  async readPacked(member: PackedMember) {
    const pack = this.objects.get(member.pack);
    if (!pack) throw new NotFoundError(`no object ${member.pack}`);
    this.packReads.push(member);
    return unpackMember(member, pack.subarray(member.offset, member.offset + member.length));
  }
  async findPacked(key: string, storedAt: string): Promise<PackedMember | undefined> {
    for (const [k, body] of this.objects) {
      if (!k.startsWith(PACKS_PREFIX) || !k.endsWith('.json')) continue;
      const index = parsePackIndex(k, body);
      const m = index.members.find((x) => x.key === key && x.storedAt === storedAt);
      if (m) return { pack: index.pack, offset: m.offset, length: m.length, sha256: m.sha256 };
    }
    return undefined;
  }
  /** Members read from packs, in order (a replay of packed mail reads each once). */
  packReads: PackedMember[] = [];
}

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  constructor(public current = new Date('2026-11-22T10:00:00Z')) {}
  now() {
    return new Date(this.current);
  }
  advance(seconds: number) {
    this.current = new Date(this.current.getTime() + seconds * 1000);
  }
}
