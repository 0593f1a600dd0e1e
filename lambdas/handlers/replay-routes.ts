import * as z from 'zod';
import type { Context } from '../adapters/context.js';
import { MAX_REPLAY_REASON_CHARS, replayRequestSchema } from '../console/replay.js';
import {
  cancelReplay,
  getReplay,
  listReplays,
  replayReport,
  reportCsv,
  resumeReplay,
  startReplay,
} from '../core/replay.js';
import type { Caller } from './http/auth.js';
import { bodyOf, json, parse, type Route } from './http/router.js';

/** A replay job's id, as `startReplay` makes them. */
const ID = '([0-9]{8}T[0-9]{6}-[0-9a-f]{6})';
const listQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  eventId: z
    .string()
    .regex(/^[\w-]{1,64}$/, 'must be an event id')
    .optional(),
});
const cancelBody = z
  .strictObject({ reason: z.string().trim().min(1).max(MAX_REPLAY_REASON_CHARS).optional() })
  .prefault({});

/**
 * The archive replay's endpoints (see the README's "Replay"): start, list, one job's progress,
 * cancel, resume, and its report as JSON or CSV. Starting, cancelling and resuming are audited
 * with the caller's identity; the runtime's replay runner does the sending.
 */
export function replayRoutes(ctx: Context): Route<Caller>[] {
  return [
    {
      method: 'POST',
      pattern: /^\/admin\/replays$/,
      run: async (_m, e, who) => {
        const body = parse(replayRequestSchema, bodyOf(e), 'request body');
        const job = await startReplay(ctx, body, { actor: who.id });
        await ctx.replays?.wake(job.id);
        return json(201, job);
      },
    },
    {
      method: 'GET',
      pattern: /^\/admin\/replays$/,
      run: async (_m, e) => {
        const q = parse(listQuery, e.queryStringParameters ?? {}, 'query');
        return json(200, { replays: await listReplays(ctx, q) });
      },
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/admin/replays/${ID}$`),
      run: async (m) => json(200, await getReplay(ctx, m[1] as string)),
    },
    {
      method: 'POST',
      pattern: new RegExp(`^/admin/replays/${ID}/cancel$`),
      run: async (m, e, who) => {
        const { reason } = parse(cancelBody, bodyOf(e), 'request body');
        return json(200, await cancelReplay(ctx, m[1] as string, who.id, reason));
      },
    },
    {
      method: 'POST',
      pattern: new RegExp(`^/admin/replays/${ID}/resume$`),
      run: async (m, _e, who) => {
        const job = await resumeReplay(ctx, m[1] as string, who.id);
        await ctx.replays?.wake(job.id);
        return json(200, job);
      },
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/admin/replays/${ID}/report$`),
      run: async (m) => json(200, await replayReport(ctx, m[1] as string)),
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/admin/replays/${ID}/report\\.csv$`),
      run: async (m) => {
        const { job, rows } = await replayReport(ctx, m[1] as string);
        return {
          statusCode: 200,
          headers: {
            'content-type': 'text/csv; charset=utf-8',
            'content-disposition': `attachment; filename="lifeboat-replay-${job.id}.csv"`,
            'cache-control': 'no-store',
            'x-lifeboat-rows': String(rows.length),
          },
          body: reportCsv(rows),
        };
      },
    },
  ];
}
