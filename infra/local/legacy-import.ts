import { existsSync } from 'node:fs';
import { mkdtemp, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createDynamoStore } from '../../lambdas/adapters/dynamo-store.js';
import { createFileBlobs } from '../../lambdas/adapters/local/file-blobs.js';
import { openSqliteStore } from '../../lambdas/adapters/local/sqlite-store.js';
import type { SesEvent } from '../../lambdas/adapters/ses-event.js';
import { type LifeboatConfig, recordDays } from '../../lambdas/core/config.js';
import { LifeboatError } from '../../lambdas/core/errors.js';
import type { MessageRecord } from '../../lambdas/core/model.js';
import type { Logger } from '../../lambdas/ports.js';
import { RAW_PREFIX } from '../../lambdas/storage-layout.js';
import { dataLayout, ensurePrivateDir, hasLegacyData } from './data-dir.js';
import { createReceiptStore } from './receipts.js';

/** The table and bucket names the previous version's local runtime used. */
export const LEGACY_TABLE = 'lifeboat';
export const LEGACY_BUCKET = 'lifeboat-raw';

/** How s3rver (3.x) names an object's bytes on disk: `<bucket>/<key>._S3rver_object`. */
const S3RVER_OBJECT_SUFFIX = '._S3rver_object';

/**
 * More log entries than any local installation holds: the continuity store lists newest first up
 * to a limit, and the import wants all of them.
 */
const ALL_RECORDS = 1_000_000;

/** What the import copied. */
export interface LegacyImportResult {
  messages: number;
  deliveries: number;
  /** Raw objects without a record (never acknowledged by the old version): copied, not delivered. */
  unrecorded: number;
  holds: number;
  events: number;
  auditEntries: number;
  notifications: number;
  probeTokens: number;
}

/** The SES-shaped event the receiver would have stored for a message, rebuilt from its record. */
export function receiptOf(message: MessageRecord): SesEvent {
  const status = (s: string) => ({ status: s });
  const v = message.verdicts;
  return {
    Records: [
      {
        eventSource: 'aws:ses',
        ses: {
          mail: {
            timestamp: message.receivedAt,
            source: message.envelopeFrom,
            messageId: message.id,
            destination: message.recipients,
          },
          receipt: {
            timestamp: message.receivedAt,
            recipients: message.recipients,
            spamVerdict: status(v.spam),
            virusVerdict: status(v.virus),
            spfVerdict: status(v.spf),
            dkimVerdict: status(v.dkim),
            dmarcVerdict: status(v.dmarc),
            ...(v.dmarcPolicy ? { dmarcPolicy: v.dmarcPolicy.toLowerCase() } : {}),
            action: { type: 'Lambda', invocationType: 'Event' },
          },
        },
      },
    ],
  };
}

/**
 * dynalite over the old LevelDB folder, listening on a Unix socket in a private temp folder (no
 * TCP port, not even for the import), and a DynamoDB client that connects to it.
 */
