import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { ContinuityEvent, OrgState } from '../core/continuity.js';
import { ConflictError } from '../core/errors.js';
import type { DeliveryRecord, MessageRecord } from '../core/model.js';
import type {
  AttemptSample,
  AuditEntry,
  ContinuityStore,
  DeliveryKey,
  HoldRecord,
  MessageStore,
  NotificationRecord,
  Page,
  ProbeToken,
  StateQuery,
} from '../ports.js';

/** Index names and key layout; infra/aws creates exactly these. */
export const TABLE_KEYS = { pk: 'pk', sk: 'sk', ttl: 'expiresAt' } as const;
export const INDEX_BY_STATE = 'byState';
export const INDEX_BY_MAILBOX = 'byMailbox';

const messagePk = (id: string) => `MSG#${id}`;
const MESSAGE_SK = 'MSG';
const deliverySk = (recipient: string) => `RCPT#${recipient}`;
const HOLD_PK = 'HOLD';
const ORG_KEY = { pk: 'ORG', sk: 'STATE' };
const EVENT_PK = 'EVENT';
const AUDIT_PK = 'AUDIT';
const NOTIFY_PK = 'NOTIFY';
const PROBE_PK = 'PROBE';
const attemptPk = (route: string) => `ATTEMPT#${route}`;
/** Attempt samples feed a window of minutes; a day is plenty. */
const ATTEMPT_TTL_SECONDS = 86_400;
/** Audit entries and notifications outlive any event: kept ten years unless the table is purged. */
const LOG_TTL_SECONDS = 10 * 365 * 86_400;

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
}

function expiresAt(receivedAt: string, retentionDays: number): number {
  return Math.floor(Date.parse(receivedAt) / 1000) + retentionDays * 86_400;
}

function deliveryItem(d: DeliveryRecord, retentionDays: number): Record<string, unknown> {
  const item: Record<string, unknown> = {
    ...d,
    pk: messagePk(d.messageId),
    sk: deliverySk(d.recipient),
    gsi2pk: `MBX#${d.recipient}`,
    gsi2sk: `${d.receivedAt}#${d.messageId}`,
    expiresAt: expiresAt(d.receivedAt, retentionDays),
  };
  // Delivered mail leaves the queue index, so the index holds only what needs attention.
  if (d.state !== 'delivered') {
    item.gsi1pk = `Q#${d.state}`;
    item.gsi1sk = `${indexTime(d)}#${d.messageId}#${d.recipient}`;
  }
  return item;
}

function stripKeys<T>(item: Record<string, unknown>): T {
  const { pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk, expiresAt: _ttl, ...rest } = item;
  return rest as T;
}

function encodeCursor(key: Record<string, unknown> | undefined): string | undefined {
  return key ? Buffer.from(JSON.stringify(key)).toString('base64url') : undefined;
}

function decodeCursor(cursor: string | undefined): Record<string, unknown> | undefined {
  return cursor ? JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) : undefined;
}

