import type { AuditEntry, ContinuityStore } from '../ports.js';
import { ValidationError } from './errors.js';

/**
 * The audit log as the console and `lifeboat audit` search it: a time range read newest first
 * from the store, narrowed by actor, action and target, and exported as CSV.
 */

export interface AuditFilter {
  /** Exact actor, case-insensitive (`alice@example.com`, `lifeboat`). */
  actor?: string | undefined;
  /** Exact action (`hold`, `bounce`, `invoke` …). */
  action?: string | undefined;
  /** Part of the target or the detail, case-insensitive: a message id or an address. */
  target?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
}

/**
 * Most entries one search reads before it answers, and the queries it makes: a filter that
 * matches little still costs a bounded read per request, and the cursor carries on.
 */
export const AUDIT_SCAN_BUDGET = 1000;
export const AUDIT_MAX_QUERIES = 20;

/** Rows one CSV export holds at most: about 3 MB, inside a Lambda response (6 MB). */
export const MAX_CSV_ROWS = 10_000;

function matches(e: AuditEntry, f: AuditFilter): boolean {
  if (f.actor !== undefined && e.actor.toLowerCase() !== f.actor.toLowerCase()) return false;
  if (f.action !== undefined && e.action !== f.action) return false;
  if (f.target !== undefined) {
    const want = f.target.toLowerCase();
    if (!`${e.target ?? ''}\n${e.detail}`.toLowerCase().includes(want)) return false;
  }
  return true;
}

export interface AuditPage {
  entries: AuditEntry[];
  cursor: string | undefined;
  /** Entries read to answer. */
  scanned: number;
}

/**
 * One page of matching audit entries, newest first. Each query asks for no more entries than the
 * page still needs, so the store's cursor always resumes right after the last entry returned.
 * @throws ValidationError when `from` is not before `to`
 */
export async function searchAudit(
  continuity: ContinuityStore,
  filter: AuditFilter,
  options: { limit: number; cursor?: string | undefined },
): Promise<AuditPage> {
  if (filter.from !== undefined && filter.to !== undefined && filter.from >= filter.to)
    throw new ValidationError('query', ['to: must be after from']);
  const entries: AuditEntry[] = [];
  let cursor = options.cursor;
  let scanned = 0;
  for (let queries = 0; queries < AUDIT_MAX_QUERIES && scanned < AUDIT_SCAN_BUDGET; queries++) {
    const page = await continuity.queryAudit({
      from: filter.from,
      to: filter.to,
      limit: Math.min(options.limit - entries.length, AUDIT_SCAN_BUDGET - scanned),
      cursor,
    });
    scanned += page.items.length;
    entries.push(...page.items.filter((e) => matches(e, filter)));
    cursor = page.cursor;
    if (!cursor || entries.length >= options.limit) break;
  }
  return { entries, cursor, scanned };
}

/**
 * A CSV cell (RFC 4180), safe to open in a spreadsheet: a value starting with `=`, `+`, `-`, `@`
 * (or a tab or carriage return) would be run as a formula (CSV injection, OWASP), so it is
 * prefixed with a single quote.
 */
export function csvCell(value: string | null | undefined): string {
  let text = value ?? '';
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export const AUDIT_CSV_COLUMNS = ['at', 'actor', 'action', 'target', 'reason', 'detail', 'eventId'] as const;

/**
 * The matching audit entries as CSV, newest first, up to MAX_CSV_ROWS.
 * @returns the CSV text and whether rows were left out (narrow the range to get them)
 */
export async function exportAuditCsv(
  continuity: ContinuityStore,
  filter: AuditFilter,
): Promise<{ csv: string; rows: number; truncated: boolean }> {
  const lines = [AUDIT_CSV_COLUMNS.join(',')];
  let cursor: string | undefined;
  let rows = 0;
  do {
    const page = await searchAudit(continuity, filter, { limit: Math.min(500, MAX_CSV_ROWS - rows), cursor });
    for (const e of page.entries) {
      lines.push(AUDIT_CSV_COLUMNS.map((c) => csvCell(e[c] === null ? '' : String(e[c] ?? ''))).join(','));
      rows++;
    }
    cursor = page.cursor;
  } while (cursor && rows < MAX_CSV_ROWS);
  return { csv: `${lines.join('\r\n')}\r\n`, rows, truncated: cursor !== undefined };
}
