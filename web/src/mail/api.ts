/**
 * The one module that talks to the webmail API: every request carries the signed-in user's ID
 * token, every answer is typed by the API's own schemas (lambdas/webmail/schemas.ts, imported as
 * types only, so no validator ships to the browser), and every failure becomes an ApiError with
 * the API's stable code and words a user understands.
 */
import type {
  ErrorResponse,
  FlagsBody,
  LinkResponse,
  MeResponse,
  MessageDetail,
  MessagePage,
} from '../../../lambdas/webmail/schemas.js';

/** The continuity state for the banner (`GET /mail/api/status`). */
export interface StatusResponse {
  state: string;
  since: string | null;
  scopeCoversMe: boolean;
}

/** The flags endpoint's answer. */
export interface FlagsResponse {
  id: string;
  seen: boolean;
  flagged: boolean;
}

/** A failed request: the API's stable code (or NETWORK / UNAUTHENTICATED) and what to tell the user. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Words for the codes a user can meet; anything else shows the API's own message. */
const WORDS: Record<string, string> = {
  NETWORK: 'Lifeboat cannot be reached. Check your connection; it will try again.',
  NOT_FOUND: 'That message is not in your mailbox.',
  LINK_EXPIRED: 'That download link has expired. Try the download again.',
  LINK_INVALID: 'That download link is not valid. Try the download again.',
  UNAUTHENTICATED: 'Your sign-in has expired. Signing you in again…',
  TOO_MANY_REQUESTS: 'Too many requests at once. Wait a moment and try again.',
  INTERNAL: 'Something went wrong on the server. Try again in a moment.',
};

/** What to show a user for an error of any kind. */
export function explain(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 403 || err.code === 'VALIDATION_FAILED') return err.message;
    return WORDS[err.code] ?? err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

export interface ApiOptions {
  /** Origin and path prefix of the API ('' when it is served with the app). */
  base: string;
  /** The current ID token, or null when nobody is signed in. */
  token: () => Promise<string | null>;
  /** Called on a 401: the token was refused, so the user must sign in again. */
  onUnauthorized: () => void;
}

export type Api = ReturnType<typeof createApi>;

/** The webmail API for the signed-in user. */
export function createApi(options: ApiOptions) {
  async function request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
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
      throw new ApiError('NETWORK', 0, WORDS.NETWORK as string);
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (res.ok) return parsed as T;
    const e = (parsed ?? {}) as Partial<ErrorResponse>;
    const code = res.status === 401 ? 'UNAUTHENTICATED' : (e.error ?? `HTTP_${res.status}`);
    if (res.status === 401) options.onUnauthorized();
    // A refused input names each problem ("q: type something to search for"); say those alone.
    const message =
      e.problems && e.problems.length > 0
        ? e.problems.map((p) => p.replace(/^[\w.]+: /, '')).join('; ')
        : (e.message ?? `The server answered ${res.status}.`);
    throw new ApiError(code, res.status, message);
  }

  const page = (params: Record<string, string | undefined>) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, v);
    return q.toString();
  };

  return {
    me: () => request<MeResponse>('GET', '/mail/api/me'),
    /** A page of the mailbox, newest first; `limit` defaults to the API's page size. */
    list: (cursor?: string, limit?: number) =>
      request<MessagePage>('GET', `/mail/api/messages?${page({ cursor, limit: limit?.toString() })}`),
    search: (q: string, cursor?: string) =>
      request<MessagePage>('GET', `/mail/api/search?${page({ q, cursor })}`),
    read: (id: string) => request<MessageDetail>('GET', `/mail/api/messages/${encodeURIComponent(id)}`),
    setFlags: (id: string, flags: FlagsBody) =>
      request<FlagsResponse>('POST', `/mail/api/messages/${encodeURIComponent(id)}/flags`, flags),
    link: (id: string, part: number | 'raw') =>
      request<LinkResponse>('GET', `/mail/api/messages/${encodeURIComponent(id)}/links?part=${part}`),
    status: () => request<StatusResponse>('GET', '/mail/api/status'),
  };
}
