import * as z from 'zod';
import { type Context, defaultContext } from '../adapters/context.js';
import { formatIssues } from '../core/config.js';
import { ContinuityStateError } from '../core/continuity.js';
import {
  acknowledgeEvent,
  getStatus,
  invokeContinuity,
  revokeContinuity,
  scheduleContinuity,
} from '../core/continuity-service.js';
import { LifeboatError, NotFoundError, ValidationError } from '../core/errors.js';
import { listQueue, QUEUE_STATES, releaseDelivery } from '../core/queue-ops.js';

/** The parts of an API Gateway HTTP API (payload 2.0) event this handler reads. */
const httpEventSchema = z.object({
  rawPath: z.string(),
  requestContext: z.object({
    http: z.object({ method: z.string() }),
    authorizer: z
      .object({ jwt: z.object({ claims: z.record(z.string(), z.unknown()) }).optional() })
      .optional(),
  }),
  queryStringParameters: z.record(z.string(), z.string()).optional(),
  body: z.string().optional(),
  isBase64Encoded: z.boolean().optional(),
});
export type HttpEvent = z.input<typeof httpEventSchema>;

export interface HttpResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

export class AuthError extends LifeboatError {
  constructor(
    readonly status: 401 | 403,
    message: string,
  ) {
    super(status === 401 ? 'UNAUTHENTICATED' : 'FORBIDDEN', message);
  }
}

export interface Caller {
  id: string;
  groups: string[];
}

/**
 * The caller, from the claims the API Gateway JWT authorizer has already verified. Groups come
 * as `cognito:groups` (Cognito) or `groups` (most OIDC providers), as a list or a string.
 */
export function callerFrom(claims: Record<string, unknown> | undefined): Caller {
  if (!claims) throw new AuthError(401, 'sign in first: no verified identity on the request');
  // Cognito ID tokens carry email and cognito:username, its access tokens username; Entra ID
  // preferred_username or upn. The opaque sub is the last resort.
  const id = [
    claims.email,
    claims['cognito:username'],
    claims.username,
    claims.preferred_username,
    claims.upn,
    claims.sub,
  ].find((v): v is string => typeof v === 'string' && v !== '');
  if (!id) throw new AuthError(401, 'the token names no user');
  const raw = claims['cognito:groups'] ?? claims.groups ?? [];
  const groups = Array.isArray(raw)
    ? raw.map(String)
    : String(raw)
        .replace(/^\[|\]$/g, '')
        .split(/[\s,]+/)
        .filter(Boolean);
  return { id, groups };
}

const invokeBody = z
  .strictObject({ scope: z.string().min(1).optional(), reason: z.string().max(500).optional() })
  .prefault({});
const scheduleBody = z.strictObject({
  start: z.iso.datetime({ offset: true }),
  end: z.iso.datetime({ offset: true }),
  scope: z.string().min(1).optional(),
  reason: z.string().max(500).optional(),
});
const limitQuery = z.coerce.number().int().min(1).max(500).default(50);

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new ValidationError(what, formatIssues(r.error.issues));
  return r.data;
}

function json(statusCode: number, body: unknown): HttpResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
    body: JSON.stringify(body),
  };
}

/** Maps errors to HTTP: the message names what refused; unexpected errors say nothing of internals. */
export function errorResponse(err: unknown, ctx: Pick<Context, 'log'>): HttpResult {
  if (err instanceof AuthError) return json(err.status, { error: err.code, message: err.message });
  if (err instanceof ValidationError)
    return json(400, { error: err.code, message: err.message, problems: err.problems });
  if (err instanceof NotFoundError) return json(404, { error: err.code, message: err.message });
  if (err instanceof ContinuityStateError || (err instanceof LifeboatError && err.code === 'CONFLICT')) {
    return json(409, { error: err.code, message: err.message });
  }
  if (err instanceof LifeboatError && err.code === 'TRANSITION_NOT_ALLOWED')
    return json(409, { error: err.code, message: err.message });
  ctx.log.error('api error', { error: (err as Error).message });
  return json(500, { error: 'INTERNAL', message: 'something went wrong; the request was not completed' });
}

