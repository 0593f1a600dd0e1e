import * as z from 'zod';
import type { Context } from '../adapters/context.js';
import { createSesOutbound } from '../adapters/ses-outbound.js';
import { exportAuditCsv, searchAudit } from '../core/audit-log.js';
import { readFlowSeries } from '../core/flow-metrics.js';
import { previewQuarantined } from '../core/quarantine-preview.js';
import {
  actOnDelivery,
  actOnQuarantined,
  actOnSelection,
  getDeliveryDetail,
  listQuarantine,
  MAX_REASON_CHARS,
  MAX_SELECTION,
  QUARANTINE_ACTIONS,
  QUEUE_ACTIONS,
  type QueueAdminDeps,
} from '../core/queue-admin.js';
import { listQueue, QUEUE_STATES } from '../core/queue-ops.js';
import type { OutboundMail } from '../ports.js';
import type { Caller } from './http/auth.js';
import { bodyOf, decodePathSegment, json, parse, type Route } from './http/router.js';

/** A gateway message id, as in the message routes' paths. */
const messageId = z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'must be a message id such as 0100018f…');
const recipient = z
  .string()
  .min(3)
  .max(320)
  .regex(/^[^\s@]+@[^\s@]+$/, 'must be an email address')
  .transform((a) => a.toLowerCase());
const reason = z.string().trim().min(1).max(MAX_REASON_CHARS);
const limit = z.coerce.number().int().min(1).max(500).default(50);
const cursor = z.string().max(2048).optional();
const instant = z.iso.datetime({ offset: true }).transform((t) => new Date(t).toISOString());
const minutes = z.coerce
  .number()
  .int()
  .min(0)
  .max(365 * 24 * 60);

const selection = z
  .array(z.strictObject({ messageId, recipient: recipient.optional() }))
  .min(1, 'name at least one delivery')
  .max(MAX_SELECTION, `at most ${MAX_SELECTION} deliveries per request`);

const queueQuery = z.strictObject({
  state: z.enum(QUEUE_STATES).optional(),
  route: z.string().min(1).max(63).optional(),
  recipient: recipient.optional(),
  sender: z
    .string()
    .min(2)
    .max(320)
    .regex(/^[^\s@]*@[^\s@]+$/, 'must be an address or @domain')
    .optional(),
  olderThanMinutes: minutes.optional(),
  newerThanMinutes: minutes.optional(),
  limit,
  cursor,
});

const auditQuery = z.strictObject({
  actor: z.string().min(1).max(320).optional(),
  action: z.string().min(1).max(64).optional(),
  target: z.string().min(1).max(400).optional(),
  from: instant.optional(),
  to: instant.optional(),
  limit,
  cursor,
});

const metricsQuery = z.strictObject({
  from: instant,
  to: instant,
  resolution: z.enum(['minute', 'hour']).default('minute'),
});

let sesOutbound: OutboundMail | undefined;

/**
 * The dependencies of the queue actions. In Lambda, a bounce goes out through SES; on the
 * single-node runtime (and in tests) through the route that serves the sender.
 */
function depsOf(ctx: Context & { outbound?: OutboundMail | undefined }): QueueAdminDeps {
  if (!ctx.outbound && process.env.AWS_LAMBDA_FUNCTION_NAME) {
    sesOutbound ??= createSesOutbound(process.env.AWS_REGION ?? 'us-east-1');
    return { ...ctx, outbound: sesOutbound };
  }
  return ctx;
}

/**
 * The console's queue, quarantine, metrics and audit endpoints (see the README's "Admin API").
 * Every change goes through the core with the caller's identity, so each is audited with who,
 * what and why, exactly as `lifeboat` does it.
 */
