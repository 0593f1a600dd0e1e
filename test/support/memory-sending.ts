import { ConflictError, ValidationError } from '../../lambdas/core/errors.js';
import type {
  OutboundRelay,
  Page,
  RecipientOutcome,
  SendingKind,
  SendingRecord,
  SendingStore,
} from '../../lambdas/ports.js';

/** The sending store in memory, with the SQLite and DynamoDB adapters' semantics. */
export class MemorySendingStore implements SendingStore {
  records = new Map<string, SendingRecord>();
  private key = (kind: string, user: string, id: string) => `${kind}\u0000${user}\u0000${id}`;

  async getSending<T>(kind: SendingKind, user: string, id: string) {
    const r = this.records.get(this.key(kind, user, id));
    return r ? (structuredClone(r) as SendingRecord<T>) : undefined;
  }
  async putSending(record: SendingRecord, expectedVersion: number) {
    const k = this.key(record.kind, record.user, record.id);
    const current = this.records.get(k);
    if ((current?.version ?? 0) !== expectedVersion) throw new ConflictError(`${record.kind} ${record.id}`);
    this.records.set(k, structuredClone(record));
  }
  async deleteSending(kind: SendingKind, user: string, id: string, expectedVersion: number) {
    const k = this.key(kind, user, id);
    if (this.records.get(k)?.version !== expectedVersion) throw new ConflictError(`${kind} ${id}`);
    this.records.delete(k);
  }
  async listSending<T>(
    kind: SendingKind,
    user: string,
    query: { limit: number; cursor?: string | undefined; sinceId?: string | undefined },
  ): Promise<Page<SendingRecord<T>>> {
    if (query.cursor !== undefined && !/^[A-Za-z0-9_-]+$/.test(query.cursor))
      throw new ValidationError('cursor', ['is not a cursor this store returned']);
    const all = [...this.records.values()]
      .filter((r) => r.kind === kind && r.user === user)
      .filter((r) => query.sinceId === undefined || r.id >= query.sinceId)
      .filter((r) => query.cursor === undefined || r.id < query.cursor)
      .sort((a, b) => (a.id < b.id ? 1 : -1));
    const items = all.slice(0, query.limit).map((r) => structuredClone(r) as SendingRecord<T>);
    return { items, cursor: all.length > query.limit ? items.at(-1)?.id : undefined };
  }
  async listSendingDue(before: string, limit: number) {
    return [...this.records.values()]
      .filter((r) => r.dueAt !== null && r.dueAt <= before)
      .sort((a, b) => ((a.dueAt as string) < (b.dueAt as string) ? -1 : 1))
      .slice(0, limit)
      .map((r) => structuredClone(r));
  }
}

/**
 * A relay that answers as told: every recipient accepted, unless its address is listed in
 * `refuse` (5xx) or `defer` (4xx). Keeps what it was given.
 */
export class FakeRelay implements OutboundRelay {
  sent: Array<{ from: string; to: string[]; raw: Buffer }> = [];
  refuse = new Set<string>();
  defer = new Set<string>();
  async send(envelope: { from: string; to: string[] }, raw: Buffer) {
    this.sent.push({ ...envelope, raw });
    const outcomes: RecipientOutcome[] = envelope.to.map((recipient) =>
      this.refuse.has(recipient)
        ? { recipient, status: 'failed', response: '550 5.1.1 no such user', host: 'relay.test' }
        : this.defer.has(recipient)
          ? { recipient, status: 'deferred', response: '451 4.3.0 try later', host: 'relay.test' }
          : { recipient, status: 'delivered', response: '250 2.0.0 queued', host: 'relay.test' },
    );
    return { outcomes, providerId: null };
  }
}
