import type { HoldRecord } from '../ports.js';

/** Scope of a hold on everything. Other scopes are route names. */
export const HOLD_ALL = '*';

/** The reason a route is held, or null when mail for it may flow. */
export function holdReasonFor(route: string, holds: readonly HoldRecord[]): string | null {
  const hold = holds.find((h) => h.scope === route) ?? holds.find((h) => h.scope === HOLD_ALL);
  return hold ? hold.reason : null;
}
