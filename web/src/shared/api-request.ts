/**
 * One request to a Lifeboat API from the browser, as both apps send it: the signed-in user's ID
 * token as the bearer, no cookies, nothing cached, JSON in and out; and every failure as an
 * ApiError carrying the API's stable code (lambdas/handlers/http/errors.ts), so each app maps
 * codes to its own words. A 401 also tells the app, which sends the user through sign-in again.
 */
import type { ErrorResponse } from '../../../lambdas/webmail/schemas.js';

/** A failed request: the API's stable code (or NETWORK / UNAUTHENTICATED) and what to tell the user. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    /** Seconds the server asked to wait (Retry-After), when it said. */
    readonly retryAfter: number | null = null,
  ) {
    super(message);
  }
}

export interface ApiOptions {
  /** Origin and path prefix of the API ('' when it is served with the app). */
  base: string;
  /** The current ID token, or null when nobody is signed in. */
  token: () => Promise<string | null>;
  /** Called on a 401: the token was refused, so the user must sign in again. */
  onUnauthorized: () => void;
}

/** How an app reads a refusal. */
export interface RefusalReading {
  /** What to say when the API cannot be reached at all. */
  network: string;
  /** The code for a refusal, when the app reads a status its own way; the body's code otherwise. */
  code?: (status: number, body: Partial<ErrorResponse>) => string | undefined;
  /** How one of a refused input's problems (`path: what is wrong`) reads. */
  problem?: (problem: string) => string;
}

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/**
 * Sends one request and answers the response when it is a success.
 * @throws ApiError with code NETWORK when the API cannot be reached, UNAUTHENTICATED on a 401,
 *   else the API's own code (`HTTP_<status>` when the answer carries none)
 */
export async function sendApiRequest(
  options: ApiOptions,
  reading: RefusalReading,
  method: Method,
  path: string,
  body?: unknown,
): Promise<Response> {
  const token = await options.token();
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(`${options.base}${path}`, {
      method,
      headers,
      cache: 'no-store',
      credentials: 'omit',
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch {
    throw new ApiError('NETWORK', 0, reading.network);
  }
  if (res.ok) return res;
  let e: Partial<ErrorResponse> = {};
  try {
    e = ((await res.json()) ?? {}) as Partial<ErrorResponse>;
  } catch {
    // Not JSON (a gateway's page, an empty answer): the status says enough.
  }
  if (res.status === 401) options.onUnauthorized();
  const code =
    res.status === 401
      ? 'UNAUTHENTICATED'
      : (reading.code?.(res.status, e) ?? e.error ?? `HTTP_${res.status}`);
  const problem = reading.problem ?? ((p: string) => p);
  const message =
    e.problems && e.problems.length > 0
      ? e.problems.map(problem).join('; ')
      : (e.message ?? `The server answered ${res.status}.`);
  const retryAfter = Number.parseInt(res.headers.get('retry-after') ?? '', 10);
  throw new ApiError(code, res.status, message, Number.isFinite(retryAfter) ? retryAfter : null);
}

/** A success's JSON body; undefined for an empty one. */
export async function jsonOf<T>(res: Response): Promise<T> {
  const text = await res.text();
  try {
    return (text === '' ? undefined : JSON.parse(text)) as T;
  } catch {
    return undefined as T;
  }
}
