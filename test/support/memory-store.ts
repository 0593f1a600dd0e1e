import type { ContinuityEvent, OrgState } from '../../lambdas/core/continuity.js';
import { ConflictError } from '../../lambdas/core/errors.js';
import type { DeliveryRecord, MessageRecord } from '../../lambdas/core/model.js';
import type {
  AttemptSample,
  AuditEntry,
  BlobStore,
  Clock,
  ContinuityStore,
  HoldRecord,
  MessageStore,
  NotificationRecord,
  Page,
  ProbeToken,
  StateQuery,
} from '../../lambdas/ports.js';

const key = (messageId: string, recipient: string) => `${messageId}\u0000${recipient}`;

function indexTime(d: DeliveryRecord): string {
  return d.state === 'queued' || d.state === 'deferred' || d.state === 'delivering'
    ? (d.nextAttemptAt ?? d.receivedAt)
    : d.receivedAt;
}

/** An in-memory MessageStore with DynamoDB's semantics (conditional writes, index order), for unit tests. */
export class MemoryStore implements MessageStore, ContinuityStore {
  messages = new Map<string, MessageRecord>();
  deliveries = new Map<string, DeliveryRecord>();
  holds = new Map<string, HoldRecord>();
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
  async queryByState(q: StateQuery): Promise<Page<DeliveryRecord>> {
    const all = [...this.deliveries.values()]
      .filter((d) => d.state === q.state && d.state !== 'delivered')
      .filter((d) => !q.before || indexTime(d) <= q.before)
      .sort((a, b) => indexTime(a).localeCompare(indexTime(b)));
    const start = q.cursor ? Number(q.cursor) : 0;
    const limit = q.limit ?? 100;
    const items = all.slice(start, start + limit).map((d) => structuredClone(d));
    return { items, cursor: start + limit < all.length ? String(start + limit) : undefined };
  }
  async listMessagesByDay(day: string, limit = 100, cursor?: string): Promise<Page<MessageRecord>> {
    const all = [...this.messages.values()]
      .filter((m) => m.receivedAt.startsWith(day))
      .sort((a, b) => b.receivedAt.localeCompare(a.receivedAt));
    const start = cursor ? Number(cursor) : 0;
    return {
      items: all.slice(start, start + limit),
      cursor: start + limit < all.length ? String(start + limit) : undefined,
    };
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
    return [...this.events.values()].sort((a, b) => b.id.localeCompare(a.id)).slice(0, limit);
  }
  async appendAudit(entry: AuditEntry) {
    this.audit.push({ ...entry });
  }
  async listAudit(limit: number) {
    return [...this.audit].reverse().slice(0, limit);
  }
  async putNotification(n: NotificationRecord) {
    this.notifications.push(structuredClone(n));
  }
  async listNotifications(limit: number) {
    return [...this.notifications].reverse().slice(0, limit);
  }
  async recordAttempt(sample: AttemptSample) {
    this.attempts.push({ ...sample });
  }
  async listAttempts(route: string, since: string) {
    return this.attempts.filter((a) => a.route === route && a.at >= since);
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
      .sort((a, b) => a.sentAt.localeCompare(b.sentAt));
  }

  async putHold(h: HoldRecord) {
    this.holds.set(h.scope, { ...h });
  }
  async deleteHold(scope: string) {
    this.holds.delete(scope);
  }
  async listHolds() {
    return [...this.holds.values()];
  }
}

export class MemoryBlobs implements BlobStore {
  objects = new Map<string, Buffer>();
  async getRaw(k: string) {
    const b = this.objects.get(k);
    if (!b) throw Object.assign(new Error(`no object ${k}`), { name: 'NotFoundError' });
    return b;
  }
  async putRaw(k: string, body: Buffer) {
    this.objects.set(k, body);
  }
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
