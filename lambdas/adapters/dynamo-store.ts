import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  type QueryCommandOutput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ContinuityEvent, OrgState } from '../core/continuity.js';
import { ConflictError, ValidationError } from '../core/errors.js';
import {
  type DeliveryRecord,
  type DeliveryState,
  deliveryStates,
  type MessageRecord,
} from '../core/model.js';
import type {
  AttemptSample,
  AuditEntry,
  AuditQuery,
  ContinuityStore,
  DeliveryAttempt,
  DeliveryKey,
  HoldRecord,
  MailboxFlags,
  MailboxQuery,
  MessageStore,
  MetricsBucketRecord,
  MetricsUpdate,
  NotificationRecord,
  Page,
  ProbeToken,
  ReceivedMessage,
  StateCounts,
  StateQuery,
} from '../ports.js';
import {
  INDEXES,
  KEYS,
  MAX_BATCH_READ,
  mailExpiresAt,
  RECORD_TTL_SECONDS,
  TABLE_KEYS,
} from '../storage-layout.js';

/** Code-unit order, as DynamoDB compares string keys. */
const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Index names, re-exported for modules that read them from the adapter; the layout itself is
 * declared once in storage-layout.ts.
 */
export { TABLE_KEYS } from '../storage-layout.js';
export const INDEX_BY_STATE = INDEXES.byState.name;
export const INDEX_BY_MAILBOX = INDEXES.byMailbox.name;
export const INDEX_BY_AGE = INDEXES.byAge.name;

const ATTEMPT_TTL_SECONDS = RECORD_TTL_SECONDS.probe;
const LOG_TTL_SECONDS = RECORD_TTL_SECONDS.log;

const { pk: PK, sk: SK, ttl: TTL } = TABLE_KEYS;
const { byState, byMailbox, byAge } = INDEXES;

/** The table key of one item. */
const tableKey = (pk: string, sk: string): Record<string, string> => ({ [PK]: pk, [SK]: sk });

/** Every attribute the layout adds to a record; stripped before a record is returned. */
const LAYOUT_ATTRIBUTES: ReadonlySet<string> = new Set([
  PK,
  SK,
  TTL,
  ...Object.values(INDEXES).flatMap((index) => [index.pk, index.sk]),
]);

/** The time a delivery sorts by in the queue index: when it is due, or when it arrived. */
function indexTime(d: DeliveryRecord): string {
  if (d.state === 'queued' || d.state === 'deferred' || d.state === 'delivering') {
    return d.nextAttemptAt ?? d.receivedAt;
  }
  return d.receivedAt;
}

export interface DynamoStoreOptions {
  tableName: string;
  /** Days before DynamoDB's TTL removes a record (the raw message's retention). */
  retentionDays: number;
  /** What `countByState` counts the last DELIVERED_WINDOW_HOURS of deliveries back from. @default the system clock */
  now?: () => Date;
}

const expiresAt = mailExpiresAt;

const HOUR_MS = 3_600_000;

function deliveryItem(d: DeliveryRecord, retentionDays: number): Record<string, unknown> {
  const item: Record<string, unknown> = {
    ...d,
    ...tableKey(KEYS.messagePk(d.messageId), KEYS.deliverySk(d.recipient)),
    [byMailbox.pk]: KEYS.mailboxPk(d.recipient),
    [byMailbox.sk]: KEYS.mailboxSk(d.receivedAt, d.messageId),
    [TTL]: expiresAt(d.receivedAt, retentionDays),
  };
  // Delivered mail leaves the queue index, so the index holds only what needs attention.
  if (d.state !== 'delivered') {
    item[byState.pk] = KEYS.statePk(d.state);
    item[byState.sk] = `${indexTime(d)}#${d.messageId}#${d.recipient}`;
  }
  // Sparse: only a deferred delivery is in byAge, so a route's oldest one is the first key read.
  if (d.state === 'deferred') {
    item[byAge.pk] = KEYS.agePk(d.route);
    item[byAge.sk] = `${d.receivedAt}#${d.messageId}#${d.recipient}`;
  }
  return item;
}