/** A percent-encoded path segment; a malformed one is the caller's mistake (400), not a fault (500). */
function decodePathSegment(segment: string, name: string): string {
  try {
    return decodeURIComponent(segment).toLowerCase();
  } catch {
    throw new ValidationError('path', [`${name}: not valid percent-encoding`]);
  }
}

function bodyOf(event: z.infer<typeof httpEventSchema>): unknown {
  if (!event.body) return undefined;
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  try {
    return JSON.parse(text);
  } catch {
    throw new ValidationError('request body', ['(root): not valid JSON']);
  }
}

type Route = {
  method: string;
  pattern: RegExp;
  run: (m: RegExpMatchArray, e: z.infer<typeof httpEventSchema>, who: Caller) => Promise<HttpResult>;
};

/**
 * The admin API (HTTP API behind a JWT authorizer): status, events, acknowledge, invoke,
 * revoke, schedule, hand-over progress, outbox, audit log and the queue. Every change is made by
 * the core with the caller's identity, so the audit log says who did it.
 */
export function createApiHandler(context: () => Context) {
  const routes = (ctx: Context): Route[] => [
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
    {
      method: 'GET',
      pattern: /^\/admin\/audit$/,
      run: async (_m, e) =>
        json(200, {
          entries: await ctx.continuity.listAudit(parse(limitQuery, e.queryStringParameters?.limit, 'limit')),
        }),
    },
    {
      method: 'GET',
      pattern: /^\/admin\/queue$/,
      run: async (_m, e) => {
        const q = e.queryStringParameters;
        const state = parse(z.enum(QUEUE_STATES).optional(), q?.state, 'state');
        const limit = parse(limitQuery, q?.limit, 'limit');
        const cursor = parse(z.string().max(2048).optional(), q?.cursor, 'cursor');
        const page = await listQueue(ctx.store, { state, limit, cursor });
        return json(200, { deliveries: page.items, cursor: page.cursor ?? null });
      },
    },
    {
      method: 'POST',
      pattern: /^\/admin\/messages\/([A-Za-z0-9._-]{1,128})\/recipients\/([^/]{3,320})\/retry$/,
      run: async (m, _e, who) => {
        const key = { messageId: m[1] as string, recipient: decodePathSegment(m[2] as string, 'recipient') };
        const d = await releaseDelivery(key, ctx);
        await ctx.continuity.appendAudit({
          at: ctx.clock.now().toISOString(),
          actor: who.id,
          action: 'retry',
          detail: `delivery ${key.messageId} to ${key.recipient} requeued (now ${d.state})`,
          eventId: null,
        });
        return json(200, d);
      },
    },
  ];

  return async (rawEvent: unknown): Promise<HttpResult> => {
    const ctx = context();
    try {
      const event = parse(httpEventSchema, rawEvent, 'HTTP event');
      const who = callerFrom(event.requestContext.authorizer?.jwt?.claims);
      if (!who.groups.includes(ctx.config.adminGroup)) {
        throw new AuthError(403, `admin API: ${who.id} is not in the ${ctx.config.adminGroup} group`);
      }
      const method = event.requestContext.http.method.toUpperCase();
      const candidates = routes(ctx).filter((r) => r.pattern.test(event.rawPath));
      const route = candidates.find((r) => r.method === method);
      if (!route) {
        return candidates.length
          ? json(405, {
              error: 'METHOD_NOT_ALLOWED',
              message: `${method} is not allowed on ${event.rawPath}`,
            })
          : json(404, { error: 'NOT_FOUND', message: `no such endpoint ${event.rawPath}` });
      }
      return await route.run(event.rawPath.match(route.pattern) as RegExpMatchArray, event, who);
    } catch (err) {
      return errorResponse(err, ctx);
    }
  };
}

export const handler = createApiHandler(defaultContext);
