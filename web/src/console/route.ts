/**
 * The console's place in the address bar, as paths under /console/ so the link in an admin's page
 * (`<consoleUrl>/events/<id>`) is the event page itself: `/console/` status, `/console/events`,
 * `/console/events/<id>`, `/console/queue?…` (its filters), `/console/delivery?message=…&recipient=…`
 * (in the query: a path ending in an address's `.com` would read as a file to the server),
 * `/console/quarantine`, `/console/audit?…`, `/console/notices[/<id>]`, `/console/replays[/<id>]`,
 * `/console/drills[/<id>]`, `/console/settings`. The path survives sign-in (it rides in the OIDC state).
 */
export type View =
  | { name: 'status' }
  | { name: 'events' }
  | { name: 'event'; id: string }
  | { name: 'queue'; params: URLSearchParams }
  | { name: 'delivery'; messageId: string; recipient: string }
  | { name: 'quarantine' }
  | { name: 'audit'; params: URLSearchParams }
  | { name: 'notices' }
  | { name: 'notice'; id: string }
  | { name: 'replays' }
  | { name: 'replay'; id: string }
  | { name: 'drills' }
  | { name: 'drill'; id: string }
  | { name: 'settings' }
  | { name: 'missing' };

/** The pages that are a list at `/console/<list>` and one item at `/console/<list>/<id>`. */
const LISTS = { events: 'event', notices: 'notice', replays: 'replay', drills: 'drill' } as const;
type ListName = keyof typeof LISTS;

export const BASE = '/console/';

function decode(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

/** Reads a location's path and query. */
export function parseView(pathname: string, search = ''): View {
  if (!pathname.startsWith(BASE)) return { name: 'status' };
  const parts = pathname.slice(BASE.length).split('/').filter(Boolean);
  const params = new URLSearchParams(search);
  const [first, second] = parts;
  if (parts.length === 0) return { name: 'status' };
  if (first && first in LISTS) {
    const list = first as ListName;
    if (parts.length === 1) return { name: list };
    const id = parts.length === 2 && second ? decode(second) : null;
    return id ? { name: LISTS[list], id } : { name: 'missing' };
  }
  if (first === 'queue' && parts.length === 1) return { name: 'queue', params };
  if (first === 'delivery' && parts.length === 1) {
    const messageId = params.get('message');
    const recipient = params.get('recipient');
    return messageId && recipient ? { name: 'delivery', messageId, recipient } : { name: 'missing' };
  }
  if (first === 'quarantine' && parts.length === 1) return { name: 'quarantine' };
  if (first === 'audit' && parts.length === 1) return { name: 'audit', params };
  if (first === 'settings' && parts.length === 1) return { name: 'settings' };
  return { name: 'missing' };
}

/** The path (and query) of a view. */
export function viewPath(view: View): string {
  const q = (p: URLSearchParams) => (p.toString() ? `?${p.toString()}` : '');
  switch (view.name) {
    case 'status':
    case 'missing':
      return BASE;
    case 'events':
    case 'notices':
    case 'replays':
    case 'drills':
    case 'settings':
      return `${BASE}${view.name}`;
    case 'event':
      return `${BASE}events/${encodeURIComponent(view.id)}`;
    case 'notice':
    case 'replay':
    case 'drill':
      return `${BASE}${view.name}s/${encodeURIComponent(view.id)}`;
    case 'queue':
      return `${BASE}queue${q(view.params)}`;
    case 'delivery':
      return `${BASE}delivery?${new URLSearchParams({ message: view.messageId, recipient: view.recipient }).toString()}`;
    case 'quarantine':
      return `${BASE}quarantine`;
    case 'audit':
      return `${BASE}audit${q(view.params)}`;
  }
}
