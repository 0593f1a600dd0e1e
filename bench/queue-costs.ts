import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { openSqliteStore } from '../lambdas/adapters/local/sqlite-store.js';
import { parseConfig } from '../lambdas/core/config.js';
import { getStatus } from '../lambdas/core/continuity-service.js';
import type { DeliveryRecord } from '../lambdas/core/model.js';
import { runProbes } from '../lambdas/core/probes.js';
import type { Clock } from '../lambdas/ports.js';
import type { Figure, FigureResult, Row } from './report.js';
import { fmt, fmtRatio, median } from './stats.js';

/** Queue sizes the status and the probe round are timed at. */
const SIZES = [0, 10_000, 100_000] as const;
/** Aim: the largest queue's median within this factor of the empty queue's. */
const AIM_FACTOR = 2;
/** Timed calls per size; the median is reported. */
const REPEATS = 500;
/** Two routes, as a split-routing organisation has, with the deferred mail spread over both. */
const ROUTES = ['cloud', 'onprem'] as const;

const config = parseConfig({
  domains: ['corp.test', 'branch.test'],
  routes: [
    { name: 'cloud', domains: ['corp.test'], hosts: [{ host: '127.0.0.1', port: 2 }] },
    { name: 'onprem', domains: ['branch.test'], hosts: [{ host: '127.0.0.1', port: 3 }] },
  ],
});

function deferred(i: number, now: Date): DeliveryRecord {
  const receivedAt = new Date(now.getTime() - 3_600_000 + i).toISOString();
  return {
    messageId: `m${String(i).padStart(7, '0')}`,
    recipient: `user${i % 500}@corp.test`,
    route: ROUTES[i % ROUTES.length] as string,
    state: 'deferred',
    attempts: 3,
    receivedAt,
    updatedAt: receivedAt,
    nextAttemptAt: new Date(now.getTime() + 600_000 + i).toISOString(),
    lastError: 'connect ECONNREFUSED 127.0.0.1:25',
    lastResponse: null,
    deliveredAt: null,
    reason: null,
    version: 4,
    leaseId: null,
  };
}

async function timeMedian(run: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 50; i++) await run();
  const samples: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const t0 = performance.now();
    await run();
    samples.push(performance.now() - t0);
  }
  return median(samples);
}

/**
 * Status and one probe round on the single-node store with 0, 10,000 and 100,000 deferred
 * deliveries: both read per-state counters and one oldest-deferred row per route, so their cost
 * should not grow with the queue. The SMTP check is a stub that answers at once, so the figure
 * is the store work alone.
 */
export const queueCostsFigure: Figure = {
  name: 'queue-costs',
  async run(): Promise<FigureResult> {
    const dir = await mkdtemp(path.join(tmpdir(), 'lifeboat-bench-queue-'));
    const now = new Date();
    const clock: Clock = { now: () => now };
    const timings: Record<string, { status: number; probe: number }> = {};
    try {
      for (const size of SIZES) {
        const store = openSqliteStore(path.join(dir, `q${size}.db`), { retentionDays: 30 });
        try {
          for (let i = 0; i < size; i++) await store.createDelivery(deferred(i, now));
          const status = await timeMedian(() => getStatus({ store, continuity: store, clock }));
          const probe = await timeMedian(() =>
            runProbes({
              store,
              continuity: store,
              config,
              clock,
              prober: { check: async () => ({ ok: true, detail: '250 ok', latencyMs: 1 }) },
              mailer: { send: async () => [] },
            }),
          );
          timings[size] = { status, probe };
        } finally {
          store.close();
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const rows: Row[] = [];
    for (const what of ['status', 'probe'] as const) {
      const smallest = timings[SIZES[0]]?.[what] ?? Number.NaN;
      const largest = timings[SIZES[SIZES.length - 1] as number]?.[what] ?? Number.NaN;
      const ratio = largest / smallest;
      rows.push({
        id: `queue-costs.${what}`,
        figure:
          what === 'status'
            ? 'Status (`GET /admin/status`) at 0 / 10k / 100k deferred, median'
            : 'One probe round (organic + SMTP check) at 0 / 10k / 100k deferred, median',
        value: SIZES.map((s) => fmt(timings[s]?.[what] ?? Number.NaN, 'ms')).join(' / '),
        reference: `the same call on an empty queue: ${fmt(smallest, 'ms')}`,
        ratio: fmtRatio(ratio),
        aim: `≤ ${AIM_FACTOR}× at 100k`,
        verdict: ratio <= AIM_FACTOR ? 'PASS' : 'MISS',
        data: { timings, repeats: REPEATS },
      });
    }
    return {
      rows,
      notes: [
        `Queue costs: status and a probe round on the SQLite store, ${REPEATS} timed calls per queue size after 50 warm-up calls; the deferred deliveries are spread over ${ROUTES.length} routes and the SMTP check answers at once, so only the store's work is timed.`,
      ],
    };
  },
};
