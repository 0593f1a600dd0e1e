import { existsSync } from 'node:fs';
import { silentLogger } from '../../lambdas/adapters/logger.js';
import { flushQueue, retryDelivery } from '../../lambdas/core/admin-actions.js';
import { exportAuditCsv, searchAudit } from '../../lambdas/core/audit-log.js';
import type { LifeboatConfig } from '../../lambdas/core/config.js';
import { canTransition, TransitionError } from '../../lambdas/core/delivery-state.js';
import { LifeboatError, NotFoundError } from '../../lambdas/core/errors.js';
import type { DeliveryRecord, MessageRecord } from '../../lambdas/core/model.js';
import {
  actOnDelivery,
  actOnQuarantined,
  actOnSelection,
  listQuarantine,
  MAX_SELECTION,
  type QueueAction,
  type SelectionItem,
} from '../../lambdas/core/queue-admin.js';
import { listQueue, QUEUE_STATES } from '../../lambdas/core/queue-ops.js';
import { dataLayout, hasLegacyData, LegacyDataError } from './data-dir.js';
import { createLocalContext, openLocalStores } from './local-context.js';

/** Deliveries `lifeboat queue` prints: a terminal's worth; the admin API pages through the rest. */
const QUEUE_LISTING_LIMIT = 200;

/** Messages one `lifeboat flush` attempts: the whole local queue, where a sweep takes 200 per run. */
const FLUSH_MAX_MESSAGES = 10_000;

export const MAIL_COMMANDS = ['messages', 'queue', 'show', 'retry', 'flush'] as const;

/** The queue actions that take delivery ids, and the quarantine's and the audit log's commands. */
export const QUEUE_ACTION_COMMANDS = ['hold', 'release', 'reroute', 'bounce', 'delete'] as const;
export const ADMIN_STORE_COMMANDS = [...QUEUE_ACTION_COMMANDS, 'quarantine', 'audit'] as const;

/** Audit entries `lifeboat audit` prints without --csv: a terminal's worth, newest first. */
const AUDIT_LISTING_LIMIT = 100;

export interface MailValues {
  day?: string | undefined;
  state?: string | undefined;
  json?: boolean | undefined;
  route?: string | undefined;
  recipient?: string | undefined;
  sender?: string | undefined;
  'older-than'?: string | undefined;
  'newer-than'?: string | undefined;
  reason?: string | undefined;
  csv?: boolean | undefined;
  actor?: string | undefined;
  action?: string | undefined;
  target?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
}

/** Minutes as a whole number, or a usage error naming the option. */
function minutesOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,7}$/.test(value))
    throw new LifeboatError('USAGE', `--${name} takes whole minutes, not ${value}`);
  return Number(value);
}

/** An ISO 8601 time with its offset, or a usage error naming the option. */
function timeOption(value: string | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  const t = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(t))
    throw new LifeboatError(
      'USAGE',
      `--${name} takes an ISO 8601 time such as 2026-11-22T10:00:00Z, not ${value}`,
    );
  return new Date(t).toISOString();
}

/** `<messageId>` (every recipient) or `<messageId>/<recipient>`, as the admin API's ids. */
export function parseDeliveryIds(args: readonly string[]): SelectionItem[] {
  if (args.length === 0)
    throw new LifeboatError('USAGE', 'name at least one delivery: <messageId>[/<recipient>]');
  if (args.length > MAX_SELECTION)
    throw new LifeboatError('USAGE', `at most ${MAX_SELECTION} deliveries per command, got ${args.length}`);
  return args.map((arg) => {
    const slash = arg.indexOf('/');
    const messageId = slash < 0 ? arg : arg.slice(0, slash);
    const recipient = slash < 0 ? undefined : arg.slice(slash + 1).toLowerCase();
    if (
      !/^[A-Za-z0-9._-]{1,128}$/.test(messageId) ||
      (recipient !== undefined && !/^[^\s@/]+@[^\s@/]+$/.test(recipient))
    )
      throw new LifeboatError('USAGE', `${arg} is not <messageId> or <messageId>/<recipient>`);
    return { messageId, recipient };
  });
}

