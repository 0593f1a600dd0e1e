import type { HoldRecord } from '../ports.js';

/** Scope of a hold on everything. Other scopes are route names, or a list of mailboxes. */
export const HOLD_ALL = '*';

/**
 * Prefix of a hold scope on a few mailboxes rather than a route: `mailboxes:a@x,b@y` (a drill on
 * test mailboxes). Addresses are lower-case and never contain a comma.
 */
export const MAILBOX_SCOPE_PREFIX = 'mailboxes:';

/** The hold scope for a list of mailboxes: sorted, so the same list always names the same hold. */
export function mailboxScope(addresses: readonly string[]): string {
  return `${MAILBOX_SCOPE_PREFIX}${[...new Set(addresses.map((a) => a.toLowerCase()))].sort().join(',')}`;
}

/** The mailboxes a `mailboxes:` scope names; null for a route or `*`. */
export function scopeMailboxes(scope: string): string[] | null {
  return scope.startsWith(MAILBOX_SCOPE_PREFIX) ? scope.slice(MAILBOX_SCOPE_PREFIX.length).split(',') : null;
}

/** Whether a hold scope covers mail for `recipient` on `route`. */
export function scopeCovers(scope: string, route: string, recipient?: string): boolean {
  if (scope === HOLD_ALL || scope === route) return true;
  const mailboxes = scopeMailboxes(scope);
  return mailboxes !== null && recipient !== undefined && mailboxes.includes(recipient.toLowerCase());
}

/**
 * The reason mail for `recipient` on `route` is held, or null when it may flow. A route's own hold
 * wins over a hold on everything; a hold on mailboxes applies only when the recipient is given.
 */
export function holdReasonFor(
  route: string,
  holds: readonly HoldRecord[],
  recipient?: string,
): string | null {
  const hold =
    holds.find((h) => h.scope === route) ??
    holds.find((h) => h.scope === HOLD_ALL) ??
    (recipient === undefined ? undefined : holds.find((h) => scopeCovers(h.scope, route, recipient)));
  return hold ? hold.reason : null;
}
