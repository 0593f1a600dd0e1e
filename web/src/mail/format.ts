/**
 * How names, times and sizes read in the list and the reading pane. Everything here returns
 * plain strings that the views render as text.
 */

const ADDRESS = /^\s*(?:"?((?:[^"\\<]|\\.)*?)"?\s*)?<([^>]*)>\s*$/;

/** The display name of a From value ("Bob Jones" <bob@…> → Bob Jones), else the address. */
export function senderName(from: string | null): string {
  if (!from) return '(no sender)';
  const m = ADDRESS.exec(from);
  if (!m) return from.trim();
  const name = (m[1] ?? '').replace(/\\(.)/g, '$1').trim();
  return name !== '' ? name : (m[2] ?? from).trim();
}

/** The address part of a From value. */
export function senderAddress(from: string | null): string {
  if (!from) return '';
  return ADDRESS.exec(from)?.[2]?.trim() ?? from.trim();
}

const time = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dayMonth = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const fullDate = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'short' });

/** The list's short time: 14:05 today, 12 Nov this year, else the date. */
export function shortTime(iso: string, now = new Date()): string {
  const d = new Date(iso);
  if (d.toDateString() === now.toDateString()) return time.format(d);
  if (d.getFullYear() === now.getFullYear()) return dayMonth.format(d);
  return fullDate.format(d);
}

/** The reading pane's whole date and time. */
export function longTime(iso: string): string {
  return dateTime.format(new Date(iso));
}

/** Bytes as people read them. */
export function humanSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** What a delivery state means to the reader, for the states worth a badge (delivered needs none). */
export const STATE_WORDS: Partial<Record<string, { label: string; title: string }>> = {
  held: { label: 'Held', title: 'Held here while your mail server is down; delivered to it when it is back' },
  deferred: { label: 'Deferred', title: 'Your mail server did not take it yet; Lifeboat keeps trying' },
  queued: { label: 'Queued', title: 'Waiting to be delivered to your mail server' },
  delivering: { label: 'Delivering', title: 'Being delivered to your mail server now' },
  failed: { label: 'Not delivered', title: 'Your mail server refused it; it is only here' },
};
