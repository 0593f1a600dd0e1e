import './quiet.js';
import { existsSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import nodemailer from 'nodemailer';
import { silentLogger } from '../../lambdas/adapters/logger.js';
import { createConsoleNotifier } from '../../lambdas/adapters/notifiers.js';
import { LifeboatError } from '../../lambdas/core/errors.js';
import type { DeliveryRecord } from '../../lambdas/core/model.js';
import { listQueue, QUEUE_STATES, releaseDelivery } from '../../lambdas/core/queue-ops.js';
import { sweepDue } from '../../lambdas/core/sweep.js';
import { continuityCommand } from './cli-continuity.js';
import { consoleLogger } from './console-logger.js';
import { dataLayout, hasLegacyData, LegacyDataError } from './data-dir.js';
import { adminTokenFile } from './http-api.js';
import { importLegacyData } from './legacy-import.js';
import { loadLocalConfig } from './load-config.js';
import { createLocalContext, openLocalStores } from './local-context.js';

const usage = `usage: lifeboat <command> [options]

  status                      continuity state, open event, deliveries per state, holds
  events                      continuity events, newest first
  event <id>                  one event with its evidence and hand-over progress
  ack <id>                    acknowledge an alert (stops repeat pages and automatic invocation)
  invoke [--route R] [--reason TEXT]
                              invoke continuity: hold mail for the primary, open webmail
  revoke                      revoke continuity: hand held mail over to the primary
  schedule --start ISO --end ISO [--route R] [--reason TEXT]
                              plan continuity for maintenance
  outbox                      pages and texts sent (SMS and email)
  audit                       who did what, and what Lifeboat did on its own
  primary down|up             demo mode only: switch the demo primary off and on (rehearse an outage)
  messages [--day YYYY-MM-DD] messages received that day (UTC, default today), each recipient's state
  queue [--state S]           deliveries waiting or stuck (all states but delivered)
  show <messageId>            one message and each recipient's delivery
  retry <messageId> [rcpt]    send failed, held or quarantined deliveries again now
  flush                       attempt every due delivery now (like postqueue -f)
  send --to ADDR [--from ADDR] [--subject S] [--body B]
                              send a test message to the local gateway
  import-legacy               import the data folder of an earlier version (dynalite and s3rver
                              folders) into this one's store; run once, with Lifeboat stopped

Reads the same config as npm start (LIFEBOAT_CONFIG_FILE or ./lifeboat.config.json).`;

/** Deliveries `lifeboat queue` prints: a terminal's worth; the admin API pages through the rest. */
const QUEUE_LISTING_LIMIT = 200;

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

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      state: { type: 'string' },
      to: { type: 'string' },
      from: { type: 'string' },
      subject: { type: 'string' },
      day: { type: 'string' },
      route: { type: 'string' },
      reason: { type: 'string' },
      start: { type: 'string' },
      end: { type: 'string' },
      as: { type: 'string' },
      body: { type: 'string' },
    },
  });
  if (!command || command === 'help' || command === '--help') {
    process.stdout.write(`${usage}\n`);
    return command ? 0 : 2;
  }
  const { config } = loadLocalConfig();
  const host = config.local.listen;

  if (command === 'send') {
    if (!values.to) throw new LifeboatError('USAGE', 'send needs --to ADDRESS');
    const transport = nodemailer.createTransport({
      host,
      port: config.local.smtpPort,
      secure: false,
      ignoreTLS: true,
    });
    const info = await transport.sendMail({
      from: values.from ?? 'someone@example.org',
      to: values.to,
      subject: values.subject ?? 'Hello from Lifeboat',
      text: values.body ?? 'This message went through the Lifeboat gateway.',
    });
    process.stdout.write(`accepted: ${info.response}\nMessage-ID: ${info.messageId}\n`);
    return 0;
  }

  if (command === 'primary') {
    const want = positionals[0];
    if (want !== 'down' && want !== 'up') throw new LifeboatError('USAGE', 'primary takes down or up');
    const token = readFileSync(adminTokenFile(path.resolve(config.local.dataDir)), 'utf8').trim();
    const res = await fetch(`http://${host}:${config.local.apiPort}/local/demo-primary`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ up: want === 'up' }),
    });
    if (res.status === 404)
      throw new LifeboatError(
        'USAGE',
        'there is no demo primary: a config file points Lifeboat at a real one',
      );
    process.stdout.write(`demo primary is ${((await res.json()) as { up: boolean }).up ? 'UP' : 'DOWN'}\n`);
    return 0;
  }
  if (
    ['status', 'events', 'event', 'ack', 'invoke', 'revoke', 'schedule', 'outbox', 'audit'].includes(command)
  ) {
    const token = readFileSync(adminTokenFile(path.resolve(config.local.dataDir)), 'utf8').trim();
    const call = async (method: string, route: string, body?: unknown) => {
      const res = await fetch(`http://${host}:${config.local.apiPort}${route}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          'x-lifeboat-actor': values.as ?? `${userInfo().username}@localhost`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      const data = (await res.json()) as Record<string, unknown>;
      if (!res.ok) throw new LifeboatError(String(data.error), String(data.message));
      return data;
    };
    return continuityCommand(command, positionals, values, call);
  }

  const layout = dataLayout(config.local.dataDir);
  if (command === 'import-legacy') {
    const result = await importLegacyData(config, layout.dataDir, consoleLogger());
    process.stdout.write(
      `imported ${result.messages} messages and ${result.deliveries} deliveries; start Lifeboat again with npm start\n`,
    );
    return 0;
  }
  // The records are read where they are kept: a file private to this user, no storage port.
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
    notifier: createConsoleNotifier(silentLogger),
    trigger: { requestDelivery: async () => {} },
  });
  const now = ctx.clock.now();

  switch (command) {
    case 'messages': {
      const day = values.day ?? now.toISOString().slice(0, 10);
      if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) throw new LifeboatError('USAGE', '--day takes YYYY-MM-DD');
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
      process.stdout.write(rows.length > 1 ? `${table(rows)}\n` : `no messages received on ${day}\n`);
      return 0;
    }
    case 'queue': {
      const state = values.state;
      if (state !== undefined && !(QUEUE_STATES as readonly string[]).includes(state))
        throw new LifeboatError('USAGE', `unknown state ${state}; one of ${QUEUE_STATES.join(', ')}`);
      // One page, oldest first: the listing reads no more of the queue than it shows.
      const page = await listQueue(ctx.store, {
        state: state as DeliveryRecord['state'] | undefined,
        limit: QUEUE_LISTING_LIMIT,
      });
      const rows = page.items;
      if (rows.length === 0) {
        process.stdout.write(
          'queue is empty: nothing is waiting (see `lifeboat messages` for what was delivered)\n',
        );
        return 0;
      }
      rows.sort((a, b) => a.receivedAt.localeCompare(b.receivedAt));
      process.stdout.write(
        `${table([
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
        ])}\n`,
      );
      if (page.cursor)
        process.stdout.write(
          `showing the first ${rows.length}; \`lifeboat status\` has the count per state, GET /admin/queue pages through all\n`,
        );
      return 0;
    }
    case 'show': {
      const id = positionals[0];
      if (!id) throw new LifeboatError('USAGE', 'show needs a message id');
      const message = await ctx.store.getMessage(id);
      if (!message) throw new LifeboatError('NOT_FOUND', `no message ${id}`);
      const deliveries = await ctx.store.listDeliveries(id);
      const { snippet: _snippet, ...summary } = message;
      process.stdout.write(`${JSON.stringify({ message: summary, deliveries }, null, 2)}\n`);
      return 0;
    }
    case 'retry': {
      const [id, rcpt] = positionals;
      if (!id) throw new LifeboatError('USAGE', 'retry needs a message id');
      const deliveries = (await ctx.store.listDeliveries(id)).filter(
        (d) => !rcpt || d.recipient === rcpt.toLowerCase(),
      );
      if (deliveries.length === 0)
        throw new LifeboatError('NOT_FOUND', `no delivery for ${id}${rcpt ? ` to ${rcpt}` : ''}`);
      for (const d of deliveries) {
        if (!['failed', 'held', 'quarantined'].includes(d.state)) continue;
        const next = await releaseDelivery(d, { store: ctx.store, clock: ctx.clock, log: ctx.log });
        process.stdout.write(`${d.recipient}: ${d.state} -> ${next.state}\n`);
      }
      return 0;
    }
    case 'flush': {
      const result = await sweepDue(ctx, { maxMessages: 10_000 });
      process.stdout.write(`${JSON.stringify(result)}\n`);
      return 0;
    }
    default:
      process.stderr.write(`lifeboat: unknown command ${command}\n${usage}\n`);
      return 2;
  }
}

main(process.argv.slice(2))
  .then((code) => process.exit(code))
  .catch((err: Error & { code?: string; name?: string }) => {
    const refused =
      err.code === 'ECONNREFUSED' || err.name === 'TimeoutError' || /ECONNREFUSED/.test(String(err.message));
    process.stderr.write(
      refused
        ? 'lifeboat: cannot reach the local runtime: start it with `npm start` (in another terminal)\n'
        : `lifeboat: ${err.message}\n`,
    );
    process.exit(1);
  });