/** The UTC days (`YYYY-MM-DD`) that [from, to) touches, oldest first. */
function daysOf(from: string, to: string): string[] {
  const days: string[] = [];
  const last = new Date(Date.parse(to) - 1).toISOString().slice(0, 10);
  for (let day = from.slice(0, 10); day <= last; ) {
    days.push(day);
    day = new Date(Date.parse(`${day}T00:00:00.000Z`) + 86_400_000).toISOString().slice(0, 10);
  }
  return days;
}

function stripKeys<T>(item: Record<string, unknown>): T {
  const rest: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(item)) if (!LAYOUT_ATTRIBUTES.has(name)) rest[name] = value;
  return rest as T;
}

function encodeCursor(key: Record<string, unknown> | undefined): string | undefined {
  return key ? Buffer.from(JSON.stringify(key)).toString('base64url') : undefined;
}

function decodeCursor(cursor: string | undefined): Record<string, unknown> | undefined {
  return cursor ? JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) : undefined;
}

/**
 * Rounds of UnprocessedKeys a batch read retries before giving up: DynamoDB returns them under
 * throttling, and a read that cannot finish after this many is an error, not a short answer.
 */
const MAX_BATCH_ROUNDS = 8;

function batchSize(n: number): void {
  if (n > MAX_BATCH_READ) {
    throw new ValidationError('batch read', [`at most ${MAX_BATCH_READ} keys per request, got ${n}`]);
  }
}

function zeroCounts(): StateCounts {
  return Object.fromEntries(deliveryStates.map((s) => [s, 0])) as StateCounts;
}

/**
 * States whose deliveries are counted from the queue index when asked, not kept in the counters:
 * every message passes through both on its way to `delivered` (created queued, claimed), so a
 * counter for them cost two write units a message, while their index partitions
 * hold only the mail between ingest and its first attempt and the attempts in flight.
 */
const COUNTED_FROM_INDEX: ReadonlySet<DeliveryState> = new Set(['queued', 'delivering']);

/**
 * Hours of mail flow the `delivered` count covers. Every message ends delivered, so a counter for it
 * cost a write unit a message, and it only grew (TTL removes records without a word to it); the
 * deliveries delivered in the last day are in the flow's hour buckets already (the probe rolls each
 * minute into its hour a minute or two after it ends), and `countByState` adds them up from there.
 */
export const DELIVERED_WINDOW_HOURS = 24;

const NOT_COUNTED: ReadonlySet<DeliveryState> = new Set([...COUNTED_FROM_INDEX, 'delivered']);

const counted = (state: DeliveryState | undefined) =>
  state === undefined || NOT_COUNTED.has(state) ? undefined : state;

/**
 * The message store on DynamoDB's API (AWS; dynalite in the contract tests).
 *
 * Per-state counters live in one item (`KEYS.counters`) and are moved by an UpdateItem `ADD`
 * after each conditional create or replace has succeeded, except for the states in
 * COUNTED_FROM_INDEX, which are counted from the queue index when asked, and `delivered`, which is
 * the last day's deliveries from the flow's hour buckets (DELIVERED_WINDOW_HOURS). The two writes
 * are not one transaction: TransactWriteItems would close the gap, but dynalite, which the
 * contract suite runs this adapter against, does not implement it. So a process that dies between a delivery's
 * write and its counter update leaves that one transition uncounted (off by one per crash, never
 * a lost or doubled delivery), and a record removed by TTL is not subtracted. The counters serve
 * status and metrics; the queue itself is always read from the index.
 */
