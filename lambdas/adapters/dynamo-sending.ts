import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { ConflictError, ValidationError } from '../core/errors.js';
import type { Page, SendingKind, SendingRecord, SendingStore } from '../ports.js';
import { INDEXES, KEYS, TABLE_KEYS } from '../storage-layout.js';

const { pk: PK, sk: SK, ttl: TTL } = TABLE_KEYS;
const { byState } = INDEXES;

/** The highest code unit: the upper end of a key range that has no cursor. */
const KEY_END = '\uffff';

/** A cursor is an id this store returned: the time-ordered ids of the core, nothing else. */
const CURSOR = /^[A-Za-z0-9_.-]{1,64}$/;

interface Item {
  record: string;
  version: number;
}

/**
 * Drafts, uploads, the outbound queue with the Sent view, and signatures in the message table:
 * each record one item under its user's partition (`USER#<id>`, sk `SEND#<kind>#<id>`), the core's
 * record as JSON beside its `version` (the conditions compare it) and `expiresAt` (DynamoDB's TTL).
 * A record with a due time is also in the byState index under `SENDDUE`, sorted by it: the outbound
 * worker reads what is due in one query. Every write is one conditional PutItem or DeleteItem, as
 * the SQLite adapter does one conditional statement; no transaction is needed.
 */
export function createDynamoSendingStore(
  client: DynamoDBClient,
  options: { tableName: string },
): SendingStore {
  const doc = DynamoDBDocumentClient.from(client);
  const TableName = options.tableName;
  const key = (kind: SendingKind, user: string, id: string) => ({
    [PK]: KEYS.userPk(user),
    [SK]: KEYS.sendingSk(kind, id),
  });
  const parse = <T>(item: Record<string, unknown>) => JSON.parse(item.record as string) as SendingRecord<T>;
  const conflict = (kind: string, id: string) => (err: unknown) => {
    if (err instanceof ConditionalCheckFailedException) throw new ConflictError(`${kind} ${id}`);
    throw err;
  };

  /** Reads a range until `want` items or its end (a page stops at 1 MB whatever Limit says). */
  async function queryAll(input: QueryCommandInput, want: number): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await doc.send(
        new QueryCommand({ ...input, Limit: want - items.length, ExclusiveStartKey: start }),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start && items.length < want);
    return items;
  }

  return {
    async getSending<T>(kind: SendingKind, user: string, id: string) {
      const out = await doc.send(
        new GetCommand({ TableName, Key: key(kind, user, id), ConsistentRead: true }),
      );
      return out.Item ? parse<T>(out.Item) : undefined;
    },

    async putSending(record, expectedVersion) {
      const item: Record<string, unknown> & Item = {
        ...key(record.kind, record.user, record.id),
        [TTL]: record.expiresAt,
        version: record.version,
        record: JSON.stringify(record),
      };
      if (record.dueAt !== null) {
        item[byState.pk] = KEYS.sendingDuePk;
        item[byState.sk] = KEYS.sendingDueSk(record.dueAt, record.kind, record.user, record.id);
      }
      await doc
        .send(
          new PutCommand({
            TableName,
            Item: item,
            ...(expectedVersion === 0
              ? { ConditionExpression: 'attribute_not_exists(#pk)', ExpressionAttributeNames: { '#pk': PK } }
              : {
                  ConditionExpression: '#v = :v',
                  ExpressionAttributeNames: { '#v': 'version' },
                  ExpressionAttributeValues: { ':v': expectedVersion },
                }),
          }),
        )
        .catch(conflict(record.kind, record.id));
    },

    async deleteSending(kind, user, id, expectedVersion) {
      await doc
        .send(
          new DeleteCommand({
            TableName,
            Key: key(kind, user, id),
            ConditionExpression: '#v = :v',
            ExpressionAttributeNames: { '#v': 'version' },
            ExpressionAttributeValues: { ':v': expectedVersion },
          }),
        )
        .catch(conflict(kind, id));
    },

    async listSending<T>(
      kind: SendingKind,
      user: string,
      query: { limit: number; cursor?: string | undefined; sinceId?: string | undefined },
    ): Promise<Page<SendingRecord<T>>> {
      if (query.cursor !== undefined && !CURSOR.test(query.cursor))
        throw new ValidationError('cursor', ['is not a cursor this store returned']);
      const prefix = KEYS.sendingSkPrefix(kind);
      // BETWEEN is inclusive: the cursor's own record comes back first and is dropped; one record
      // more than asked says whether there is a next page, so the last page has no cursor.
      const items = (
        await queryAll(
          {
            TableName,
            KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :lo AND :hi',
            ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
            ExpressionAttributeValues: {
              ':pk': KEYS.userPk(user),
              ':lo': `${prefix}${query.sinceId ?? ''}`,
              ':hi': `${prefix}${query.cursor ?? KEY_END}`,
            },
            ScanIndexForward: false,
            ConsistentRead: true,
          },
          query.limit + 2,
        )
      )
        .map((item) => parse<T>(item))
        .filter((r) => r.id !== query.cursor)
        .slice(0, query.limit + 1);
      const page = items.slice(0, query.limit);
      return { items: page, cursor: items.length > query.limit ? page.at(-1)?.id : undefined };
    },

    async listSendingDue(before, limit) {
      const items = await queryAll(
        {
          TableName,
          IndexName: byState.name,
          KeyConditionExpression: '#pk = :pk AND #sk < :b',
          ExpressionAttributeNames: { '#pk': byState.pk, '#sk': byState.sk },
          // Due at `before` itself counts: its key is `<before>#…`, below `<before>#` and the end.
          ExpressionAttributeValues: { ':pk': KEYS.sendingDuePk, ':b': `${before}#${KEY_END}` },
          ScanIndexForward: true,
        },
        limit,
      );
      return items.map((item) => parse(item));
    },
  };
}
