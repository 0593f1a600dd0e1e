import * as z from 'zod';
import type { Context } from '../adapters/context.js';
import { retryDelivery } from '../core/admin-actions.js';
import {
  acknowledgeEvent,
  extendContinuity,
  getStatus,
  invokeContinuity,
  revokeContinuity,
  scheduleContinuity,
} from '../core/continuity-service.js';
import { NotFoundError } from '../core/errors.js';
import type { StaffProvisioner } from '../ports.js';
import { drillRoutes } from './drill-routes.js';
import type { Caller } from './http/auth.js';
import { bodyOf, decodePathSegment, json, parse, type Route } from './http/router.js';
import { noticeRoutes } from './notice-routes.js';
import { queueRoutes } from './queue-routes.js';
import { replayRoutes } from './replay-routes.js';
import { settingsRoutes } from './settings-routes.js';

const invokeBody = z
  .strictObject({ scope: z.string().min(1).optional(), reason: z.string().max(500).optional() })
  .prefault({});
const scheduleBody = z.strictObject({
  start: z.iso.datetime({ offset: true }),
  end: z.iso.datetime({ offset: true }),
  scope: z.string().min(1).optional(),
  reason: z.string().max(500).optional(),
});
/** Hours to move an event's planned end by: whole hours, no more than the longest event may last. */
const extendBody = (maxEventHours: number) =>
  z.strictObject({ hours: z.number().int().min(1).max(maxEventHours) });
const limitQuery = z.coerce.number().int().min(1).max(500).default(50);

/**
 * The admin API's endpoints: status, events, acknowledge, extend, invoke, revoke, schedule, hand-over
 * progress, outbox, audit log and the queue. Every change is made by the core with the caller's
 * identity, so the audit log says who did it.
 */
export function adminRoutes(
  ctx: Context,
  options: {
    /** Who the staff are, for staff notices: the runtime's provisioner. @default config.webmail.users */
    staff?: StaffProvisioner | undefined;
    /** The deployed config, which settings overrides are made against. @default ctx.config */
    deployed?: Context['config'] | undefined;
  } = {},
): Route<Caller>[] {
  return [
    { method: 'GET', pattern: /^\/admin\/status$/, run: async () => json(200, await getStatus(ctx)) },
    {
      method: 'GET',
      pattern: /^\/admin\/events$/,
      run: async (_m, e) =>
        json(200, {
          events: await ctx.continuity.listEvents(parse(limitQuery, e.queryStringParameters?.limit, 'limit')),
        }),
    },
    {
      method: 'GET',
      pattern: /^\/admin\/events\/([\w-]{1,64})$/,
      run: async (m) => {
        const ev = await ctx.continuity.getEvent(m[1] as string);
        if (!ev) throw new NotFoundError(`event ${m[1]}`);
        return json(200, ev);
      },
    },
    {
      method: 'POST',
      pattern: /^\/admin\/events\/([\w-]{1,64})\/acknowledge$/,
      run: async (m, _e, who) => json(200, (await acknowledgeEvent(ctx, m[1] as string, who.id)).event),
    },
    {
      method: 'POST',
      pattern: /^\/admin\/events\/([\w-]{1,64})\/extend$/,
      run: async (m, e, who) => {
        const { hours } = parse(extendBody(ctx.config.continuity.maxEventHours), bodyOf(e), 'request body');
        const step = await extendContinuity(ctx, m[1] as string, who.id, hours);
        return json(200, step.event);
      },
    },
    {
      method: 'POST',
      pattern: /^\/admin\/continuity\/invoke$/,
      run: async (_m, e, who) => {
        const body = parse(invokeBody, bodyOf(e), 'request body');
        const step = await invokeContinuity(ctx, who.id, body);
        return json(200, { state: step.org.state, event: step.event });
      },
    },
    {
      method: 'POST',
      pattern: /^\/admin\/continuity\/revoke$/,
      run: async (_m, _e, who) => {
        const step = await revokeContinuity(ctx, who.id);
        return json(200, { state: step.org.state, event: step.event });
      },
    },
    {
      method: 'POST',
      pattern: /^\/admin\/continuity\/schedule$/,
      run: async (_m, e, who) => {
        const body = parse(scheduleBody, bodyOf(e), 'request body');
        const step = await scheduleContinuity(ctx, who.id, {
          start: new Date(body.start),
          end: new Date(body.end),
          ...(body.scope ? { scope: body.scope } : {}),
          ...(body.reason ? { reason: body.reason } : {}),
        });
        return json(200, { state: step.org.state, event: step.event });
      },
    },
    {
      method: 'GET',
      pattern: /^\/admin\/handover$/,
      run: async () => {
        const s = await getStatus(ctx);
        return json(200, {
          state: s.state,
          eventId: s.event?.id ?? null,
          handover: s.event?.handover ?? null,
          held: s.queue.held,
        });
      },
    },
    {
      method: 'GET',
      pattern: /^\/admin\/outbox$/,
      run: async (_m, e) =>
        json(200, {
          notifications: await ctx.continuity.listNotifications(
            parse(limitQuery, e.queryStringParameters?.limit, 'limit'),
          ),
        }),
    },
    // Queue, quarantine, metrics and the audit log.
    ...queueRoutes(ctx),
    // Replays of the raw archive into a restored primary.
    ...replayRoutes(ctx),
    // Drills: rehearsals on a test route or test mailboxes, and their timed reports.
    ...drillRoutes(ctx),
    // Staff notices: preview, send, status per recipient.
    ...noticeRoutes(ctx, options.staff),
    // The configuration in effect, and the console's overrides of it.
    ...settingsRoutes(ctx, options.deployed),
    {
      method: 'POST',
      pattern: /^\/admin\/messages\/([A-Za-z0-9._-]{1,128})\/recipients\/([^/]{3,320})\/retry$/,
      run: async (m, _e, who) => {
        const key = { messageId: m[1] as string, recipient: decodePathSegment(m[2] as string, 'recipient') };
        const d = await retryDelivery(ctx, key, who.id);
        return json(200, d);
      },
    },
  ];
}
