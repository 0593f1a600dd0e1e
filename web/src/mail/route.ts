/**
 * The app's place in the address bar: `#/` the mailbox, `#/m/<id>` a message, `?q=<query>` a
 * search, `#/sent` what I sent, `#/drafts` my drafts. The hash survives sign-in (it rides in the
 * OIDC state), so a link to a message opens that message once the user is signed in.
 */
export interface Route {
  /** The open message. */
  id: string | null;
  /** The search whose results are listed; null for the mailbox. */
  q: string | null;
  /** A view other than the mailbox; absent for the mailbox. */
  view?: 'sent' | 'drafts';
}

/** Reads a location hash. */
export function parseRoute(hash: string): Route {
  const body = hash.replace(/^#\/?/, '');
  const [path = '', query = ''] = body.split('?', 2);
  if (path === 'sent' || path === 'drafts') return { id: null, q: null, view: path };
  const m = /^m\/(.+)$/.exec(path);
  let id: string | null = null;
  if (m?.[1]) {
    try {
      id = decodeURIComponent(m[1]);
    } catch {
      id = null;
    }
  }
  const q = new URLSearchParams(query).get('q');
  return { id, q: q && q.trim() !== '' ? q : null };
}

/** The hash for a route. */
export function routeHash(route: Route): string {
  if (route.view) return `#/${route.view}`;
  const path = route.id ? `m/${encodeURIComponent(route.id)}` : '';
  const query = route.q ? `?${new URLSearchParams({ q: route.q }).toString()}` : '';
  return `#/${path}${query}`;
}
