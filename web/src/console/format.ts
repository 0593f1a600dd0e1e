/**
 * How times, durations and states read in the console. Plain strings, rendered as text.
 */
import type { NoticeAudience } from '../../../lambdas/console/notices.js';
import type { DeliveryState, OrgStateName } from '../../../lambdas/console/schemas.js';

const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dayClock = new Intl.DateTimeFormat(undefined, {
  day: 'numeric',
  month: 'short',
  hour: '2-digit',
  minute: '2-digit',
});

/** 14:05:09 today, else 12 Nov, 14:05. */
export function when(iso: string, now = new Date()): string {
  const d = new Date(iso);
  return d.toDateString() === now.toDateString() ? clock.format(d) : dayClock.format(d);
}

/** A duration as people say it: 45 s, 12 min, 3 h 20 min, 2 days. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  return `${Math.round(h / 24)} days`;
}

/** "3 min ago", against `now`. */
export function ago(iso: string, now = Date.now()): string {
  const ms = now - Date.parse(iso);
  return ms < 5000 ? 'just now' : `${duration(ms)} ago`;
}

/** What each organisation state means, for the state card and the event header. */
export const ORG_WORDS: Record<OrgStateName, { label: string; says: string }> = {
  normal: { label: 'Normal', says: 'Mail flows to the primary.' },
  alerting: {
    label: 'Alerting',
    says: 'The primary is failing its checks. Mail is queued and retried; admins are paged.',
  },
  continuity: {
    label: 'Continuity',
    says: 'Mail is held here and staff read it in the webmail.',
  },
  recovering: {
    label: 'Handing over',
    says: 'Held mail is going back to the primary, oldest first.',
  },
};

/** Each delivery state in a few words. */
export const DELIVERY_WORDS: Record<DeliveryState, string> = {
  queued: 'Queued',
  delivering: 'Delivering',
  delivered: 'Delivered',
  deferred: 'Deferred',
  failed: 'Failed',
  held: 'Held',
  quarantined: 'Quarantined',
};

/** The scope of an event or a hold as words. */
export function scopeWords(scope: string): string {
  return scope === '*' ? 'every route' : `route ${scope}`;
}

/** Bytes as people read them. */
export function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** Who a staff notice goes to, in words. */
export function audienceWords(a: NoticeAudience): string {
  if (a.kind === 'all') return 'all staff';
  if (a.kind === 'groups') return `${a.groups.length === 1 ? 'group' : 'groups'} ${a.groups.join(', ')}`;
  return a.users.length === 1 ? (a.users[0] as string) : `${a.users.length} people`;
}