export function queueRoutes(ctx: Context & { outbound?: OutboundMail | undefined }): Route<Caller>[] {
  const deps = depsOf(ctx);
  const routeNames = ctx.config.routes.map((r) => r.name);
  const knownRoute = z.string().refine((r) => routeNames.includes(r), {
    message: `must be one of the configured routes: ${routeNames.join(', ')}`,
  });
  const actionBody = z
    .strictObject({
      action: z.enum(QUEUE_ACTIONS),
      ids: selection,
      reason: reason.optional(),
      route: knownRoute.optional(),
    })
    .refine((b) => b.action !== 'reroute' || b.route !== undefined, {
      message: 'reroute needs a route',
      path: ['route'],
    });
  const oneBody = z.strictObject({ reason: reason.optional(), route: knownRoute.optional() }).prefault({});
  const quarantineBody = z
    .strictObject({ action: z.enum(QUARANTINE_ACTIONS), ids: selection, reason: reason.optional() })
    .refine((b) => b.action !== 'release' || b.reason !== undefined, {
      message: 'releasing quarantined mail needs a reason',
      path: ['reason'],
    });
  const deliveryPath = '/admin/messages/([A-Za-z0-9._-]{1,128})/recipients/([^/]{3,320})';
  const keyOf = (m: RegExpMatchArray) => ({
    messageId: m[1] as string,
    recipient: decodePathSegment(m[2] as string, 'recipient'),
  });

  return [
    {
      method: 'GET',
      pattern: /^\/admin\/queue$/,
      run: async (_m, e) => {
        const q = parse(queueQuery, e.queryStringParameters ?? {}, 'query');
        const now = ctx.clock.now().getTime();
        const ago = (min: number | undefined) =>
          min === undefined ? undefined : new Date(now - min * 60_000).toISOString();
        const page = await listQueue(ctx.store, {
          state: q.state,
          limit: q.limit,
          cursor: q.cursor,
          filter: {
            route: q.route,
            recipient: q.recipient,
            sender: q.sender,
            receivedBefore: ago(q.olderThanMinutes),
            receivedAfter: ago(q.newerThanMinutes),
          },
        });
        return json(200, { deliveries: page.items, cursor: page.cursor ?? null, scanned: page.scanned });
      },
    },
    {
      method: 'POST',
      pattern: /^\/admin\/queue\/actions$/,
      run: async (_m, e, who) => {
        const body = parse(actionBody, bodyOf(e), 'request body');
        const outcome = await actOnSelection(deps, body.ids, (key) =>
          actOnDelivery(deps, key, body.action, { actor: who.id, reason: body.reason, route: body.route }),
        );
        return json(200, { action: body.action, ...outcome });
      },
    },
    {
      method: 'GET',
      pattern: new RegExp(`^${deliveryPath}$`),
      run: async (m) => json(200, await getDeliveryDetail(deps, keyOf(m))),
    },
    {
      method: 'POST',
      pattern: new RegExp(`^${deliveryPath}/(hold|release|reroute|bounce|delete)$`),
      run: async (m, e, who) => {
        const key = keyOf(m);
        const action = m[3] as (typeof QUEUE_ACTIONS)[number];
        const body = parse(oneBody, bodyOf(e), 'request body');
        const after = await actOnDelivery(deps, key, action, {
          actor: who.id,
          reason: body.reason,
          route: body.route,
        });
        return json(200, after ?? { ...key, state: 'deleted' });
      },
    },
    {
      method: 'GET',
      pattern: /^\/admin\/quarantine$/,
      run: async (_m, e) => {
        const q = parse(z.strictObject({ limit, cursor }), e.queryStringParameters ?? {}, 'query');
        const page = await listQuarantine(ctx, q);
        return json(200, { items: page.items, cursor: page.cursor ?? null });
      },
    },
    {
      // Audited as a read: the preview is the one place the admin API shows a message's body.
      method: 'GET',
      pattern: /^\/admin\/quarantine\/([A-Za-z0-9._-]{1,128})$/,
      run: async (m, _e, who) => json(200, await previewQuarantined(ctx, m[1] as string, who.id)),
    },
    {
      method: 'POST',
      pattern: /^\/admin\/quarantine\/actions$/,
      run: async (_m, e, who) => {
        const body = parse(quarantineBody, bodyOf(e), 'request body');
        const outcome = await actOnSelection(deps, body.ids, (key) =>
          actOnQuarantined(deps, key, body.action, { actor: who.id, reason: body.reason }),
        );
        return json(200, { action: body.action, ...outcome });
      },
    },
    {
      method: 'GET',
      pattern: /^\/admin\/metrics$/,
      run: async (_m, e) => {
        const q = parse(metricsQuery, e.queryStringParameters ?? {}, 'query');
        return json(
          200,
          await readFlowSeries(ctx, { from: new Date(q.from), to: new Date(q.to), resolution: q.resolution }),
        );
      },
    },
    {
      method: 'GET',
      pattern: /^\/admin\/audit$/,
      run: async (_m, e) => {
        const { limit: n, cursor: c, ...filter } = parse(auditQuery, e.queryStringParameters ?? {}, 'query');
        const page = await searchAudit(ctx.continuity, filter, { limit: n, cursor: c });
        return json(200, { entries: page.entries, cursor: page.cursor ?? null, scanned: page.scanned });
      },
    },
    {
      method: 'GET',
      pattern: /^\/admin\/audit\.csv$/,
      run: async (_m, e) => {
        const {
          limit: _n,
          cursor: _c,
          ...filter
        } = parse(auditQuery, e.queryStringParameters ?? {}, 'query');
        const { csv, rows, truncated } = await exportAuditCsv(ctx.continuity, filter);
        return {
          statusCode: 200,
          headers: {
            'content-type': 'text/csv; charset=utf-8',
            'content-disposition': 'attachment; filename="lifeboat-audit.csv"',
            'cache-control': 'no-store',
            'x-lifeboat-rows': String(rows),
            // More rows than one export holds: narrow the time range to get the rest.
            ...(truncated ? { 'x-lifeboat-truncated': 'true' } : {}),
          },
          body: csv,
        };
      },
    },
  ];
}