export interface MailCommandContext {
  config: LifeboatConfig;
  /** Who acts, for the audit log. */
  actor: string;
  out(line: string): void;
  err(line: string): void;
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function ago(iso: string | null, now: Date): string {
  if (!iso) return '-';
  const s = Math.round((Date.parse(iso) - now.getTime()) / 1000);
  const abs = Math.abs(s);
  const text = abs < 120 ? `${abs}s` : abs < 7200 ? `${Math.round(abs / 60)}m` : `${Math.round(abs / 3600)}h`;
  return s >= 0 ? `in ${text}` : `${text} ago`;
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} kB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** A real calendar day as YYYY-MM-DD (not 2024-13-45 or 2023-02-29). */
export function isCalendarDay(day: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return false;
  const parsed = new Date(`${day}T00:00:00Z`);
  return !Number.isNaN(parsed.getTime()) && parsed.toISOString().slice(0, 10) === day;
}

/** `show`: one message and each recipient's delivery, as a person reads it. */
function describeMessage(m: Omit<MessageRecord, 'snippet'>, deliveries: DeliveryRecord[], now: Date): string {
  const v = m.verdicts;
  const lines = [
    `message      ${m.id}`,
    `received     ${m.receivedAt}, ${size(m.size)}`,
    `envelope     from ${m.envelopeFrom || '<>'} to ${m.recipients.join(', ')}`,
    `from         ${m.from ?? '-'}`,
    `subject      ${m.subject ?? '-'}`,
    ...(m.messageIdHeader ? [`message-id   ${m.messageIdHeader}`] : []),
    `verdicts     spam ${v.spam}, virus ${v.virus}, SPF ${v.spf}, DKIM ${v.dkim}, DMARC ${v.dmarc}${v.dmarcPolicy ? ` (policy ${v.dmarcPolicy.toLowerCase()})` : ''}`,
    `attachments  ${
      m.attachments.length === 0
        ? 'none'
        : m.attachments
            .map((a) => `${a.filename ?? '(unnamed)'} (${a.contentType}, ${size(a.size)})`)
            .join(', ')
    }`,
    ...(m.parseError ? [`not parsed   ${m.parseError} (kept and relayed as received)`] : []),
    '',
    table([
      ['recipient', 'route', 'state', 'tries', 'when', 'last reply or reason'],
      ...deliveries.map((d) => [
        d.recipient,
        d.route,
        d.reason && (d.state === 'held' || d.state === 'quarantined') ? `${d.state} (${d.reason})` : d.state,
        String(d.attempts),
        d.state === 'delivered'
          ? `delivered ${ago(d.deliveredAt, now)}`
          : d.state === 'deferred'
            ? `next ${ago(d.nextAttemptAt, now)}`
            : '-',
        (d.lastResponse ?? d.lastError ?? '').slice(0, 80) || '-',
      ]),
    ]),
  ];
  return lines.join('\n');
}

/**
 * The mail commands, on the data folder's own SQLite file (WAL lets them read while the runtime
 * writes): the listings read it directly; retry and flush are the same audited core actions as
 * the admin API's, with the same errors.
 */
export async function mailCommand(
  command: string,
  args: string[],
  values: MailValues,
  cli: MailCommandContext,
): Promise<number> {
  const { config, out } = cli;
  // Arguments first: a usage error is one whatever the data folder holds, and changes nothing.
  if (command === 'messages' && values.day !== undefined && !isCalendarDay(values.day))
    throw new LifeboatError('USAGE', `--day takes a date as YYYY-MM-DD, not ${values.day}`);
  if (
    command === 'queue' &&
    values.state !== undefined &&
    !(QUEUE_STATES as readonly string[]).includes(values.state)
  )
    throw new LifeboatError('USAGE', `unknown state ${values.state}; one of ${QUEUE_STATES.join(', ')}`);
  if ((command === 'show' || command === 'retry') && !args[0])
    throw new LifeboatError('USAGE', `${command} needs a message id (see lifeboat messages)`);
  const olderThan = minutesOption(values['older-than'], 'older-than');
  const newerThan = minutesOption(values['newer-than'], 'newer-than');
  if (command === 'reroute' && !config.routes.some((r) => r.name === values.route))
    throw new LifeboatError(
      'USAGE',
      `reroute needs --route, one of the configured routes: ${config.routes.map((r) => r.name).join(', ')}`,
    );
  const ids = (QUEUE_ACTION_COMMANDS as readonly string[]).includes(command)
    ? parseDeliveryIds(args)
    : command === 'quarantine' && args[0]
      ? quarantineArgs(args, values)
      : undefined;
  const auditRange = { since: timeOption(values.since, 'since'), until: timeOption(values.until, 'until') };

  const layout = dataLayout(config.local.dataDir);
  if (hasLegacyData(layout)) throw new LegacyDataError(layout.dataDir);
  if (!existsSync(layout.database)) {
    throw new LifeboatError(
      'NO_DATA',
      `no Lifeboat data in ${layout.dataDir}: start Lifeboat with \`npm start\` first (same folder, same config)`,
    );
  }
  const stores = openLocalStores(layout, config);
  const ctx = createLocalContext(config, stores, {
    log: silentLogger,
    // Pages are the runtime's to send: its probe rounds see what a flush changed.
    notifier: { send: async () => {} },
    // The runtime's sweep picks up what a retry requeues; a flush attempts it here.
    trigger: { requestDelivery: async () => {} },
  });
  const now = ctx.clock.now();
  try {
    switch (command) {
      case 'messages': {
        const day = values.day ?? now.toISOString().slice(0, 10);
        const rows: string[][] = [['received', 'message', 'from', 'size', 'recipients']];
        let cursor: string | undefined;
        do {
          const page = await ctx.store.listMessagesByDay(day, 100, cursor);
          for (const m of page.items) {
            const deliveries = await ctx.store.listDeliveries(m.id);
            rows.push([
              m.receivedAt.slice(11, 19),
              m.id,
              m.envelopeFrom || '<>',
              String(m.size),
              deliveries.map((d) => `${d.recipient} ${d.state}`).join(', '),
            ]);
          }
          cursor = page.cursor;
        } while (cursor);
        out(rows.length > 1 ? table(rows) : `no messages received on ${day} (UTC)`);
        return 0;
      }
      case 'queue': {
        // One page, oldest first: the listing reads no more of the queue than it shows.
        const minutesAgo = (min: number | undefined) =>
          min === undefined ? undefined : new Date(now.getTime() - min * 60_000).toISOString();
        const page = await listQueue(ctx.store, {
          state: values.state as DeliveryRecord['state'] | undefined,
          limit: QUEUE_LISTING_LIMIT,
          filter: {
            route: values.route,
            recipient: values.recipient?.toLowerCase(),
            sender: values.sender,
            receivedBefore: minutesAgo(olderThan),
            receivedAfter: minutesAgo(newerThan),
          },
        });
        const rows = page.items;
        if (rows.length === 0) {
          out('queue is empty: nothing is waiting (see `lifeboat messages` for what was delivered)');
          return 0;
        }
        rows.sort((a, b) => a.receivedAt.localeCompare(b.receivedAt));
        out(
          table([
            ['message', 'recipient', 'route', 'state', 'tries', 'next', 'last error / reason'],
            ...rows.map((d) => [
              d.messageId,
              d.recipient,
              d.route,
              d.state,
              String(d.attempts),
              d.state === 'deferred' ? ago(d.nextAttemptAt, now) : '-',
              (d.lastError ?? d.reason ?? '').slice(0, 80),
            ]),
          ]),
        );
        if (page.cursor)
          out(
            `showing the first ${rows.length}; \`lifeboat status\` has the count per state, GET /admin/queue pages through all`,
          );
        return 0;
      }
      case 'show': {
        const id = args[0] as string;
        const message = await ctx.store.getMessage(id);
        if (!message) throw new NotFoundError(`message ${id}`);
        const deliveries = (await ctx.store.listDeliveries(id)).sort((a, b) =>
          a.recipient.localeCompare(b.recipient),
        );
        // The snippet is body text: the terminal shows headers and states, never the body.
        const { snippet: _snippet, ...summary } = message;
        out(
          values.json
            ? JSON.stringify({ message: summary, deliveries }, null, 2)
            : describeMessage(summary, deliveries, now),
        );
        return 0;
      }
      case 'retry':
        return await retry(args[0] as string, args[1], values, cli, ctx);
      case 'hold':
      case 'release':
      case 'reroute':
      case 'bounce':
      case 'delete': {
        const action = command as QueueAction;
        const options = { actor: cli.actor, reason: values.reason, route: values.route };
        const outcome = await actOnSelection(ctx, ids as SelectionItem[], (key) =>
          actOnDelivery(ctx, key, action, options),
        );
        await ctx.mailer.close?.();
        return report(outcome, values, cli);
      }
      case 'quarantine': {
        if (!ids) {
          const page = await listQuarantine(ctx, { limit: QUEUE_LISTING_LIMIT });
          if (values.json) out(JSON.stringify(page, null, 2));
          else if (page.items.length === 0) out('quarantine is empty');
          else
            out(
              table([
                ['message', 'recipient', 'reason', 'received', 'from', 'verdicts'],
                ...page.items.map(({ delivery: d, message: m }) => [
                  d.messageId,
                  d.recipient,
                  d.reason ?? '-',
                  d.receivedAt.slice(0, 19),
                  m?.envelopeFrom || '<>',
                  m ? `spam ${m.verdicts.spam}, virus ${m.verdicts.virus}, DMARC ${m.verdicts.dmarc}` : '-',
                ]),
              ]),
            );
          return 0;
        }
        const action = args[0] as 'release' | 'delete';
        const outcome = await actOnSelection(ctx, ids, (key) =>
          actOnQuarantined(ctx, key, action, { actor: cli.actor, reason: values.reason }),
        );
        return report(outcome, values, cli);
      }
      case 'audit': {
        const filter = {
          actor: values.actor,
          action: values.action,
          target: values.target,
          from: auditRange.since,
          to: auditRange.until,
        };
        if (values.csv) {
          const { csv, truncated } = await exportAuditCsv(ctx.continuity, filter);
          cli.out(csv.replace(/\r\n$/, ''));
          if (truncated) cli.err('lifeboat: more entries than one export holds: narrow --since and --until');
          return 0;
        }
        const page = await searchAudit(ctx.continuity, filter, { limit: AUDIT_LISTING_LIMIT });
        if (values.json) out(JSON.stringify(page.entries, null, 2));
        else if (page.entries.length === 0) out('no audit entries match');
        else
          for (const e of page.entries)
            out(
              `${e.at}  ${e.actor.padEnd(24)} ${e.action.padEnd(18)} ${e.detail}${e.reason ? ` (reason: ${e.reason})` : ''}`,
            );
        return 0;
      }
      case 'flush': {
        const result = await flushQueue(ctx, cli.actor, { maxMessages: FLUSH_MAX_MESSAGES });
        await ctx.mailer.close?.();
        if (values.json) out(JSON.stringify(result, null, 2));
        else if (result.messages === 0 && result.leftForLater === 0)
          out('nothing was due: deferred mail waits for its next attempt (see `lifeboat queue`)');
        else
          out(
            [
              `attempted ${result.messages} messages: ${result.delivered} delivered, ${result.deferred} deferred, ${result.failed} failed, ${result.held} held`,
              ...(result.postponed
                ? [`${result.postponed} put off without a connection: their route failed again and again`]
                : []),
              ...(result.leftForLater ? [`${result.leftForLater} left for the next sweep`] : []),
            ].join('\n'),
          );
        return 0;
      }
      default:
        throw new LifeboatError('USAGE', `unknown command ${command}`);
    }
  } finally {
    stores.store.close();
    stores.jobs.close();
  }
}

/**
 * `retry <id> [recipient]` through retryDelivery, as the admin API's retry: audited, and refused
 * alike. Naming a recipient retries that delivery or fails with the reason (the API's 409);
 * without one, every delivery of the message that can be retried is, and the command fails only
 * when none can.
 */
async function retry(
  messageId: string,
  recipient: string | undefined,
  values: MailValues,
  cli: MailCommandContext,
  ctx: ReturnType<typeof createLocalContext>,
): Promise<number> {
  const all = await ctx.store.listDeliveries(messageId);
  const chosen = recipient ? all.filter((d) => d.recipient === recipient.toLowerCase()) : all;
  if (chosen.length === 0) {
    throw new NotFoundError(
      all.length === 0 ? `message ${messageId}` : `a delivery of ${messageId} to ${recipient}`,
    );
  }
  const retriable = recipient ? chosen : chosen.filter((d) => canTransition(d.state, 'queued'));
  if (retriable.length === 0) {
    const states = chosen.map((d) => `${d.recipient} is ${d.state}`).join(', ');
    throw new LifeboatError(
      'TRANSITION_NOT_ALLOWED',
      `nothing to retry: ${states} (retry takes failed, held or quarantined deliveries)`,
    );
  }
  const results: Array<{ recipient: string; from: string; to: string }> = [];
  for (const d of retriable) {
    let after: DeliveryRecord;
    try {
      after = await retryDelivery(ctx, d, cli.actor);
    } catch (err) {
      if (err instanceof TransitionError) throw new TransitionRefused(d.recipient, err);
      throw err;
    }
    results.push({ recipient: d.recipient, from: d.state, to: after.state });
  }
  const left = chosen.filter((d) => !retriable.includes(d));
  if (values.json)
    cli.out(
      JSON.stringify(
        { retried: results, left: left.map((d) => ({ recipient: d.recipient, state: d.state })) },
        null,
        2,
      ),
    );
  else {
    for (const r of results)
      cli.out(`${r.recipient}: ${r.from} -> ${r.to}${r.to === 'held' ? ' (its route is still held)' : ''}`);
    for (const d of left) cli.out(`${d.recipient}: left ${d.state}`);
  }
  return 0;
}

/** `quarantine release|delete <id…>`: the action is checked here, the ids like any other. */
function quarantineArgs(args: string[], values: MailValues): SelectionItem[] {
  const [action, ...rest] = args;
  if (action !== 'release' && action !== 'delete')
    throw new LifeboatError('USAGE', `quarantine takes release or delete, not ${action}`);
  if (action === 'release' && !values.reason?.trim())
    throw new LifeboatError(
      'USAGE',
      'quarantine release needs --reason: releasing quarantined mail is an override',
    );
  return parseDeliveryIds(rest);
}

/**
 * Prints each delivery's outcome of a queue action; exit status 1 when any was refused (each
 * with the admin API's reason on stderr), 0 when every one was done.
 */
function report(
  outcome: Awaited<ReturnType<typeof actOnSelection>>,
  values: MailValues,
  cli: MailCommandContext,
): number {
  if (values.json) cli.out(JSON.stringify(outcome, null, 2));
  else
    for (const r of outcome.results) {
      if (r.ok)
        cli.out(
          `${r.messageId}/${r.recipient}: ${r.state}${r.state !== 'deleted' && r.route ? ` (route ${r.route})` : ''}`,
        );
    }
  for (const r of outcome.results)
    if (!r.ok) cli.err(`lifeboat: ${r.messageId}/${r.recipient}: ${r.error.message}`);
  return outcome.refused > 0 ? 1 : 0;
}

/** A retry refused for one recipient: the core's reason, with whose delivery it was. */
class TransitionRefused extends LifeboatError {
  constructor(recipient: string, cause: TransitionError) {
    super(cause.code, `${recipient}: ${cause.message}`, { cause });
  }
}
