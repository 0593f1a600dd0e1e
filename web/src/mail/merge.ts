/** Merging pages of the mailbox list: the poll's fresh first page into what is shown. */
import type { MessagePage, MessageSummary } from '../../../lambdas/webmail/schemas.js';

/** A list as the app holds it: the rows so far and the cursor for older ones. */
export interface ListState {
  messages: MessageSummary[];
  cursor: string | null;
  loading: boolean;
  loaded: boolean;
}

/** A list before its first page. */
export const EMPTY: ListState = { messages: [], cursor: null, loading: false, loaded: false };

/**
 * Merges a fresh first page into the list: new ids go on top, known ones take the fresh marks.
 * When none of the fresh page is known, more arrived than a page holds: the fresh page replaces
 * the list (with its cursor), so there is never a hole in the middle of it.
 * @returns the list and how many messages are new
 */
export function mergeFirstPage(list: ListState, fresh: MessagePage): { list: ListState; added: number } {
  const known = new Set(list.messages.map((m) => m.id));
  const overlap = fresh.messages.some((m) => known.has(m.id));
  if (!overlap && list.messages.length > 0 && fresh.cursor !== null) {
    return {
      list: { ...list, messages: fresh.messages, cursor: fresh.cursor },
      added: fresh.messages.length,
    };
  }
  const byId = new Map(fresh.messages.map((m) => [m.id, m]));
  const added = fresh.messages.filter((m) => !known.has(m.id));
  const messages = [...added, ...list.messages.map((m) => byId.get(m.id) ?? m)].sort((a, b) =>
    b.receivedAt.localeCompare(a.receivedAt),
  );
  return { list: { ...list, messages, loaded: true }, added: added.length };
}