/** The message store on DynamoDB's API (AWS, or dynalite on the local runtime). */
export function createDynamoStore(
  client: DynamoDBClient,
  options: DynamoStoreOptions,
): MessageStore & ContinuityStore {
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  const TableName = options.tableName;

  async function conditionalPut(
    Item: Record<string, unknown>,
    condition: string,
    values?: Record<string, unknown>,
  ) {
    try {
      await doc.send(
        new PutCommand({
          TableName,
          Item,
          ConditionExpression: condition,
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (err) {
      if (
        err instanceof ConditionalCheckFailedException ||
        (err as Error).name === 'ConditionalCheckFailedException'
      ) {
        return false;
      }
      throw err;
    }
  }

  async function newestFirst<T>(pk: string, limit: number): Promise<T[]> {
    const out = await doc.send(
      new QueryCommand({
        TableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': pk },
        ScanIndexForward: false,
        Limit: limit,
        ConsistentRead: true,
      }),
    );
    return (out.Items ?? []).map((i) => stripKeys<T>(i));
  }

  const epoch = (iso: string) => Math.floor(Date.parse(iso) / 1000);
  const unique = () => Math.random().toString(36).slice(2, 10);

  return {
    async getOrg() {
      const out = await doc.send(new GetCommand({ TableName, Key: ORG_KEY, ConsistentRead: true }));
      return out.Item ? stripKeys<OrgState>(out.Item) : undefined;
    },

    async putOrg(next: OrgState, expectedVersion: number) {
      const item = { ...next, ...ORG_KEY, version: expectedVersion + 1 };
      const wrote =
        expectedVersion === 0
          ? await conditionalPut(item, 'attribute_not_exists(pk)')
          : await conditionalPut(item, 'version = :v', { ':v': expectedVersion });
      if (!wrote) throw new ConflictError('the continuity state');
    },

    async getEvent(id) {
      const out = await doc.send(
        new GetCommand({ TableName, Key: { pk: EVENT_PK, sk: id }, ConsistentRead: true }),
      );
      return out.Item ? stripKeys<ContinuityEvent>(out.Item) : undefined;
    },

    async putEvent(event: ContinuityEvent) {
      await doc.send(new PutCommand({ TableName, Item: { ...event, pk: EVENT_PK, sk: event.id } }));
    },

    listEvents(limit) {
      return newestFirst<ContinuityEvent>(EVENT_PK, limit);
    },

    async appendAudit(entry: AuditEntry) {
      await doc.send(
        new PutCommand({
          TableName,
          Item: {
            ...entry,
            pk: AUDIT_PK,
            sk: `${entry.at}#${unique()}`,
            expiresAt: epoch(entry.at) + LOG_TTL_SECONDS,
          },
        }),
      );
    },

    listAudit(limit) {
      return newestFirst<AuditEntry>(AUDIT_PK, limit);
    },

    async putNotification(n: NotificationRecord) {
      await doc.send(
        new PutCommand({
          TableName,
          Item: { ...n, pk: NOTIFY_PK, sk: `${n.at}#${n.id}`, expiresAt: epoch(n.at) + LOG_TTL_SECONDS },
        }),
      );
    },

    listNotifications(limit) {
      return newestFirst<NotificationRecord>(NOTIFY_PK, limit);
    },

    async recordAttempt(sample: AttemptSample) {
      await doc.send(
        new PutCommand({
          TableName,
          Item: {
            ...sample,
            pk: attemptPk(sample.route),
            sk: `${sample.at}#${unique()}`,
            expiresAt: epoch(sample.at) + ATTEMPT_TTL_SECONDS,
          },
        }),
      );
    },

    async listAttempts(route, since) {
      const items: AttemptSample[] = [];
      let ExclusiveStartKey: Record<string, unknown> | undefined;
      do {
        const out = await doc.send(
          new QueryCommand({
            TableName,
            KeyConditionExpression: 'pk = :pk AND sk >= :since',
            ExpressionAttributeValues: { ':pk': attemptPk(route), ':since': since },
            ExclusiveStartKey,
          }),
        );
        for (const i of out.Items ?? []) items.push(stripKeys<AttemptSample>(i));
        ExclusiveStartKey = out.LastEvaluatedKey;
      } while (ExclusiveStartKey);
      return items;
    },

    async putProbeToken(t: ProbeToken) {
      await doc.send(
        new PutCommand({
          TableName,
          Item: { ...t, pk: PROBE_PK, sk: t.token, expiresAt: epoch(t.sentAt) + ATTEMPT_TTL_SECONDS },
        }),
      );
    },

    async getProbeToken(token) {
      const out = await doc.send(
        new GetCommand({ TableName, Key: { pk: PROBE_PK, sk: token }, ConsistentRead: true }),
      );
      return out.Item ? stripKeys<ProbeToken>(out.Item) : undefined;
    },

    async listProbeTokens(since) {
      const out = await doc.send(
        new QueryCommand({
          TableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': PROBE_PK },
          ConsistentRead: true,
        }),
      );
      return (out.Items ?? [])
        .map((i) => stripKeys<ProbeToken>(i))
        .filter((t) => t.sentAt >= since)
        .sort((a, b) => a.sentAt.localeCompare(b.sentAt));
    },

    async putMessage(message: MessageRecord) {
      await doc.send(
        new PutCommand({
          TableName,
          Item: {
            ...message,
            pk: messagePk(message.id),
            sk: MESSAGE_SK,
            // Messages of a day share one index partition: the console's and CLI's "recent mail".
            gsi1pk: `DAY#${message.receivedAt.slice(0, 10)}`,
            gsi1sk: `${message.receivedAt}#${message.id}`,
            expiresAt: expiresAt(message.receivedAt, options.retentionDays),
          },
        }),
      );
    },

    async getMessage(id) {
      const out = await doc.send(
        new GetCommand({ TableName, Key: { pk: messagePk(id), sk: MESSAGE_SK }, ConsistentRead: true }),
      );
      return out.Item ? stripKeys<MessageRecord>(out.Item) : undefined;
    },

    createDelivery(delivery) {
      return conditionalPut(deliveryItem(delivery, options.retentionDays), 'attribute_not_exists(pk)');
    },

    async getDelivery({ messageId, recipient }: DeliveryKey) {
      const out = await doc.send(
        new GetCommand({
          TableName,
          Key: { pk: messagePk(messageId), sk: deliverySk(recipient) },
          ConsistentRead: true,
        }),
      );
      return out.Item ? stripKeys<DeliveryRecord>(out.Item) : undefined;
    },

    async listDeliveries(messageId) {
      const items: DeliveryRecord[] = [];
      let ExclusiveStartKey: Record<string, unknown> | undefined;
      do {
        const out = await doc.send(
          new QueryCommand({
            TableName,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :rcpt)',
            ExpressionAttributeValues: { ':pk': messagePk(messageId), ':rcpt': 'RCPT#' },
            ConsistentRead: true,
            ExclusiveStartKey,
          }),
        );
        for (const item of out.Items ?? []) items.push(stripKeys<DeliveryRecord>(item));
        ExclusiveStartKey = out.LastEvaluatedKey;
      } while (ExclusiveStartKey);
      return items;
    },

    async replaceDelivery(next, expectedVersion) {
      const wrote = await conditionalPut(deliveryItem(next, options.retentionDays), 'version = :v', {
        ':v': expectedVersion,
      });
      if (!wrote) throw new ConflictError(`delivery ${next.messageId} for ${next.recipient}`);
    },

    async queryByState(query: StateQuery): Promise<Page<DeliveryRecord>> {
      const input: QueryCommandInput = {
        TableName,
        IndexName: INDEX_BY_STATE,
        KeyConditionExpression: query.before ? 'gsi1pk = :p AND gsi1sk < :b' : 'gsi1pk = :p',
        ExpressionAttributeValues: {
          ':p': `Q#${query.state}`,
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

    async listMessagesByDay(day, limit = 100, cursor) {
      const out = await doc.send(
        new QueryCommand({
          TableName,
          IndexName: INDEX_BY_STATE,
          KeyConditionExpression: 'gsi1pk = :p',
          ExpressionAttributeValues: { ':p': `DAY#${day}` },
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

    async putHold(hold: HoldRecord) {
      await doc.send(new PutCommand({ TableName, Item: { ...hold, pk: HOLD_PK, sk: hold.scope } }));
    },

    async deleteHold(scope) {
      await doc.send(new DeleteCommand({ TableName, Key: { pk: HOLD_PK, sk: scope } }));
    },

    async listHolds() {
      const out = await doc.send(
        new QueryCommand({
          TableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': HOLD_PK },
          ConsistentRead: true,
        }),
      );
      return (out.Items ?? []).map((i) => stripKeys<HoldRecord>(i));
    },
  };
}
