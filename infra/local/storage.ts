import { Worker } from 'node:worker_threads';
import { CreateTableCommand, DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { INDEX_BY_MAILBOX, INDEX_BY_STATE } from '../../lambdas/adapters/dynamo-store.js';

export interface StorageOptions {
  /** dynalite's LevelDB folder. */
  dynamoDir: string;
  /** s3rver's folder. */
  s3Dir: string;
  /** Loopback address both listen on. */
  host: string;
  /** 0 picks a free port. */
  dynamoPort: number;
  s3Port: number;
  /** Created in s3rver unless it exists. */
  bucket: string;
}

/** dynalite and s3rver for one data folder, listening, in the storage thread. */
export interface Storage {
  dynamoPort: number;
  s3Port: number;
  /** Closes both servers, and LevelDB so the folder can be opened again. */
  stop(): Promise<void>;
}

type WorkerReply =
  | { type: 'ready'; id: number; dynamoPort: number; s3Port: number }
  | { type: 'error'; id: number; message: string; code?: string }
  | { type: 'stopped'; id: number };

const STORAGE_WORKER = new URL('./storage-worker.mjs', import.meta.url);

/** The storage thread of this process, shared by its runtimes; replaced if it ever dies. */
interface StorageHost {
  worker: Worker;
  /** Replies awaited, by instance id. */
  waiting: Map<number, (reply: WorkerReply | Error) => void>;
  /** Instances started and not yet stopped: while any is, the thread keeps the process alive. */
  running: number;
  /** Why the thread ended, once it has. */
  ended?: Error;
}

let host: StorageHost | undefined;
let nextId = 1;

function storageHost(): StorageHost {
  if (host) return host;
  const worker = new Worker(STORAGE_WORKER);
  const current: StorageHost = { worker, waiting: new Map(), running: 0 };
  const fail = (err: Error) => {
    if (host === current) host = undefined;
    current.ended ??= err;
    for (const reply of current.waiting.values()) reply(err);
    current.waiting.clear();
  };
  worker.on('message', (m: WorkerReply) => {
    const reply = current.waiting.get(m.id);
    current.waiting.delete(m.id);
    reply?.(m);
  });
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`the storage thread exited with code ${code}`)));
  host = current;
  return current;
}

function request(h: StorageHost, id: number, message: object): Promise<WorkerReply> {
  return new Promise((resolve, reject) => {
    if (h.ended) return reject(h.ended);
    h.waiting.set(id, (reply) => (reply instanceof Error ? reject(reply) : resolve(reply)));
    h.worker.postMessage({ ...message, id });
  });
}

function hold(h: StorageHost, delta: 1 | -1): void {
  h.running += delta;
  // An idle thread must not keep a finished process (a test run, the CLI) from exiting.
  if (h.running > 0) h.worker.ref();
  else h.worker.unref();
}

/**
 * Starts dynalite and s3rver for one data folder in the process's storage thread
 * (storage-worker.mjs), so the emulators run on a core of their own instead of sharing the
 * runtime's event loop. A thread, not a process: it ends with the runtime however the runtime
 * ends, even on a crash, so nothing is left listening; and it starts once per process, so a
 * runtime starts in milliseconds after the first.
 * @throws the listen error (`code` EADDRINUSE when a port is taken)
 */
export async function startStorage(options: StorageOptions): Promise<Storage> {
  const h = storageHost();
  const id = nextId++;
  hold(h, 1);
  let reply: WorkerReply;
  try {
    reply = await request(h, id, { type: 'start', options });
  } catch (err) {
    hold(h, -1);
    throw err;
  }
  if (reply.type !== 'ready') {
    hold(h, -1);
    const message = reply.type === 'error' ? reply.message : 'the storage thread did not start';
    throw Object.assign(new Error(message), reply.type === 'error' && reply.code ? { code: reply.code } : {});
  }
  let stopping: Promise<void> | undefined;
  return {
    dynamoPort: reply.dynamoPort,
    s3Port: reply.s3Port,
    stop() {
      stopping ??= request(h, id, { type: 'stop' })
        .then(
          () => {},
          () => {
            // The thread is gone, and the servers with it.
          },
        )
        .finally(() => hold(h, -1));
      return stopping;
    },
  };
}

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
