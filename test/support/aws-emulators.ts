import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { INDEXES, TABLE_KEYS } from '../../lambdas/storage-layout.js';

// Test tools only, loaded by require so their typings live here and nowhere in the product.
const require = createRequire(import.meta.url);
const dynalite = require('dynalite') as (options: {
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}) => Server;
const S3rver = require('s3rver') as new (options: {
  address: string;
  port: number;
  directory: string;
  silent: boolean;
}) => { run(): Promise<AddressInfo>; close(): Promise<void> };

/** Loopback only: nothing outside this machine reaches a test's mail. */
const HOST = '127.0.0.1';

/** dynalite activates a table within milliseconds; a few hundred polls is a broken emulator. */
const TABLE_ACTIVE_POLLS = 400;

/** dynalite accepts any credentials, s3rver only its own. */
const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/** dynalite (in memory) and s3rver (in a temp folder), listening on free loopback ports in this process. */
export interface AwsEmulators {
  dynamo: DynamoDBClient;
  s3: S3Client;
  /** Creates a table with the storage layout's keys and every index, under a fresh name. */
  createTable(): Promise<string>;
  /** Creates an empty bucket under a fresh name. */
  createBucket(): Promise<string>;
  stop(): Promise<void>;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => {
      server.removeListener('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** The table as infra/aws/constructs/store.ts declares it: the same keys and indexes, all from the layout. */
export function layoutTableInput(TableName: string): CreateTableCommandInput {
  const indexes = Object.values(INDEXES);
  const attributes = [TABLE_KEYS.pk, TABLE_KEYS.sk, ...indexes.flatMap((i) => [i.pk, i.sk])];
  return {
    TableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: attributes.map((AttributeName) => ({ AttributeName, AttributeType: 'S' })),
    KeySchema: [
      { AttributeName: TABLE_KEYS.pk, KeyType: 'HASH' },
      { AttributeName: TABLE_KEYS.sk, KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: indexes.map((i) => ({
      IndexName: i.name,
      KeySchema: [
        { AttributeName: i.pk, KeyType: 'HASH' },
        { AttributeName: i.sk, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: i.projection },
    })),
  };
}

/**
 * Starts dynalite and s3rver in this process on loopback port 0, with SDK clients configured as
 * the adapters need (path-style S3, checksums only when required: s3rver would otherwise store
 * the aws-chunked framing as the object).
 */
export async function startAwsEmulators(): Promise<AwsEmulators> {
  const s3Dir = await mkdtemp(path.join(tmpdir(), 'lifeboat-s3rver-'));
  const dynamoServer = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const s3Server = new S3rver({ address: HOST, port: 0, directory: s3Dir, silent: true });
  let dynamoPort: number;
  let s3Port: number;
  try {
    dynamoPort = await listen(dynamoServer);
    s3Port = (await s3Server.run()).port;
  } catch (err) {
    if (dynamoServer.listening) dynamoServer.close();
    await rm(s3Dir, { recursive: true, force: true });
    throw err;
  }
  const region = 'us-east-1';
  const dynamo = new DynamoDBClient({ region, endpoint: `http://${HOST}:${dynamoPort}`, credentials });
  const s3 = new S3Client({
    region,
    endpoint: `http://${HOST}:${s3Port}`,
    forcePathStyle: true,
    credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const fresh = (prefix: string) => `${prefix}-${randomBytes(6).toString('hex')}`;

  return {
    dynamo,
    s3,
    async createTable() {
      const TableName = fresh('lifeboat');
      await dynamo.send(new CreateTableCommand(layoutTableInput(TableName)));
      // dynalite makes a table ACTIVE asynchronously even with createTableMs 0.
      for (let i = 0; i < TABLE_ACTIVE_POLLS; i++) {
        const out = await dynamo.send(new DescribeTableCommand({ TableName }));
        if (out.Table?.TableStatus === 'ACTIVE') return TableName;
        await new Promise((r) => setTimeout(r, 5));
      }
      throw new Error(`table ${TableName} did not become ACTIVE`);
    },
    async createBucket() {
      const Bucket = fresh('lifeboat-raw');
      await s3.send(new CreateBucketCommand({ Bucket }));
      return Bucket;
    },
    async stop() {
      dynamo.destroy();
      s3.destroy();
      await s3Server.close();
      await new Promise<void>((resolve) => dynamoServer.close(() => resolve()));
      await rm(s3Dir, { recursive: true, force: true });
    },
  };
}
