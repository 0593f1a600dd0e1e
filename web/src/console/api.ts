/**
 * The one module that talks to the admin API for the console: every request carries the
 * signed-in admin's ID token, and every failure becomes an ApiError with the API's stable code
 * and words an admin understands at night (explain()).
 */

import { MFA_REQUIRED } from '../../../lambdas/console/auth.js';
import type { Drill, DrillPage, DrillReport, StartDrillBody } from '../../../lambdas/console/drill.js';
import type { Notice, NoticeList, NoticePreview, NoticeRequest } from '../../../lambdas/console/notices.js';
import type { ReplayJob, ReplayList, ReplayReport, ReplayRequest } from '../../../lambdas/console/replay.js';
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
import type { SettingsOverrideBody, SettingsView } from '../../../lambdas/console/settings.js';
import { ApiError, type ApiOptions, type Method, sendApiRequest } from '../shared/api-request.js';
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
    // A refusal of the admin API is about being an administrator, or about signing in as one
    // without the second factor the organisation requires.
    code: (status: number, body: { error?: string }) =>
      status === 403 ? (body.error === MFA_REQUIRED ? MFA_REQUIRED : 'FORBIDDEN') : undefined,
  };
  const send = (method: Method, path: string, body?: unknown) =>
    sendApiRequest(options, reading, method, path, body);

  async function request<T>(method: Method, path: string, body?: unknown): Promise<T> {
    const res = await send(method, path, body);
    return (await res.json()) as T;
  }

  /** A file the API offers as a download: its bytes and the name the server gave it. */
  async function file(path: string, fallbackName: string): Promise<{ blob: Blob; name: string }> {
    const res = await send('GET', path);
    const named = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1];
    return { blob: await res.blob(), name: named ?? fallbackName };
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

    // Replay of the raw archive into a restored primary (lambdas/console/replay.ts).
    replays: (filter: { eventId?: string | undefined; limit?: number } = {}) =>
      request<ReplayList>('GET', `/admin/replays${query(filter)}`),
    replay: (id: string) => request<ReplayJob>('GET', `/admin/replays/${enc(id)}`),
    startReplay: (body: ReplayRequest) => request<ReplayJob>('POST', '/admin/replays', body),
    cancelReplay: (id: string, reason?: string) =>
      request<ReplayJob>('POST', `/admin/replays/${enc(id)}/cancel`, reason ? { reason } : {}),
    resumeReplay: (id: string) => request<ReplayJob>('POST', `/admin/replays/${enc(id)}/resume`),
    replayReport: (id: string) => request<ReplayReport>('GET', `/admin/replays/${enc(id)}/report`),
    replayCsv: (id: string) => file(`/admin/replays/${enc(id)}/report.csv`, `lifeboat-replay-${id}.csv`),

    // Drills (lambdas/console/drill.ts).
    drills: (cursor?: string) => request<DrillPage>('GET', `/admin/drills${query({ cursor, limit: 20 })}`),
    drill: (id: string) => request<Drill>('GET', `/admin/drills/${enc(id)}`),
    startDrill: (body: StartDrillBody) => request<Drill>('POST', '/admin/drills', body),
    cancelDrill: (id: string) => request<Drill>('POST', `/admin/drills/${enc(id)}/cancel`),
    drillReport: (id: string) => request<DrillReport>('GET', `/admin/drills/${enc(id)}/report`),
    /** The timed report as a file: CSV for a spreadsheet, HTML to print. */
    drillReportFile: (id: string, kind: 'csv' | 'html') =>
      file(`/admin/drills/${enc(id)}/report.${kind}`, `lifeboat-drill-${id}.${kind}`),

    // Staff notices (lambdas/console/notices.ts).
    noticePreview: (body: NoticeRequest) => request<NoticePreview>('POST', '/admin/notices/preview', body),
    sendNotice: (body: NoticeRequest) => request<Notice>('POST', '/admin/notices', body),
    notices: (cursor?: string) => request<NoticeList>('GET', `/admin/notices${query({ cursor, limit: 20 })}`),
    notice: (id: string) => request<Notice>('GET', `/admin/notices/${enc(id)}`),
    resumeNotice: (id: string) => request<Notice>('POST', `/admin/notices/${enc(id)}/resume`),

    // Settings in effect and the console's overrides (lambdas/console/settings.ts).
    settings: () => request<SettingsView>('GET', '/admin/settings'),
    overrideSettings: (body: SettingsOverrideBody) =>
      request<SettingsView>('PUT', '/admin/settings/overrides', body),
    resetSetting: (path: string, reason?: string) =>
      request<SettingsView>('DELETE', `/admin/settings/overrides/${enc(path)}${query({ reason })}`),

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
