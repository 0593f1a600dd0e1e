import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import dynalite from 'dynalite';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LegacyDataError } from '../../infra/local/data-dir.js';
import { LEGACY_BUCKET, LEGACY_TABLE } from '../../infra/local/legacy-import.js';
import { startRuntime } from '../../infra/local/runtime.js';
import { createDynamoStore } from '../../lambdas/adapters/dynamo-store.js';
import { silentLogger } from '../../lambdas/adapters/logger.js';
import { createS3Blobs } from '../../lambdas/adapters/s3-blobs.js';
import type { ConfigInput, LifeboatConfig } from '../../lambdas/core/config.js';
import { parseConfig } from '../../lambdas/core/config.js';
import { initialOrgState } from '../../lambdas/core/continuity.js';
import { claimDelivery } from '../../lambdas/core/delivery-state.js';
import { ingestMessage } from '../../lambdas/core/ingest.js';
import { layoutTableInput } from '../support/aws-emulators.js';
import { passVerdicts } from '../support/fixtures.js';
import { freePort, writeConfigFile } from '../support/lifeboat-process.js';
import { ManualClock } from '../support/memory-store.js';
import { TestPrimary } from '../support/primary.js';
import {
  readFixture,
  repoRoot,
  routeTo,
  startTestRuntime,
  TEST_DOMAIN,
  type TestRuntime,
} from '../support/runtime.js';

const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
const SITE_VISIT = '<site-visit-20261120@sender.example>';

function listen(server: Server | import('node:net').Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
}

/**
 * A data folder as the previous version's `npm start` left it: dynalite's LevelDB under
 * `dynamodb/` and s3rver's objects under `s3/`, written through the DynamoDB and S3 adapters
 * and the same ingest. Alice's copy was delivered, Bob's deferred, Carol's in flight when the
 * old runtime stopped; one raw object has no record (its ingest never finished).
 */
