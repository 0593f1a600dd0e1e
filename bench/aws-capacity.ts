import {
  type AttributeValue,
  DynamoDBClient,
  GetItemCommand,
  QueryCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import type { MiddlewareStack } from '@smithy/types';
import { createDynamoStore } from '../lambdas/adapters/dynamo-store.js';
import { silentLogger } from '../lambdas/adapters/logger.js';
import { createS3Blobs } from '../lambdas/adapters/s3-blobs.js';
import { parseConfig, recordDays } from '../lambdas/core/config.js';
import { runProbeRound } from '../lambdas/core/continuity-service.js';
import { deliverMessage } from '../lambdas/core/deliver.js';
import { ACCEPTED_RECOUNT_MINUTES, ROLL_UP_DELAY_MS } from '../lambdas/core/flow-metrics.js';
import { ingestMessage } from '../lambdas/core/ingest.js';
import { sweepDue } from '../lambdas/core/sweep.js';
import type { Mailer, SmtpProber } from '../lambdas/ports.js';
import { INDEXES, RAW_PREFIX, TABLE_KEYS } from '../lambdas/storage-layout.js';
import type { AwsEmulators } from '../test/support/aws-emulators.js';
import { ManualClock } from '../test/support/memory-store.js';
import { ASSUMPTIONS } from './aws-cost.js';

/**
 * What the mail path really asks of DynamoDB and S3, measured rather than typed in: the AWS
 * adapters run the core's ingest, first delivery, probe round and sweep against dynalite and
 * s3rver, and every DynamoDB call is priced by DynamoDB's own rules from the item before and after
 * it (dynalite reports no index capacity): a write unit per started KB of the larger of the two; per
 * global secondary index, nothing when the item is not in it, a put or a delete when it enters or
 * leaves, both when its index key changes, and an update when a projected attribute changes under
 * the same key (never for a keys-only index). Reads: a unit per started 4 KB, half for an
 * eventually consistent read. bench/aws-cost.ts prices the month from these figures, and
 * test/integration/aws-capacity.test.ts holds its inputs equal to them.
 */

type Item = Record<string, AttributeValue>;

/** DynamoDB's item size: attribute names and values in bytes (the Developer Guide's rules). */
export function itemBytes(item: Item | undefined): number {
  if (!item) return 0;
  let bytes = 0;
  for (const [name, value] of Object.entries(item)) bytes += Buffer.byteLength(name) + valueBytes(value);
  return bytes;
}

function valueBytes(v: AttributeValue): number {
  if (v.S !== undefined) return Buffer.byteLength(v.S);
  if (v.N !== undefined) return Math.ceil(v.N.replace(/^-|\.|e.*$/gi, '').replace(/^0+/, '').length / 2) + 1;
  if (v.B !== undefined) return v.B.length;
  if (v.BOOL !== undefined || v.NULL !== undefined) return 1;
  if (v.L !== undefined) return 3 + v.L.reduce((n, e) => n + 1 + valueBytes(e), 0);
  if (v.M !== undefined) return 3 + itemBytes(v.M) + Object.keys(v.M).length;
  if (v.SS !== undefined) return v.SS.reduce((n, s) => n + Buffer.byteLength(s), 0);
  if (v.NS !== undefined) return v.NS.reduce((n, s) => n + s.length, 0);
  return 0;
}

const KB = 1024;
const units = (bytes: number, per: number) => Math.max(1, Math.ceil(bytes / per));

/** The part of an item an index copies: all of it, or the table's and the index's keys. */
function projected(item: Item, index: (typeof INDEXES)[keyof typeof INDEXES]): Item {
  if (index.projection === 'ALL') return item;
  const keys: Item = {};
  for (const name of [TABLE_KEYS.pk, TABLE_KEYS.sk, index.pk, index.sk]) {
    const v = item[name];
    if (v) keys[name] = v;
  }
  return keys;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Write units one index is charged for a write that took an item from `before` to `after`. */
function indexWriteUnits(
  index: (typeof INDEXES)[keyof typeof INDEXES],
  before: Item | undefined,
  after: Item | undefined,
): number {
  const keyOf = (i: Item | undefined) =>
    i?.[index.pk] && i[index.sk]
      ? `${JSON.stringify(i[index.pk])} ${JSON.stringify(i[index.sk])}`
      : undefined;
  const was = keyOf(before);
  const is = keyOf(after);
  if (!was && !is) return 0;
  const size = (i: Item) => itemBytes(projected(i, index));
  if (was && !is) return units(size(before as Item), KB);
  if (!was && is) return units(size(after as Item), KB);
  if (was !== is) return units(size(before as Item), KB) + units(size(after as Item), KB);
  const [b, a] = [projected(before as Item, index), projected(after as Item, index)];
  return same(b, a) ? 0 : units(Math.max(itemBytes(b), itemBytes(a)), KB);
}

/** What a record is, from its key: the label each write is counted under. */
export function recordKind(key: Item): string {
  const pk = key[TABLE_KEYS.pk]?.S ?? '';
  const sk = key[TABLE_KEYS.sk]?.S ?? '';
  if (pk.startsWith('MSG#'))
    return sk === 'MSG' ? 'message' : sk.startsWith('RCPT#') ? 'delivery' : 'delivery attempt';
  if (pk === 'COUNT') return 'state counters';
  if (pk.startsWith('METRIC#')) return 'flow buckets';
  if (pk.startsWith('ATTEMPT#')) return 'attempt samples';
  return pk.split('#')[0]?.toLowerCase() ?? 'other';
}

export interface Capacity {
  /** Write units by what was written: `<record>` for the table, `<record> → <index>` for an index. */
  writes: Record<string, number>;
  /** Read units by command. */
  reads: Record<string, number>;
  /** S3 requests by command. */
  s3: Record<string, number>;
}

const emptyCapacity = (): Capacity => ({ writes: {}, reads: {}, s3: {} });
const add = (into: Record<string, number>, key: string, n: number) => {
  if (n) into[key] = (into[key] ?? 0) + n;
};
export const total = (by: Record<string, number>) => Object.values(by).reduce((a, b) => a + b, 0);

interface Meter {
  capacity: Capacity;
  take(): Capacity;
}

type AnyStack = MiddlewareStack<object, object>;

/**
 * Prices every call the client makes from then on. `raw` is an unmetered client on the same
 * endpoint: it reads each written item before and after the write, and repeats each read to size
 * what it returned.
 */
function meterDynamo(client: DynamoDBClient, raw: DynamoDBClient, meter: Meter): void {
  const get = async (TableName: string, Key: Item) =>
    (await raw.send(new GetItemCommand({ TableName, Key, ConsistentRead: true }))).Item;
  const keyOf = (item: Item): Item => ({
    [TABLE_KEYS.pk]: item[TABLE_KEYS.pk] as AttributeValue,
    [TABLE_KEYS.sk]: item[TABLE_KEYS.sk] as AttributeValue,
  });
  (client.middlewareStack as unknown as AnyStack).add(
    (next, context) => async (args) => {
      const command = (context as { commandName?: string }).commandName ?? '';
      const body = (args as { request?: { body?: unknown } }).request?.body;
      const input =
        body instanceof Uint8Array
          ? JSON.parse(new TextDecoder().decode(body))
          : typeof body === 'string'
            ? JSON.parse(body)
            : {};
      const write = ['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand'].includes(command);
      if (!write) {
        const out = await next(args);
        await priceRead(command, input, out.output as Record<string, unknown>);
        return out;
      }
      const Key = command === 'PutItemCommand' ? keyOf(input.Item) : (input.Key as Item);
      const before = await get(input.TableName, Key);
      let failed = false;
      try {
        return await next(args);
      } catch (err) {
        failed = true;
        throw err;
      } finally {
        const after = failed ? before : await get(input.TableName, Key);
        const kind = recordKind(Key);
        const proposed = command === 'PutItemCommand' ? itemBytes(input.Item) : 0;
        add(meter.capacity.writes, kind, units(Math.max(itemBytes(before), itemBytes(after), proposed), KB));
        if (!failed) {
          for (const index of Object.values(INDEXES)) {
            add(meter.capacity.writes, `${kind} → ${index.name}`, indexWriteUnits(index, before, after));
          }
        }
      }
    },
    { step: 'build', name: 'lifeboatCapacityMeter' },
  );

  async function priceRead(command: string, input: Record<string, unknown>, output: Record<string, unknown>) {
    const factor = (consistent: unknown) => (consistent === true ? 1 : 0.5);
    if (command === 'GetItemCommand') {
      const item = (await get(String(input.TableName), input.Key as Item)) as Item | undefined;
      add(meter.capacity.reads, command, units(itemBytes(item), 4 * KB) * factor(input.ConsistentRead));
    } else if (command === 'QueryCommand') {
      // DynamoDB charges a query for the whole items (or index entries) it reads, whatever a
      // ProjectionExpression returns of them: asked again without one.
      const { ProjectionExpression, ExpressionAttributeNames, ...whole } = input;
      const used = `${String(whole.KeyConditionExpression ?? '')} ${String(whole.FilterExpression ?? '')}`;
      const names = Object.fromEntries(
        Object.entries((ExpressionAttributeNames ?? {}) as Record<string, string>).filter(([n]) =>
          used.includes(n),
        ),
      );
      const again = await raw.send(
        new QueryCommand({
          ...whole,
          ...(Object.keys(names).length ? { ExpressionAttributeNames: names } : {}),
        } as never),
      );
      const bytes = (again.Items ?? []).reduce((n, i) => n + itemBytes(i), 0);
      add(meter.capacity.reads, command, units(bytes, 4 * KB) * factor(input.ConsistentRead));
    } else if (command === 'BatchGetItemCommand') {
      const requests = input.RequestItems as Record<string, { Keys: Item[]; ConsistentRead?: boolean }>;
      for (const [TableName, r] of Object.entries(requests)) {
        for (const Key of r.Keys) {
          add(
            meter.capacity.reads,
            command,
            units(itemBytes(await get(TableName, Key)), 4 * KB) * factor(r.ConsistentRead),
          );
        }
      }
    } else add(meter.capacity.reads, command, 0);
    return output;
  }
}

function meterS3(client: S3Client, meter: Meter): void {
  (client.middlewareStack as unknown as AnyStack).add(
    (next, context) => async (args) => {
      add(meter.capacity.s3, (context as { commandName?: string }).commandName ?? 'unknown', 1);
      return next(args);
    },
    { step: 'build', name: 'lifeboatRequestCounter' },
  );
}

/** Each phase's calls, per message for the mail path, per run for the probe and the sweep. */
export interface MailPathCapacity {
  messages: number;
  /** SES's S3 action storing the message (its PUT), and the ingest function's work. */
  ingest: Capacity;
  /** The first delivery attempt, delivered. */
  deliver: Capacity;
  /** One probe round in normal times (the SMTP check passing). */
  probeRound: Capacity;
  /** One sweep with nothing due. */
  sweep: Capacity;
  /**
   * Bytes stored per message once delivered, by record and index: each item and each index entry
   * with the 100 bytes DynamoDB adds to each for its storage.
   */
  storedBytes: Record<string, number>;
}

/** DynamoDB bills each item, and each index entry, 100 bytes more than its attributes. */
const ITEM_OVERHEAD_BYTES = 100;

const DOMAIN = 'example.com';
const MINUTE_MS = 60_000;
/** The worked month's mail a day: the rate the measured probe rounds find in the minutes they count. */
const MONTH_MESSAGES_PER_DAY = ASSUMPTIONS.users * ASSUMPTIONS.messagesPerUserPerDay;

/**
 * Ingests and delivers each message (one envelope recipient, a primary that answers 250) through
 * the AWS adapters on the emulators, then runs a probe round and a quiet sweep, and returns what
 * each step cost, per message or per run.
 */
export async function measureMailPath(
  emulators: AwsEmulators,
  raws: readonly Buffer[],
): Promise<MailPathCapacity> {
  const at = await emulators.dynamo.config.endpoint?.();
  if (!at) throw new Error('the emulators have no DynamoDB endpoint');
  const endpoint = `${at.protocol}//${at.hostname}:${at.port}${at.path}`;
  const config = parseConfig(
    {
      domains: [DOMAIN],
      routes: [{ name: 'primary', domains: [DOMAIN], hosts: [{ host: 'mx.example.com' }] }],
    },
    'capacity bench',
  );
  const meter: Meter = {
    capacity: emptyCapacity(),
    take() {
      const taken = this.capacity;
      this.capacity = emptyCapacity();
      return taken;
    },
  };
  const region = 'us-east-1';
  const credentials = { accessKeyId: 'bench', secretAccessKey: 'bench' };
  const dynamo = new DynamoDBClient({ region, endpoint, credentials });
  const raw = new DynamoDBClient({ region, endpoint, credentials });
  meterDynamo(dynamo, raw, meter);
  meterS3(emulators.s3, meter);
  const tableName = await emulators.createTable();
  const store = createDynamoStore(dynamo, { tableName, retentionDays: recordDays(config) });
  const blobs = createS3Blobs(emulators.s3, await emulators.createBucket());
  const clock = new ManualClock(new Date('2026-11-23T09:00:00Z'));
  const mailer: Mailer = {
    async send(_route, envelope) {
      return envelope.to.map((recipient) => ({
        recipient,
        status: 'delivered' as const,
        response: '250 2.0.0 Ok: queued',
        host: 'mx.example.com',
      }));
    },
  };
  const prober: SmtpProber = {
    async check() {
      return { ok: true, detail: '250 accepted', latencyMs: 40 };
    },
  };
  const deps = { config, store, continuity: store, blobs, mailer, clock, log: silentLogger };
  const ingest = emptyCapacity();
  const deliver = emptyCapacity();
  const merge = (into: Capacity, c: Capacity) => {
    for (const part of ['writes', 'reads', 's3'] as const) {
      for (const [k, v] of Object.entries(c[part])) add(into[part], k, v);
    }
  };
  /** Takes one message in and delivers it, as SES and the deliver function would. */
  async function receive(i: number, bytes: Buffer) {
    const messageId = `bench${String(i).padStart(6, '0')}capacity0000000000000000000`;
    const rawKey = `${RAW_PREFIX}${messageId}`;
    await blobs.putRaw(rawKey, bytes); // SES's S3 action
    await ingestMessage(
      {
        messageId,
        rawKey,
        envelopeFrom: 'sender@example.org',
        recipients: [`user${i % 50}@${DOMAIN}`],
        receivedAt: clock.now().toISOString(),
        verdicts: { spam: 'PASS', virus: 'PASS', spf: 'PASS', dkim: 'PASS', dmarc: 'PASS' },
      },
      deps,
    );
    const ingested = meter.take();
    clock.advance(1);
    await deliverMessage(messageId, deps);
    return { ingested, delivered: meter.take() };
  }
  const round = () => runProbeRound({ ...deps, notifier: { async send() {} }, prober } as never);
  try {
    meter.take();
    for (const [i, bytes] of raws.entries()) {
      const { ingested, delivered } = await receive(i, bytes);
      merge(ingest, ingested);
      merge(deliver, delivered);
      clock.advance(1);
    }
    // What the delivered mail leaves in the table: its message and delivery records and their index entries.
    const storedBytes: Record<string, number> = {};
    let ExclusiveStartKey: Item | undefined;
    do {
      const out = await raw.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey }));
      for (const item of out.Items ?? []) {
        if (!item[TABLE_KEYS.pk]?.S?.startsWith('MSG#')) continue;
        const kind = recordKind(item);
        add(storedBytes, kind, (itemBytes(item) + ITEM_OVERHEAD_BYTES) / raws.length);
        for (const index of Object.values(INDEXES)) {
          if (!item[index.pk] || !item[index.sk]) continue;
          add(
            storedBytes,
            `${kind} → ${index.name}`,
            (itemBytes(projected(item, index)) + ITEM_OVERHEAD_BYTES) / raws.length,
          );
        }
      }
      ExclusiveStartKey = out.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    // Probe rounds in normal times. The corpus's minutes rolled up first (not measured); then a
    // round at the middle of each minute, as the stack runs them, with mail at the worked month's
    // rate in the two minutes the measured round counts: the minute that has just ended (its first
    // count) and the one ACCEPTED_RECOUNT_MINUTES before it (its last, which its hour takes). The
    // measured pair is a minute's two rounds, the one that rolls the minute that ended and the one
    // that finds nothing ended: their mean is a round's cost.
    const gapMs = 86_400_000 / MONTH_MESSAGES_PER_DAY;
    const start = Math.floor(clock.now().getTime() / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
    let extra = raws.length;
    for (let k = 0; k <= ACCEPTED_RECOUNT_MINUTES + 1; k++) {
      const minute = start + k * MINUTE_MS;
      if (k === 1 || k === ACCEPTED_RECOUNT_MINUTES + 1) {
        for (let n = 0; n * gapMs < MINUTE_MS; n++) {
          clock.current = new Date(minute + n * gapMs);
          await receive(extra, raws[extra % raws.length] as Buffer);
          extra++;
        }
      }
      clock.current = new Date(minute + MINUTE_MS + ROLL_UP_DELAY_MS);
      meter.take();
      await round();
    }
    clock.advance(30);
    await round();
    const probeRound = meter.take();
    for (const part of ['writes', 'reads', 's3'] as const) {
      for (const k of Object.keys(probeRound[part])) probeRound[part][k] = (probeRound[part][k] ?? 0) / 2;
    }
    await sweepDue({ ...deps } as never);
    const sweep = meter.take();
    const perMessage = (c: Capacity): Capacity => {
      const out = emptyCapacity();
      for (const part of ['writes', 'reads', 's3'] as const) {
        for (const [k, v] of Object.entries(c[part])) out[part][k] = v / raws.length;
      }
      return out;
    };
    return {
      messages: raws.length,
      ingest: perMessage(ingest),
      deliver: perMessage(deliver),
      probeRound,
      sweep,
      storedBytes,
    };
  } finally {
    dynamo.destroy();
    raw.destroy();
  }
}

/** The figures the worked month prices, as bench/aws-cost.ts keeps them: per message, per run, to two decimals. */
export interface CapacityFigures {
  /** Messages measured (the shared corpus). */
  messages: number;
  /** Write units a message costs from ingest to delivered, by record and index. */
  writeUnitsPerMessage: Record<string, number>;
  readUnitsPerMessage: number;
  /** S3 requests a message causes, by command (SES's PUT included). */
  s3PerMessage: Record<string, number>;
  probeRoundWriteUnits: number;
  probeRoundReadUnits: number;
  sweepReadUnits: number;
  /** KB a delivered message keeps in the table, by record and index entry (DynamoDB's 100 bytes each included). */
  storedKbPerMessage: Record<string, number>;
}

const round2 = (n: number) => Math.round(n * 100) / 100;

/** A measurement as the figures the model prices. */
export function capacityFigures(m: MailPathCapacity): CapacityFigures {
  const sum = (a: Record<string, number>, b: Record<string, number>) => {
    const out: Record<string, number> = {};
    for (const [k, v] of [...Object.entries(a), ...Object.entries(b)]) out[k] = round2((out[k] ?? 0) + v);
    return Object.fromEntries(Object.entries(out).sort(([x], [y]) => (x < y ? -1 : 1)));
  };
  return {
    messages: m.messages,
    writeUnitsPerMessage: sum(m.ingest.writes, m.deliver.writes),
    readUnitsPerMessage: round2(total(m.ingest.reads) + total(m.deliver.reads)),
    s3PerMessage: sum(m.ingest.s3, m.deliver.s3),
    probeRoundWriteUnits: round2(total(m.probeRound.writes)),
    probeRoundReadUnits: round2(total(m.probeRound.reads)),
    sweepReadUnits: round2(total(m.sweep.reads)),
    storedKbPerMessage: Object.fromEntries(
      Object.entries(m.storedBytes)
        .sort(([x], [y]) => (x < y ? -1 : 1))
        .map(([k, bytes]) => [k, round2(bytes / 1024)]),
    ),
  };
}
