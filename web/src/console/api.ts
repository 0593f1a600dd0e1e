/**
 * The one module that talks to the admin API for the console: every request carries the
 * signed-in admin's ID token, and every failure becomes an ApiError with the API's stable code
 * and words an admin understands at night (explain()).
 */

import type {
  ActionOutcome,
  AuditEntry,
  AuditPage,
  ContinuityEvent,
  DeliveryDetail,
  FlowSeries,
  HandoverResponse,
  NotificationRecord,
  QuarantinePage,
  QuarantinePreview,
  QueueAction,
  QueuePage,
  StatusResponse,
  TransitionResponse,
} from '../../../lambdas/console/schemas.js';
import { ApiError, type ApiOptions, sendApiRequest } from '../shared/api-request.js';
import { explainCode, WORDS } from './words.js';

export { explainCode } from './words.js';
export { ApiError, type ApiOptions };

/** What to show an admin for an error of any kind: plain words, never a stack. */
export function explain(err: unknown): string {
  if (err instanceof ApiError) return explainCode(err.code, err.message);
  return err instanceof Error ? err.message : String(err);
}

export interface QueueFilter {
  state?: string | undefined;
  route?: string | undefined;
  recipient?: string | undefined;
  sender?: string | undefined;
  olderThanMinutes?: string | undefined;
  newerThanMinutes?: string | undefined;
  cursor?: string | undefined;
  limit?: string | undefined;
}

export interface AuditFilter {
  actor?: string | undefined;
  action?: string | undefined;
  target?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  cursor?: string | undefined;
  limit?: string | undefined;
}

/** A query string of the set values. */
export function query(params: object): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

const enc = encodeURIComponent;

export type AdminApi = ReturnType<typeof createAdminApi>;

/** The admin API for the signed-in admin. */
export function createAdminApi(options: ApiOptions) {
  const reading = {
    network: WORDS.NETWORK as string,
    // Any refusal of the admin API is about being an administrator.
    code: (status: number) => (status === 403 ? 'FORBIDDEN' : undefined),
  };
  const send = (method: 'GET' | 'POST', path: string, body?: unknown) =>
    sendApiRequest(options, reading, method, path, body);

  async function request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const res = await send(method, path, body);
    return (await res.json()) as T;
  }

  const delivery = (messageId: string, recipient: string) =>
    `/admin/messages/${enc(messageId)}/recipients/${enc(recipient)}`;

  return {
    status: () => request<StatusResponse>('GET', '/admin/status'),
    events: (limit = 20) => request<{ events: ContinuityEvent[] }>('GET', `/admin/events?limit=${limit}`),
    event: (id: string) => request<ContinuityEvent>('GET', `/admin/events/${enc(id)}`),
    acknowledge: (id: string) => request<ContinuityEvent>('POST', `/admin/events/${enc(id)}/acknowledge`),
    /** Moves the open event's planned end `hours` later (at most continuity.maxEventHours in all). */
    extend: (id: string, hours: number) =>
      request<ContinuityEvent>('POST', `/admin/events/${enc(id)}/extend`, { hours }),
    invoke: (body: { scope?: string; reason?: string }) =>
      request<TransitionResponse>('POST', '/admin/continuity/invoke', body),
    revoke: () => request<TransitionResponse>('POST', '/admin/continuity/revoke'),
    schedule: (body: { start: string; end: string; scope?: string; reason?: string }) =>
      request<TransitionResponse>('POST', '/admin/continuity/schedule', body),
    handover: () => request<HandoverResponse>('GET', '/admin/handover'),
    outbox: (limit = 200) =>
      request<{ notifications: NotificationRecord[] }>('GET', `/admin/outbox?limit=${limit}`),
    audit: (filter: AuditFilter) => request<AuditPage>('GET', `/admin/audit${query(filter)}`),
    /** The audit log as CSV (the API's export), with whether it was cut at its row limit. */
    auditCsv: async (filter: AuditFilter) => {
      const res = await send('GET', `/admin/audit.csv${query(filter)}`);
      return {
        blob: await res.blob(),
        rows: Number(res.headers.get('x-lifeboat-rows') ?? 0),
        truncated: res.headers.get('x-lifeboat-truncated') === 'true',
      };
    },
    queue: (filter: QueueFilter) => request<QueuePage>('GET', `/admin/queue${query(filter)}`),
    delivery: (messageId: string, recipient: string) =>
      request<DeliveryDetail>('GET', delivery(messageId, recipient)),
    queueAction: (body: {
      action: QueueAction;
      ids: { messageId: string; recipient?: string }[];
      reason?: string;
      route?: string;
    }) => request<ActionOutcome>('POST', '/admin/queue/actions', body),
    quarantine: (cursor?: string) =>
      request<QuarantinePage>('GET', `/admin/quarantine${query({ cursor, limit: 100 })}`),
    /** A quarantined message to read (audited on the server as quarantine-view). */
    quarantinePreview: (messageId: string) =>
      request<QuarantinePreview>('GET', `/admin/quarantine/${enc(messageId)}`),
    quarantineAction: (body: {
      action: 'release' | 'delete';
      ids: { messageId: string; recipient?: string }[];
      reason?: string;
    }) => request<ActionOutcome>('POST', '/admin/quarantine/actions', body),
    metrics: (from: Date, to: Date, resolution: 'minute' | 'hour') =>
      request<FlowSeries>(
        'GET',
        `/admin/metrics${query({ from: from.toISOString(), to: to.toISOString(), resolution })}`,
      ),
  };
}

/** Audit entries of one event, newest first (the API filters by time; the event id is on each entry). */
export function entriesOf(entries: AuditEntry[], eventId: string): AuditEntry[] {
  return entries.filter((e) => e.eventId === eventId);
}
