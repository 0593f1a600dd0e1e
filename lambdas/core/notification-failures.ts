import type { ContinuityStore, Metrics, NotificationRecord } from '../ports.js';

/** The metric each refused page adds one to; an alarm watches it (infra/aws/constructs/monitoring.ts). */
export const FAILED_NOTIFICATIONS_METRIC = 'FailedNotifications';

/**
 * Outbox records the status reads for refused pages: the outbox keeps one record per channel
 * and notice, a handful per event, so this covers weeks of paging.
 */
export const FAILED_NOTIFICATION_LOOKBACK = 200;

/** The status counts the pages refused in the last day: the outage at hand, not last month's. */
export const FAILED_NOTIFICATION_WINDOW_HOURS = 24;

export interface NotificationFailure {
  at: string;
  channel: NotificationRecord['channel'];
  audience: NotificationRecord['audience'];
  notice: string;
  eventId: string | null;
  error: string;
}

/** Pages and texts the notifier refused, as the status shows them. */
export interface FailedNotifications {
  /** Refused in the last `windowHours`. */
  count: number;
  windowHours: number;
  /** The latest refusal in that window, with the notifier's error. */
  last: NotificationFailure | null;
}

/**
 * Records that the notifier refused a page: the outbox record keeps the error (status and the
 * console show it) and the failed-notification metric goes up by one (its alarm emails the
 * stack's alarm addresses, which do not depend on the SMS that failed).
 */
export async function recordNotificationFailure(
  deps: { continuity: Pick<ContinuityStore, 'putNotification'>; metrics?: Metrics | undefined },
  n: NotificationRecord,
  error: string,
): Promise<void> {
  deps.metrics?.count(FAILED_NOTIFICATIONS_METRIC, 1);
  await deps.continuity.putNotification({ ...n, error });
}

/** The pages refused in the last {@link FAILED_NOTIFICATION_WINDOW_HOURS}, newest first in the outbox. */
export async function failedNotifications(
  continuity: Pick<ContinuityStore, 'listNotifications'>,
  now: Date,
): Promise<FailedNotifications> {
  const since = now.getTime() - FAILED_NOTIFICATION_WINDOW_HOURS * 3_600_000;
  const refused = (await continuity.listNotifications(FAILED_NOTIFICATION_LOOKBACK)).filter(
    (n) => n.error !== undefined && Date.parse(n.at) >= since,
  );
  const latest = refused[0];
  return {
    count: refused.length,
    windowHours: FAILED_NOTIFICATION_WINDOW_HOURS,
    last: latest
      ? {
          at: latest.at,
          channel: latest.channel,
          audience: latest.audience,
          notice: latest.notice,
          eventId: latest.eventId,
          error: latest.error as string,
        }
      : null,
  };
}
