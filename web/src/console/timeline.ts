/**
 * An event's timeline: its steps from the event record (detected, acknowledged, invoked, extended,
 * flow restored, revoked, handed over, all clear) and from the outbox (admins paged, staff texted,
 * each notice with whom it reached and what the notifier refused), oldest first.
 */

import type { ContinuityEvent, NotificationRecord } from '../../../lambdas/console/schemas.js';
import { duration, scopeWords, when } from './format.js';

export interface TimelineItem {
  at: string;
  what: string;
  who?: string | undefined;
  detail?: string | undefined;
  kind: 'detect' | 'page' | 'act' | 'staff' | 'done' | 'problem';
}

const NOTICE_WORDS: Record<string, string> = {
  alert: 'Admins paged',
  repeat: 'Admins paged again',
  'all-clear': 'Admins told: all clear',
  invoked: 'Admins told: continuity invoked',
  'staff-invoked': 'Staff texted where to read mail',
  'flow-restored': 'Admins told: the primary accepts mail again',
  revoked: 'Admins told: continuity revoked',
  recovered: 'Admins told: hand-over complete',
  scheduled: 'Admins told: maintenance planned',
};

/** The outbox's records of one notice, grouped (one SMS and one email per admin are one step). */
function noticeItems(notes: NotificationRecord[]): TimelineItem[] {
  const groups = new Map<string, NotificationRecord[]>();
  for (const n of notes) {
    const key = `${n.notice}|${n.audience}|${n.at.slice(0, 19)}`;
    groups.set(key, [...(groups.get(key) ?? []), n]);
  }
  return [...groups.values()].map((g) => {
    const first = g[0] as NotificationRecord;
    const by = (ch: 'sms' | 'email') =>
      g.filter((n) => n.channel === ch && !n.error).reduce((a, n) => a + n.to.length, 0);
    const refused = g.filter((n) => n.error);
    const parts = [
      by('sms') ? `${by('sms')} by SMS` : '',
      by('email') ? `${by('email')} by email` : '',
    ].filter(Boolean);
    return {
      at: first.at,
      what: NOTICE_WORDS[first.notice] ?? `Notice: ${first.notice}`,
      detail:
        (parts.length ? `Sent to ${parts.join(' and ')}.` : '') +
        (refused.length ? ` NOT SENT: ${refused.map((n) => `${n.channel}: ${n.error}`).join('; ')}` : ''),
      kind: refused.length ? 'problem' : first.audience === 'staff' ? 'staff' : 'page',
    };
  });
}

/** The event's steps from its record and the outbox, oldest first. */
export function timelineOf(event: ContinuityEvent, notes: NotificationRecord[]): TimelineItem[] {
  const items: TimelineItem[] = [];
  const opened =
    event.openedBy === 'probe'
      ? 'Detected by the probes'
      : event.openedBy === 'schedule'
        ? 'Maintenance planned'
        : 'Opened by an admin';
  items.push({ at: event.openedAt, what: opened, kind: 'detect', detail: event.evidence[0]?.detail });
  if (event.acknowledgedAt)
    items.push({
      at: event.acknowledgedAt,
      what: 'Acknowledged',
      who: event.acknowledgedBy ?? undefined,
      kind: 'act',
    });
  if (event.invokedAt) {
    const how =
      event.invokeMode === 'auto'
        ? ' automatically (nobody acknowledged)'
        : event.invokeMode === 'scheduled'
          ? ' as planned'
          : '';
    items.push({
      at: event.invokedAt,
      what: `Continuity invoked${how}`,
      who: event.invokedBy ?? undefined,
      detail: [scopeWords(event.scope), event.reason].filter(Boolean).join(' · '),
      kind: 'act',
    });
  }
  for (const x of event.extensions ?? [])
    items.push({
      at: x.at,
      what: `Extended by ${x.hours} ${x.hours === 1 ? 'hour' : 'hours'}`,
      who: x.by,
      detail: `Planned end ${when(x.to)} (was ${when(x.from)})`,
      kind: 'act',
    });
  if (event.recoveredAt)
    items.push({ at: event.recoveredAt, what: 'Primary accepts mail again', kind: 'done' });
  if (event.revokedAt)
    items.push({
      at: event.revokedAt,
      what: 'Continuity revoked',
      who: event.revokedBy ?? undefined,
      kind: 'act',
    });
  if (event.handover) {
    items.push({
      at: event.handover.startedAt,
      what: 'Hand-over started',
      detail: `${event.handover.total} held ${event.handover.total === 1 ? 'delivery' : 'deliveries'}`,
      kind: 'act',
    });
    if (event.handover.finishedAt)
      items.push({
        at: event.handover.finishedAt,
        what: 'Handed over',
        detail: `${event.handover.released} released to the primary in ${duration(
          Date.parse(event.handover.finishedAt) - Date.parse(event.handover.startedAt),
        )}`,
        kind: 'done',
      });
  }
  if (event.closedAt) items.push({ at: event.closedAt, what: 'All clear: event closed', kind: 'done' });
  items.push(...noticeItems(notes.filter((n) => n.eventId === event.id)));
  return items.sort((a, b) => a.at.localeCompare(b.at));
}