export function createDynamoStore(
  client: DynamoDBClient,
  options: DynamoStoreOptions,
): MessageStore & ContinuityStore {
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  const TableName = options.tableName;
  const notExists = `attribute_not_exists(${PK})`;

  /**
   * Puts the item if the condition holds.
   * @returns the attributes it replaced (`{}` when there were none), or undefined when the condition failed
   */
  async function conditionalPut(
    Item: Record<string, unknown>,
    condition: string,
    values?: Record<string, unknown>,
  ): Promise<Record<string, unknown> | undefined> {
    try {
      const out = await doc.send(
        new PutCommand({
          TableName,
          Item,
          ConditionExpression: condition,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_OLD',
        }),
      );
      return out.Attributes ?? {};
    } catch (err) {
      if (
        err instanceof ConditionalCheckFailedException ||
        (err as Error).name === 'ConditionalCheckFailedException'
      ) {
        return undefined;
      }
      throw err;
    }
  }

  /** Moves one delivery between the per-state counters (from nothing, on create; to nothing, on delete). */
  async function countTransition(
    fromState: DeliveryState | undefined,
    toState: DeliveryState | undefined,
  ): Promise<void> {
    const from = counted(fromState);
    const to = counted(toState);
    if (from === to) return;
    const names: Record<string, string> = {};
    const values: Record<string, number> = {};
    const adds: string[] = [];
    if (to !== undefined) {
      names['#to'] = to;
      values[':plus'] = 1;
      adds.push('#to :plus');
    }
    if (from !== undefined) {
      names['#from'] = from;
      values[':minus'] = -1;
      adds.push('#from :minus');
    }
    const update = `ADD ${adds.join(', ')}`;
    await doc.send(
      new UpdateCommand({
        TableName,
        Key: tableKey(KEYS.counters.pk, KEYS.counters.sk),
        UpdateExpression: update,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
  }

  async function newestFirst<T>(pk: string, limit: number): Promise<T[]> {
    const out = await doc.send(
      new QueryCommand({
        TableName,
        KeyConditionExpression: `${PK} = :pk`,
        ExpressionAttributeValues: { ':pk': pk },
        ScanIndexForward: false,
        Limit: limit,
        ConsistentRead: true,
      }),
    );
    return (out.Items ?? []).map((i) => stripKeys<T>(i));
  }

  async function getItem<T>(pk: string, sk: string): Promise<T | undefined> {
    const out = await doc.send(new GetCommand({ TableName, Key: tableKey(pk, sk), ConsistentRead: true }));
    return out.Item ? stripKeys<T>(out.Item) : undefined;
  }

  /** Every page of a query on the table, following LastEvaluatedKey, each handed to `page` as it comes. */
  async function eachPage(
    input: Omit<QueryCommandInput, 'TableName' | 'ExclusiveStartKey'>,
    page: (out: QueryCommandOutput) => void,
  ): Promise<void> {
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const out = await doc.send(new QueryCommand({ TableName, ...input, ExclusiveStartKey }));
      page(out);
      ExclusiveStartKey = out.LastEvaluatedKey;
    } while (ExclusiveStartKey);
  }

  /** Every item of one partition, oldest sort key first, following LastEvaluatedKey. */
  async function queryAll<T>(keyCondition: string, values: Record<string, unknown>): Promise<T[]> {
    const items: T[] = [];
    await eachPage(
      { KeyConditionExpression: keyCondition, ExpressionAttributeValues: values, ConsistentRead: true },
      (out) => {
        for (const i of out.Items ?? []) items.push(stripKeys<T>(i));
      },
    );
    return items;
  }

  /** Deliveries in one state, counted in its queue index partition (a page per MB of entries). */
  async function countInIndex(state: DeliveryState): Promise<number> {
    let n = 0;
    await eachPage(
      {
        IndexName: byState.name,
        KeyConditionExpression: `${byState.pk} = :p`,
        ExpressionAttributeValues: { ':p': KEYS.statePk(state) },
        Select: 'COUNT',
      },
      (out) => {
        n += out.Count ?? 0;
      },
    );
    return n;
  }

  /**
   * Deliveries delivered in the last DELIVERED_WINDOW_HOURS (the hour buckets from the start of the
   * hour that far back), as the flow's roll-ups have counted them: a query of about 25 small items.
   */
  async function deliveredLately(): Promise<number> {
    const now = (options.now ?? (() => new Date()))().getTime();
    const from = new Date(Math.floor(now / HOUR_MS) * HOUR_MS - DELIVERED_WINDOW_HOURS * HOUR_MS);
    let n = 0;
    // Eventually consistent: a figure for status, half the read units of a strong read.
    await eachPage(
      {
        KeyConditionExpression: `${PK} = :pk AND ${SK} >= :from`,
        ExpressionAttributeValues: { ':pk': KEYS.metricPk('hour'), ':from': from.toISOString() },
        ProjectionExpression: 'delivered',
      },
      (out) => {
        for (const b of out.Items ?? []) if (typeof b.delivered === 'number') n += b.delivered;
      },
    );
    return n;
  }

  const epoch = (iso: string) => Math.floor(Date.parse(iso) / 1000);
  const unique = () => Math.random().toString(36).slice(2, 10);

  /** The items at these keys that exist, retrying what DynamoDB leaves unprocessed. */
  async function batchGet(keys: Record<string, string>[]): Promise<Record<string, unknown>[]> {
    batchSize(keys.length);
    const found: Record<string, unknown>[] = [];
    let pending = keys;
    for (let round = 0; pending.length > 0; round++) {
      if (round === MAX_BATCH_ROUNDS) {
        throw new Error(`batch read: ${pending.length} keys still unprocessed after ${round} rounds`);
      }
      const out = await doc.send(
        new BatchGetCommand({ RequestItems: { [TableName]: { Keys: pending, ConsistentRead: true } } }),
      );
      found.push(...(out.Responses?.[TableName] ?? []));
      pending = (out.UnprocessedKeys?.[TableName]?.Keys ?? []) as Record<string, string>[];
    }
    return found;
  }

  return {
    getOrg() {
      return getItem<OrgState>(KEYS.org.pk, KEYS.org.sk);
    },

    async putOrg(next: OrgState, expectedVersion: number) {
      const item = { ...next, ...tableKey(KEYS.org.pk, KEYS.org.sk), version: expectedVersion + 1 };
      const wrote =
        expectedVersion === 0
          ? await conditionalPut(item, notExists)
          : await conditionalPut(item, 'version = :v', { ':v': expectedVersion });
      if (!wrote) throw new ConflictError('the continuity state');
    },

    getEvent(id) {
      return getItem<ContinuityEvent>(KEYS.eventPk, id);
    },

    async putEvent(event: ContinuityEvent) {
      await doc.send(new PutCommand({ TableName, Item: { ...event, ...tableKey(KEYS.eventPk, event.id) } }));
    },

    listEvents(limit) {
      return newestFirst<ContinuityEvent>(KEYS.eventPk, limit);
    },

    async appendAudit(entry: AuditEntry) {
      await doc.send(
        new PutCommand({
          TableName,
          Item: {
            ...entry,
            ...tableKey(KEYS.auditPk, `${entry.at}#${unique()}`),
            [TTL]: epoch(entry.at) + LOG_TTL_SECONDS,
          },
        }),
      );
    },

    listAudit(limit) {
      return newestFirst<AuditEntry>(KEYS.auditPk, limit);
    },

    async queryAudit(query: AuditQuery): Promise<Page<AuditEntry>> {
      // Sort keys are `<at>#<unique>`: every key of an instant sorts after the instant itself, so
      // `sk < to` leaves that instant out and `sk >= from` keeps it, as [from, to) asks.
      const values: Record<string, unknown> = { ':pk': KEYS.auditPk };
      let condition = `${PK} = :pk`;
      if (query.from !== undefined && query.to !== undefined) {
        condition += ` AND ${SK} BETWEEN :from AND :to`;
        Object.assign(values, { ':from': query.from, ':to': query.to });
      } else if (query.from !== undefined) {
        condition += ` AND ${SK} >= :from`;
        values[':from'] = query.from;
      } else if (query.to !== undefined) {
        condition += ` AND ${SK} < :to`;
        values[':to'] = query.to;
      }
      const out = await doc.send(
        new QueryCommand({
          TableName,
          KeyConditionExpression: condition,
          ExpressionAttributeValues: values,
          ScanIndexForward: false,
          Limit: query.limit,
          ConsistentRead: true,
          ExclusiveStartKey: decodeCursor(query.cursor),
        }),
      );
      return {
        items: (out.Items ?? []).map((i) => stripKeys<AuditEntry>(i)),
        cursor: encodeCursor(out.LastEvaluatedKey),
      };
    },

    async addMetrics(updates: readonly MetricsUpdate[]) {
      // One UpdateItem per bucket: ADD is atomic, so concurrent writers never lose a count.
      for (const u of updates) {
        const names: Record<string, string> = { '#ttl': TTL, '#start': 'start', '#res': 'resolution' };
        const values: Record<string, unknown> = {
          ':ttl': u.expiresAt,
          ':start': u.start,
          ':res': u.resolution,
        };
        const adds: string[] = [];
        const sets = ['#ttl = :ttl', '#start = :start', '#res = :res'];
        let i = 0;
        for (const [name, value] of Object.entries(u.add ?? {})) {
          names[`#n${i}`] = name;
          values[`:v${i}`] = value;
          adds.push(`#n${i} :v${i}`);
          i++;
        }
        for (const [name, value] of Object.entries(u.set ?? {})) {
          names[`#n${i}`] = name;
          values[`:v${i}`] = value;
          sets.push(`#n${i} = :v${i}`);
          i++;
        }
        await doc.send(
          new UpdateCommand({
            TableName,
            Key: tableKey(KEYS.metricPk(u.resolution), u.start),
            UpdateExpression: `SET ${sets.join(', ')}${adds.length ? ` ADD ${adds.join(', ')}` : ''}`,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          }),
        );
      }
    },

    async listMetrics(resolution, from, to) {
      const items = await queryAll<Record<string, unknown>>(`${PK} = :pk AND ${SK} BETWEEN :from AND :to`, {
        ':pk': KEYS.metricPk(resolution),
        ':from': from,
        ':to': to,
      });
      const buckets: MetricsBucketRecord[] = [];
      for (const item of items) {
        const start = String(item.start);
        // BETWEEN includes `to`; the range asked for does not.
        if (start >= to) continue;
        const values: Record<string, number> = {};
        for (const [name, value] of Object.entries(item)) {
          if (typeof value === 'number') values[name] = value;
        }
        buckets.push({ resolution, start, values });
      }
      return buckets;
    },

    async putNotification(n: NotificationRecord) {
      await doc.send(
        new PutCommand({
          TableName,
          Item: { ...n, ...tableKey(KEYS.notifyPk, `${n.at}#${n.id}`), [TTL]: epoch(n.at) + LOG_TTL_SECONDS },
        }),
      );
    },

    listNotifications(limit) {
      return newestFirst<NotificationRecord>(KEYS.notifyPk, limit);
    },

    async recordAttempt(sample: AttemptSample) {
      await doc.send(
        new PutCommand({
          TableName,
          Item: {
            ...sample,
            ...tableKey(KEYS.attemptPk(sample.route), `${sample.at}#${unique()}`),
            [TTL]: epoch(sample.at) + ATTEMPT_TTL_SECONDS,
          },
        }),
      );
    },

    listAttempts(route, since) {
      return queryAll<AttemptSample>(`${PK} = :pk AND ${SK} >= :since`, {
        ':pk': KEYS.attemptPk(route),
        ':since': since,
      });
    },

    async putProbeToken(t: ProbeToken) {
      await doc.send(
        new PutCommand({
          TableName,
          Item: { ...t, ...tableKey(KEYS.probePk, t.token), [TTL]: epoch(t.sentAt) + ATTEMPT_TTL_SECONDS },
        }),
      );
    },

    getProbeToken(token) {
      return getItem<ProbeToken>(KEYS.probePk, token);
    },

    async listProbeTokens(since) {
      const tokens = await queryAll<ProbeToken>(`${PK} = :pk`, { ':pk': KEYS.probePk });
      return tokens.filter((t) => t.sentAt >= since).sort((a, b) => compare(a.sentAt, b.sentAt));
    },

    async putMessage(message: MessageRecord) {
      await doc.send(
        new PutCommand({
          TableName,
          Item: {
            ...message,
            ...tableKey(KEYS.messagePk(message.id), KEYS.messageSk),
            // Messages of a day share one index partition: the console's and CLI's "recent mail".
            [byState.pk]: KEYS.dayPk(message.receivedAt.slice(0, 10)),
            [byState.sk]: `${message.receivedAt}#${message.id}`,
            [TTL]: expiresAt(message.receivedAt, options.retentionDays),
          },
        }),
      );
    },

    getMessage(id) {
      return getItem<MessageRecord>(KEYS.messagePk(id), KEYS.messageSk);
    },

    async createDelivery(delivery) {
      const wrote = await conditionalPut(deliveryItem(delivery, options.retentionDays), notExists);
      if (!wrote) return false;
      await countTransition(undefined, delivery.state);
      return true;
    },

    getDelivery({ messageId, recipient }: DeliveryKey) {
      return getItem<DeliveryRecord>(KEYS.messagePk(messageId), KEYS.deliverySk(recipient));
    },

    listDeliveries(messageId) {
      return queryAll<DeliveryRecord>(`${PK} = :pk AND begins_with(${SK}, :rcpt)`, {
        ':pk': KEYS.messagePk(messageId),
        ':rcpt': KEYS.deliverySkPrefix,
      });
    },

    async replaceDelivery(next, expectedVersion) {
      const old = await conditionalPut(deliveryItem(next, options.retentionDays), 'version = :v', {
        ':v': expectedVersion,
      });
      if (!old) throw new ConflictError(`delivery ${next.messageId} for ${next.recipient}`);
      await countTransition(old.state as DeliveryState, next.state);
    },

    async deleteDelivery({ messageId, recipient }: DeliveryKey, expectedVersion) {
      let old: Record<string, unknown> | undefined;
      try {
        const out = await doc.send(
          new DeleteCommand({
            TableName,
            Key: tableKey(KEYS.messagePk(messageId), KEYS.deliverySk(recipient)),
            ConditionExpression: 'version = :v',
            ExpressionAttributeValues: { ':v': expectedVersion },
            ReturnValues: 'ALL_OLD',
          }),
        );
        old = out.Attributes;
      } catch (err) {
        if (
          err instanceof ConditionalCheckFailedException ||
          (err as Error).name === 'ConditionalCheckFailedException'
        ) {
          throw new ConflictError(`delivery ${messageId} for ${recipient}`);
        }
        throw err;
      }
      if (old) await countTransition(old.state as DeliveryState, undefined);
    },

    async recordDeliveryAttempt(a: DeliveryAttempt) {
      await doc.send(
        new PutCommand({
          TableName,
          Item: {
            ...a,
            ...tableKey(
              KEYS.messagePk(a.messageId),
              `${KEYS.deliveryAttemptPrefix(a.recipient)}${a.at}#${unique()}`,
            ),
            [TTL]: expiresAt(a.at, options.retentionDays),
          },
        }),
      );
    },

    async listDeliveryAttempts({ messageId, recipient }: DeliveryKey, limit) {
      const out = await doc.send(
        new QueryCommand({
          TableName,
          KeyConditionExpression: `${PK} = :pk AND begins_with(${SK}, :try)`,
          ExpressionAttributeValues: {
            ':pk': KEYS.messagePk(messageId),
            ':try': KEYS.deliveryAttemptPrefix(recipient),
          },
          ScanIndexForward: false,
          Limit: limit,
          ConsistentRead: true,
        }),
      );
      return (out.Items ?? []).map((i) => stripKeys<DeliveryAttempt>(i)).reverse();
    },

    async queryByState(query: StateQuery): Promise<Page<DeliveryRecord>> {
      const input: QueryCommandInput = {
        TableName,
        IndexName: byState.name,
        KeyConditionExpression: query.before
          ? `${byState.pk} = :p AND ${byState.sk} < :b`
          : `${byState.pk} = :p`,
        ExpressionAttributeValues: {
          ':p': KEYS.statePk(query.state),
          // '$' sorts after '#', so every key for the instant `before` is included.
          ...(query.before ? { ':b': `${query.before}$` } : {}),
        },
        Limit: query.limit ?? 100,
        ExclusiveStartKey: decodeCursor(query.cursor),
      };
      const out = await doc.send(new QueryCommand(input));
      return {
        items: (out.Items ?? []).map((i) => stripKeys<DeliveryRecord>(i)),
        cursor: encodeCursor(out.LastEvaluatedKey),
      };
    },

    queueCursorAfter(d: DeliveryRecord) {
      const item = deliveryItem(d, options.retentionDays);
      return encodeCursor({
        ...tableKey(String(item[PK]), String(item[SK])),
        [byState.pk]: item[byState.pk],
        [byState.sk]: item[byState.sk],
      }) as string;
    },

    async countByState() {
      const [counters, delivered, ...fromIndex] = await Promise.all([
        getItem<Partial<StateCounts>>(KEYS.counters.pk, KEYS.counters.sk),
        deliveredLately(),
        ...[...COUNTED_FROM_INDEX].map(async (state) => [state, await countInIndex(state)] as const),
      ]);
      const counts = zeroCounts();
      for (const state of deliveryStates) {
        if (!NOT_COUNTED.has(state)) counts[state] = Number(counters?.[state] ?? 0);
      }
      for (const [state, n] of fromIndex) counts[state] = n;
      counts.delivered = delivered;
      return counts;
    },

    async oldestDeferred(route) {
      const out = await doc.send(
        new QueryCommand({
          TableName,
          IndexName: byAge.name,
          KeyConditionExpression: `${byAge.pk} = :p`,
          ExpressionAttributeValues: { ':p': KEYS.agePk(route) },
          Limit: 1,
        }),
      );
      const first = out.Items?.[0];
      return first ? String(first.receivedAt) : undefined;
    },

    async listMessagesByDay(day, limit = 100, cursor) {
      const out = await doc.send(
        new QueryCommand({
          TableName,
          IndexName: byState.name,
          KeyConditionExpression: `${byState.pk} = :p`,
          ExpressionAttributeValues: { ':p': KEYS.dayPk(day) },
          ScanIndexForward: false,
          Limit: limit,
          ExclusiveStartKey: decodeCursor(cursor),
        }),
      );
      return {
        items: (out.Items ?? []).map((i) => stripKeys<MessageRecord>(i)),
        cursor: encodeCursor(out.LastEvaluatedKey),
      };
    },

    async listReceived(from, to) {
      const received: ReceivedMessage[] = [];
      for (const day of daysOf(from, to)) {
        // `<receivedAt>#<id>` keys: BETWEEN takes every key from `from` on and none at `to` itself.
        await eachPage(
          {
            IndexName: byState.name,
            KeyConditionExpression: `${byState.pk} = :p AND ${byState.sk} BETWEEN :from AND :to`,
            ExpressionAttributeValues: { ':p': KEYS.dayPk(day), ':from': from, ':to': to },
            ProjectionExpression: '#id, #at, #rcpt, #copy',
            ExpressionAttributeNames: {
              '#id': 'id',
              '#at': 'receivedAt',
              '#rcpt': 'recipients',
              '#copy': 'sentCopyOf',
            },
          },
          (out) => {
            for (const i of out.Items ?? []) received.push(stripKeys<ReceivedMessage>(i));
          },
        );
      }
      return received;
    },

    async getMessages(ids) {
      const distinct = [...new Set(ids)];
      if (distinct.length === 0) return [];
      const items = await batchGet(distinct.map((id) => tableKey(KEYS.messagePk(id), KEYS.messageSk)));
      return items.map((i) => stripKeys<MessageRecord>(i));
    },

    async queryMailbox(address: string, query: MailboxQuery): Promise<Page<DeliveryRecord>> {
      const values: Record<string, unknown> = { ':p': KEYS.mailboxPk(address) };
      let condition = `${byMailbox.pk} = :p`;
      // One sort-key condition per query: the upper bound when paging on, else the lower bound;
      // with both, items older than `since` are dropped below and end the listing.
      if (query.before) {
        condition += ` AND ${byMailbox.sk} < :b`;
        values[':b'] = KEYS.mailboxSk(query.before.receivedAt, query.before.messageId);
      } else if (query.since) {
        condition += ` AND ${byMailbox.sk} >= :s`;
        values[':s'] = query.since;
      }
      const out = await doc.send(
        new QueryCommand({
          TableName,
          IndexName: byMailbox.name,
          KeyConditionExpression: condition,
          ExpressionAttributeValues: values,
          ScanIndexForward: false,
          Limit: query.limit,
          ExclusiveStartKey: decodeCursor(query.cursor),
        }),
      );
      // The index keeps keys only (written once per delivery): the page's deliveries come from the table.
      const keys = (out.Items ?? []).map((i) => tableKey(String(i[PK]), String(i[SK])));
      const byKey = new Map<string, DeliveryRecord>();
      for (let at = 0; at < keys.length; at += MAX_BATCH_READ) {
        for (const item of await batchGet(keys.slice(at, at + MAX_BATCH_READ))) {
          byKey.set(`${item[PK]} ${item[SK]}`, stripKeys<DeliveryRecord>(item));
        }
      }
      // In the index's order; a delivery whose record expired meanwhile is left out.
      const all = keys.flatMap((k) => byKey.get(`${k[PK]} ${k[SK]}`) ?? []);
      const since = query.since;
      const items = since === undefined ? all : all.filter((d) => d.receivedAt >= since);
      const ended = items.length < all.length;
      return { items, cursor: ended ? undefined : encodeCursor(out.LastEvaluatedKey) };
    },

    async getMailboxFlags(user, messageIds) {
      const distinct = [...new Set(messageIds)];
      if (distinct.length === 0) return {};
      const items = await batchGet(distinct.map((id) => tableKey(KEYS.userPk(user), KEYS.flagsSk(id))));
      const flags: Record<string, MailboxFlags> = {};
      for (const i of items)
        flags[String(i.messageId)] = { seen: i.seen === true, flagged: i.flagged === true };
      return flags;
    },

    async setMailboxFlags(user, messageId, changes) {
      const names: Record<string, string> = { '#seen': 'seen', '#flagged': 'flagged', '#ttl': TTL };
      const values: Record<string, unknown> = {
        ':id': messageId,
        ':ttl': epoch(new Date().toISOString()) + options.retentionDays * 86_400,
      };
      const set = ['messageId = :id', '#ttl = :ttl'];
      for (const flag of ['seen', 'flagged'] as const) {
        const value = changes[flag];
        if (value === undefined) {
          set.push(`#${flag} = if_not_exists(#${flag}, :false)`);
          values[':false'] = false;
        } else {
          set.push(`#${flag} = :${flag}`);
          values[`:${flag}`] = value;
        }
      }
      const out = await doc.send(
        new UpdateCommand({
          TableName,
          Key: tableKey(KEYS.userPk(user), KEYS.flagsSk(messageId)),
          UpdateExpression: `SET ${set.join(', ')}`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return { seen: out.Attributes?.seen === true, flagged: out.Attributes?.flagged === true };
    },

    async putHold(hold: HoldRecord) {
      await doc.send(new PutCommand({ TableName, Item: { ...hold, ...tableKey(KEYS.holdPk, hold.scope) } }));
    },

    async deleteHold(scope) {
      await doc.send(new DeleteCommand({ TableName, Key: tableKey(KEYS.holdPk, scope) }));
    },

    listHolds() {
      return queryAll<HoldRecord>(`${PK} = :pk`, { ':pk': KEYS.holdPk });
    },
  };
}