async function writeLegacyData(dataDir: string, config: LifeboatConfig, clock: ManualClock) {
  const dynamoServer = dynalite({ path: path.join(dataDir, 'dynamodb'), createTableMs: 0 });
  const s3Server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    directory: path.join(dataDir, 's3'),
    silent: true,
    configureBuckets: [{ name: LEGACY_BUCKET, configs: [] }],
  });
  const dynamo = new DynamoDBClient({
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${await listen(dynamoServer)}`,
    credentials,
  });
  const s3 = new S3Client({
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${(await s3Server.run()).port}`,
    forcePathStyle: true,
    credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  try {
    await dynamo.send(new CreateTableCommand(layoutTableInput(LEGACY_TABLE)));
    while (
      (await dynamo.send(new DescribeTableCommand({ TableName: LEGACY_TABLE }))).Table?.TableStatus !==
      'ACTIVE'
    ) {
      await new Promise((r) => setTimeout(r, 5));
    }
    const store = createDynamoStore(dynamo, { tableName: LEGACY_TABLE, retentionDays: config.retentionDays });
    const blobs = createS3Blobs(s3, LEGACY_BUCKET);
    const raw = await readFixture('plain.eml');
    const id = 'legacy0000000000000000000000000000000001';
    await blobs.putRaw(`raw/${id}`, raw);
    await ingestMessage(
      {
        messageId: id,
        rawKey: `raw/${id}`,
        envelopeFrom: 'sender@sender.example',
        recipients: ['alice@example.com', 'bob@example.com', 'carol@example.com'],
        receivedAt: clock.now().toISOString(),
        verdicts: passVerdicts,
      },
      { blobs, store, config, clock, log: silentLogger },
    );
    const now = clock.now();
    const claim = async (recipient: string) => {
      const d = await store.getDelivery({ messageId: id, recipient });
      if (!d) throw new Error(`no delivery for ${recipient}`);
      const claimed = claimDelivery(d, now, 'old-worker', config.queue.leaseSeconds);
      await store.replaceDelivery(claimed, d.version);
      return claimed;
    };
    const alice = await claim('alice@example.com');
    await store.replaceDelivery(
      {
        ...alice,
        state: 'delivered',
        deliveredAt: now.toISOString(),
        nextAttemptAt: null,
        leaseId: null,
        lastResponse: '250 2.0.0 Ok',
        version: alice.version + 1,
      },
      alice.version,
    );
    const bob = await claim('bob@example.com');
    await store.replaceDelivery(
      {
        ...bob,
        state: 'deferred',
        nextAttemptAt: new Date(now.getTime() + 300_000).toISOString(),
        leaseId: null,
        lastError: '421 4.3.2 try later',
        version: bob.version + 1,
      },
      bob.version,
    );
    await claim('carol@example.com');
    await blobs.putRaw('raw/legacy0000000000000000000000000000000002', raw);
    await store.putOrg(initialOrgState(now), 0);
    await store.appendAudit({
      at: now.toISOString(),
      actor: 'admin@example.org',
      action: 'hold',
      detail: 'archive',
      eventId: null,
    });
    await store.putHold({
      scope: 'archive',
      reason: 'admin',
      since: now.toISOString(),
      by: 'admin@example.org',
    });
    return id;
  } finally {
    dynamo.destroy();
    s3.destroy();
    await s3Server.close();
    await new Promise<void>((resolve) => dynamoServer.close(() => resolve()));
  }
}

describe('the data folder of the previous version (dynalite and s3rver)', () => {
  let dir: string;
  let dataDir: string;
  let primary: TestPrimary;
  let config: LifeboatConfig;
  let clock: ManualClock;
  let messageId: string;
  let refusal: unknown;
  let imported: ReturnType<typeof spawnSync>;
  let rt: TestRuntime;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'lifeboat-legacy-'));
    dataDir = path.join(dir, 'data');
    primary = await TestPrimary.start();
    const input: ConfigInput = {
      domains: [TEST_DOMAIN],
      routes: [routeTo('primary', [primary], { domains: [TEST_DOMAIN] })],
      local: { dataDir, smtpPort: await freePort(), apiPort: await freePort() },
    };
    config = parseConfig(input, 'legacy test config');
    const configFile = await writeConfigFile(dir, input);
    clock = new ManualClock(new Date(Math.floor(Date.now() / 1000) * 1000));
    messageId = await writeLegacyData(dataDir, config, clock);

    refusal = await startRuntime({ config, dataDir, ports: { smtp: 0 }, api: false }).then(
      async (started) => {
        await started.stop();
        return null;
      },
      (err: unknown) => err,
    );
    imported = spawnSync(process.execPath, [path.join(repoRoot, 'bin/lifeboat.mjs'), 'import-legacy'], {
      cwd: dir,
      env: { ...process.env, LIFEBOAT_CONFIG_FILE: configFile },
      encoding: 'utf8',
    });
    if (imported.status !== 0) throw new Error(`import-legacy failed: ${imported.stderr}${imported.stdout}`);
    rt = await startTestRuntime({ config, dataDir, clock });
    await rt.idle();
  }, 60_000);

  afterAll(async () => {
    await rt?.stop();
    await primary.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('is refused at start with the command that imports it', () => {
    expect(refusal).toBeInstanceOf(LegacyDataError);
    expect((refusal as Error).message).toContain('npx lifeboat import-legacy');
  });

  it('is imported by npx lifeboat import-legacy', () => {
    expect(imported.stderr).toBe('');
    expect(imported.status).toBe(0);
    expect(imported.stdout).toContain('imported 1 messages and 3 deliveries');
  });

  it('keeps each recipient’s state, so delivered mail is not sent again', async () => {
    expect(await rt.message(messageId)).toMatchObject({ subject: 'Site visit moved to Thursday' });
    expect(await rt.delivery(messageId, 'alice@example.com')).toMatchObject({
      state: 'delivered',
      attempts: 1,
    });
    expect(await rt.delivery(messageId, 'bob@example.com')).toMatchObject({ state: 'deferred', attempts: 1 });
    expect(primary.copiesFor(SITE_VISIT, 'alice@example.com')).toBe(0);
  });

  it('sends at once the delivery the old runtime had in flight', async () => {
    expect(rt.recovery.reclaimed).toBe(1);
    expect(await rt.delivery(messageId, 'carol@example.com')).toMatchObject({ state: 'delivered' });
    expect(primary.copiesFor(SITE_VISIT, 'carol@example.com')).toBe(1);
  });

  it('keeps holds and the audit log', async () => {
    expect((await rt.ctx.store.listHolds()).map((h) => h.scope)).toEqual(['archive']);
    expect((await rt.ctx.continuity.listAudit(10)).map((a) => a.action)).toEqual(['hold']);
  });

  it('copies a raw object without a record but does not deliver it', async () => {
    expect(rt.recovery.unacknowledged).toBe(1);
    expect((await rt.stores.blobs.listRaw()).length).toBe(2);
  });

  it('renames the old folders, so the next start uses the imported store', () => {
    expect(existsSync(path.join(dataDir, 'dynamodb.imported'))).toBe(true);
    expect(existsSync(path.join(dataDir, 's3.imported'))).toBe(true);
    expect(existsSync(path.join(dataDir, 'dynamodb'))).toBe(false);
    expect(existsSync(path.join(dataDir, 's3'))).toBe(false);
  });
});
