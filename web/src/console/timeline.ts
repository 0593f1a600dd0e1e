/**
 * An event's timeline: its steps from the event record (detected, acknowledged, invoked, extended,
 * flow restored, revoked, handed over, all clear), from the outbox (admins paged, staff texted,
 * each notice with whom it reached and what the notifier refused), and from the admin's jobs tied
 * to it: staff notices sent from the console, replays of the archive, and a drill's steps; oldest
 * first.
 */

import type { Drill } from '../../../lambdas/console/drill.js';
import { drillStepLabels } from '../../../lambdas/console/drill-steps.js';
import type { NoticeSummary } from '../../../lambdas/console/notices.js';
import type { ReplayJob } from '../../../lambdas/console/replay.js';
import type { ContinuityEvent, NotificationRecord } from '../../../lambdas/console/schemas.js';

/** The outbox's name for a staff notice sent from the console (lambdas/core/staff-notices.ts). */
const STAFF_NOTICE = 'staff-notice';

/** The admin's jobs the event page read, each tied to an event by its `eventId`. */
export interface EventJobs {
  notices?: readonly NoticeSummary[] | undefined;
  replays?: readonly ReplayJob[] | undefined;
  drills?: readonly Drill[] | undefined;
}

import { audienceWords, duration, scopeWords, when } from './format.js';

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
  [STAFF_NOTICE]: 'Staff notice sent',
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

/** Staff notices sent from the console: who sent what to whom, and how many were reached. */
function staffNoticeItems(notices: readonly NoticeSummary[]): TimelineItem[] {
  return notices.map((n) => ({
    at: n.createdAt,
    what: `Staff notice sent to ${audienceWords(n.audience)}`,
    who: n.createdBy,
    detail:
      `${n.template ? `The ${n.template} template` : 'Own words'}: ${n.counts.sent} sent` +
      (n.counts.failed ? `, ${n.counts.failed} NOT SENT` : '') +
      (n.counts.skipped ? `, ${n.counts.skipped} not reachable` : '') +
      (n.counts.queued ? `, ${n.counts.queued} waiting` : ''),
    kind: n.counts.failed ? 'problem' : 'staff',
  }));
}

/** Replays of the archive: started (window, skip list), and finished with what was sent, skipped, failed. */
function replayItems(replays: readonly ReplayJob[]): TimelineItem[] {
  return replays.flatMap((r): TimelineItem[] => {
    const p = r.progress;
    const started: TimelineItem = {
      at: r.createdAt,
      what: 'Replay of the archive started',
      who: r.createdBy,
      detail: `Mail received ${when(r.window.from)} to ${when(r.window.to)}, ${
        r.mailboxes === null ? 'every mailbox' : `${r.mailboxes.length} mailboxes`
      }; ${r.skipIds} Message-IDs skipped as present`,
      kind: 'act',
    };
    if (!r.finishedAt) return [started];
    return [
      started,
      {
        at: r.finishedAt,
        what: r.state === 'cancelled' ? 'Replay cancelled' : 'Replay finished',
        detail: `${p.sent} sent, ${p.present + p.outOfScope} skipped, ${p.failed} failed`,
        kind: p.failed ? 'problem' : 'done',
      },
    ];
  });
}

/** A drill's steps, each as it happened. */
function drillItems(drills: readonly Drill[]): TimelineItem[] {
  return drills.flatMap((d) =>
    d.steps.flatMap((s): TimelineItem[] =>
      s.at
        ? [
            {
              at: s.at,
              what: `Drill: ${drillStepLabels[s.step]}`,
              who: s.by ?? undefined,
              detail: s.detail ?? undefined,
              kind: s.step === 'all-clear' || s.step === 'handed-over' ? 'done' : 'act',
            },
          ]
        : [],
    ),
  );
}

/** The event's steps from its record, the outbox and the jobs tied to it, oldest first. */
export function timelineOf(
  event: ContinuityEvent,
  notes: NotificationRecord[],
  jobs: EventJobs = {},
): TimelineItem[] {
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
  const mine = <T extends { eventId: string | null }>(xs: readonly T[] | undefined) =>
    (xs ?? []).filter((x) => x.eventId === event.id);
  // A console notice is told once, from its own record (who sent it to whom), not from the outbox too.
  const outbox = notes.filter((n) => n.eventId === event.id && !(jobs.notices && n.notice === STAFF_NOTICE));
  items.push(...noticeItems(outbox));
  items.push(...staffNoticeItems(mine(jobs.notices)));
  items.push(...replayItems(mine(jobs.replays)));
  items.push(...drillItems(mine(jobs.drills)));
  return items.sort((a, b) => a.at.localeCompare(b.at));
}
