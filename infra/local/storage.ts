import { CreateTableCommand, DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { INDEX_BY_MAILBOX, INDEX_BY_STATE } from '../../lambdas/adapters/dynamo-store.js';

/** Creates the table with the same keys and indexes as infra/aws, unless it exists (data survives restarts). */
export async function ensureTable(client: DynamoDBClient, TableName: string): Promise<void> {
  try {
    await client.send(new DescribeTableCommand({ TableName }));
    return;
  } catch (err) {
    if ((err as Error).name !== 'ResourceNotFoundException') throw err;
  }
  const gsi = (IndexName: string, pk: string, sk: string) => ({
    IndexName,
    KeySchema: [
      { AttributeName: pk, KeyType: 'HASH' as const },
      { AttributeName: sk, KeyType: 'RANGE' as const },
    ],
    Projection: { ProjectionType: 'ALL' as const },
  });
  await client.send(
    new CreateTableCommand({
      TableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: ['pk', 'sk', 'gsi1pk', 'gsi1sk', 'gsi2pk', 'gsi2sk'].map((AttributeName) => ({
        AttributeName,
        AttributeType: 'S' as const,
      })),
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        gsi(INDEX_BY_STATE, 'gsi1pk', 'gsi1sk'),
        gsi(INDEX_BY_MAILBOX, 'gsi2pk', 'gsi2sk'),
      ],
    }),
  );
  // dynalite creates tables asynchronously; wait until it is ACTIVE.
  for (let i = 0; i < 100; i++) {
    const out = await client.send(new DescribeTableCommand({ TableName }));
    if (out.Table?.TableStatus === 'ACTIVE') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`table ${TableName} did not become ACTIVE`);
}