async function openLegacyTable(dynamoDir: string) {
  let dynalite: typeof import('dynalite').default;
  try {
    dynalite = (await import('dynalite')).default;
  } catch (err) {
    throw new LifeboatError(
      'LEGACY_IMPORT_NEEDS_DYNALITE',
      'reading the earlier version’s data needs dynalite, which `npm install` installs (it is a development dependency): run `npm install` and then `npx lifeboat import-legacy` again',
      { cause: err },
    );
  }
  const socketDir = await mkdtemp(path.join(os.tmpdir(), 'lifeboat-import-'));
  const socket = path.join(socketDir, 'dynalite.sock');
  const server = dynalite({ path: dynamoDir, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  const agent = new http.Agent({ keepAlive: true });
  // Every request goes to the socket, whatever host the SDK names.
  (agent as unknown as { createConnection: () => net.Socket }).createConnection = () => net.connect(socket);
  const client = new DynamoDBClient({
    region: 'us-east-1',
    endpoint: 'http://localhost',
    credentials: { accessKeyId: 'legacy', secretAccessKey: 'legacy' },
    requestHandler: { httpAgent: agent },
  });
  return {
    client,
    async close() {
      client.destroy();
      agent.destroy();
      // Closing the server closes LevelDB, so the folder can be renamed.
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(socketDir, { recursive: true, force: true });
    },
  };
}

/** fsync of a folder, so the renames in it survive a power cut. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The old folder's new name: `<name>.imported`, or with a number when that exists already. */
function importedName(folder: string): string {
  let name = `${folder}.imported`;
  for (let n = 2; existsSync(name); n++) name = `${folder}.imported-${n}`;
  return name;
}

/**
 * Imports the data folder of the previous version (dynalite's LevelDB under `dynamodb/`, s3rver's
 * objects under `s3/`) into this version's stores in the same folder: every raw message, each
 * message record with a receipt rebuilt from it, every delivery in the state the old records
 * say (delivered mail is not sent again; mail that was `delivering` is reclaimed at the next
 * start), holds, the continuity state, events, the audit log, the outbox and probe tokens. The
 * organic probe's attempt samples are not copied: they cover minutes, and the next deliveries
 * make new ones.
 *
 * The records go to a new database file that takes its name only once complete, so an import cut
 * short leaves no half store behind and can be run again. Then the old folders are renamed to
 * `dynamodb.imported` and `s3.imported`, which the runtime ignores.
 */
export async function importLegacyData(
  config: LifeboatConfig,
  dataDir: string,
  log: Logger,
): Promise<LegacyImportResult> {
  const layout = dataLayout(dataDir);
  if (!hasLegacyData(layout)) {
    throw new LifeboatError(
      'NO_LEGACY_DATA',
      `${layout.dataDir} holds no data of an earlier version (no dynamodb/ or s3/ folder): nothing to import`,
    );
  }
  if (existsSync(layout.database) && (await stat(layout.database)).size > 0) {
    throw new LifeboatError(
      'LEGACY_IMPORT_TARGET_EXISTS',
      `${layout.database} exists already: the import writes a new store; move that file away first`,
    );
  }
  await ensurePrivateDir(layout.dataDir, log);
  const importing = `${layout.database}.importing`;
  for (const leftover of [importing, `${importing}-wal`, `${importing}-shm`])
    await rm(leftover, { force: true });

  const objectsDir = path.join(layout.legacy.s3, LEGACY_BUCKET, RAW_PREFIX);
  const ids = existsSync(objectsDir)
    ? (await readdir(objectsDir))
        .filter((name) => name.endsWith(S3RVER_OBJECT_SUFFIX))
        .map((name) => name.slice(0, -S3RVER_OBJECT_SUFFIX.length))
        .sort()
    : [];
  const legacy = existsSync(layout.legacy.dynamodb) ? await openLegacyTable(layout.legacy.dynamodb) : null;
  const result: LegacyImportResult = {
    messages: 0,
    deliveries: 0,
    unrecorded: 0,
    holds: 0,
    events: 0,
    auditEntries: 0,
    notifications: 0,
    probeTokens: 0,
  };
  const store = openSqliteStore(importing, { retentionDays: recordDays(config) });
  try {
    const old = legacy
      ? createDynamoStore(legacy.client, { tableName: LEGACY_TABLE, retentionDays: recordDays(config) })
      : null;
    const blobs = createFileBlobs(layout.rawDir);
    const receipts = createReceiptStore(layout.receiptsDir);
    for (const id of ids) {
      await blobs.putRaw(
        `${RAW_PREFIX}${id}`,
        await readFile(path.join(objectsDir, `${id}${S3RVER_OBJECT_SUFFIX}`)),
      );
      const message = await old?.getMessage(id);
      if (!message) {
        result.unrecorded++;
        continue;
      }
      await receipts.put(receiptOf(message));
      await store.putMessage(message);
      result.messages++;
      for (const d of (await old?.listDeliveries(id)) ?? []) {
        if (await store.createDelivery(d)) result.deliveries++;
      }
    }
    if (old) {
      for (const hold of await old.listHolds()) {
        await store.putHold(hold);
        result.holds++;
      }
      const org = await old.getOrg();
      if (org) await store.putOrg(org, 0);
      for (const event of await old.listEvents(ALL_RECORDS)) {
        await store.putEvent(event);
        result.events++;
      }
      // Oldest first, so the new log lists them in the order they happened.
      for (const entry of (await old.listAudit(ALL_RECORDS)).reverse()) {
        await store.appendAudit(entry);
        result.auditEntries++;
      }
      for (const n of (await old.listNotifications(ALL_RECORDS)).reverse()) {
        await store.putNotification(n);
        result.notifications++;
      }
      for (const token of await old.listProbeTokens(new Date(0).toISOString())) {
        await store.putProbeToken(token);
        result.probeTokens++;
      }
    }
  } finally {
    store.close();
    await legacy?.close();
  }
  // Closing the last connection checkpoints the WAL into the file and removes it; a WAL still
  // there would hold records that a rename of the file alone would leave behind.
  if (existsSync(`${importing}-wal`)) {
    throw new LifeboatError(
      'LEGACY_IMPORT_INCOMPLETE',
      `${importing}-wal was not checkpointed; run the import again`,
    );
  }
  await rename(importing, layout.database);
  for (const folder of [layout.legacy.dynamodb, layout.legacy.s3]) {
    if (existsSync(folder)) await rename(folder, importedName(folder));
  }
  await syncDir(layout.dataDir);
  log.info('imported the earlier version’s data', { ...result });
  return result;
}
