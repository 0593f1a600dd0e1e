import * as z from 'zod';
import { formatIssues } from '../../core/config.js';
import { LifeboatError, ValidationError } from '../../core/errors.js';

/** The parts of an API Gateway HTTP API (payload 2.0) event the handlers read. */
export const httpEventSchema = z.object({
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
export type ParsedHttpEvent = z.infer<typeof httpEventSchema>;

export interface HttpResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  /** The body is base64 of binary bytes (a download), as API Gateway's payload 2.0 carries it. */
  isBase64Encoded?: boolean;
}

export function json(statusCode: number, body: unknown): HttpResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
    body: JSON.stringify(body),
  };
}

/** Parses one input with its schema, naming it and every problem on failure. */
export function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new ValidationError(what, formatIssues(r.error.issues));
  return r.data;
}

/** A percent-encoded path segment; a malformed one is the caller's mistake (400), not a fault (500). */
export function decodePathSegment(segment: string, name: string): string {
  try {
    return decodeURIComponent(segment).toLowerCase();
  } catch {
    throw new ValidationError('path', [`${name}: not valid percent-encoding`]);
  }
}

/** The request's JSON body, or undefined when it has none. */
export function bodyOf(event: ParsedHttpEvent): unknown {
  if (!event.body) return undefined;
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  try {
    return JSON.parse(text);
  } catch {
    throw new ValidationError('request body', ['(root): not valid JSON']);
  }
}

/** One endpoint: a method, a path pattern whose groups are its parameters, and what it does. */
export interface Route<Caller> {
  method: string;
  pattern: RegExp;
  run: (m: RegExpMatchArray, e: ParsedHttpEvent, who: Caller) => Promise<HttpResult>;
}

class RoutingError extends LifeboatError {}

/**
 * Finds the route for a request and runs it.
 * @throws a NOT_FOUND error for an unknown path, METHOD_NOT_ALLOWED for a known path's other methods
 */
export function dispatch<Caller>(
  routes: readonly Route<Caller>[],
  event: ParsedHttpEvent,
  who: Caller,
): Promise<HttpResult> {
  const method = event.requestContext.http.method.toUpperCase();
  const candidates = routes.filter((r) => r.pattern.test(event.rawPath));
  const route = candidates.find((r) => r.method === method);
  if (!route) {
    throw candidates.length
      ? new RoutingError('METHOD_NOT_ALLOWED', `${method} is not allowed on ${event.rawPath}`)
      : new RoutingError('NOT_FOUND', `no such endpoint ${event.rawPath}`);
  }
  return route.run(event.rawPath.match(route.pattern) as RegExpMatchArray, event, who);
}
