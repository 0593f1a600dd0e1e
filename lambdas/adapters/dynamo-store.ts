import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { ConflictError } from '../core/errors.js';
import type { DeliveryRecord, MessageRecord } from '../core/model.js';
import type { DeliveryKey, HoldRecord, MessageStore, Page, StateQuery } from '../ports.js';

/** Index names and key layout; infra/aws creates exactly these. */
export const TABLE_KEYS = { pk: 'pk', sk: 'sk', ttl: 'expiresAt' } as const;
export const INDEX_BY_STATE = 'byState';
export const INDEX_BY_MAILBOX = 'byMailbox';

const messagePk = (id: string) => `MSG#${id}`;
const MESSAGE_SK = 'MSG';
const deliverySk = (recipient: string) => `RCPT#${recipient}`;
const HOLD_PK = 'HOLD';

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
export function createDynamoStore(client: DynamoDBClient, options: DynamoStoreOptions): MessageStore {
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

  return {
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
