import { LifeboatError } from '../../lambdas/core/errors.js';
import type { AdminCall } from './cli-api.js';

export interface ContinuityValues {
  route?: string | undefined;
  reason?: string | undefined;
  start?: string | undefined;
  end?: string | undefined;
  /** Print the admin API's answer as JSON instead of text. */
  json?: boolean | undefined;
}

interface EventView {
  id: string;
  state: string;
  openedAt: string;
  closedAt: string | null;
  openedBy: string;
  scope: string;
  acknowledgedBy: string | null;
  invokedBy: string | null;
  invokeMode: string | null;
  revokedBy: string | null;
  pages: number;
  evidence: Array<{ at: string; route: string; probe: string; detail: string }>;
  handover: { total: number; released: number; startedAt: string; finishedAt: string | null } | null;
  scheduledStart: string | null;
  scheduledEnd: string | null;
  /** The drill this event rehearses. */
  drill?: string | undefined;
}

interface StatusView {
  state: string;
  since: string;
  lastProbeRoundAt: string | null;
  event: EventView | null;
  holds: Array<{ scope: string; reason: string; since: string; by: string; draining?: boolean }>;
  queue: Record<string, number>;
  failedNotifications?: {
    count: number;
    windowHours: number;
    last: { at: string; channel: string; notice: string; error: string } | null;
  };
  /** The local runtime's acknowledged messages not recorded yet. */
  unrecorded?: { ingesting: number; awaitingRetry: number };
  /** The drill running now. */
  drill?: { id: string; holdScope: string; eventId: string | null; auto: boolean } | null;
}

function describeEvent(e: EventView): string[] {
  const lines = [
    `${e.drill ? `DRILL ${e.drill}: ` : ''}event ${e.id}: ${e.closedAt ? `closed ${e.closedAt}` : e.state}, opened ${e.openedAt} by ${e.openedBy}, scope ${e.scope === '*' ? 'all routes' : e.scope}`,
  ];
  if (e.scheduledStart) lines.push(`  scheduled     ${e.scheduledStart} → ${e.scheduledEnd}`);
  lines.push(
    `  pages sent    ${e.pages}${e.acknowledgedBy ? `, acknowledged by ${e.acknowledgedBy}` : ', not acknowledged'}`,
  );
  if (e.invokedBy) lines.push(`  invoked       ${e.invokeMode} by ${e.invokedBy}`);
  if (e.revokedBy) lines.push(`  revoked       by ${e.revokedBy}`);
  if (e.handover) {
    const pct = e.handover.total ? Math.round((100 * e.handover.released) / e.handover.total) : 100;
    lines.push(
      `  hand-over     ${e.handover.released} of ${e.handover.total} deliveries (${pct}%)${e.handover.finishedAt ? `, finished ${e.handover.finishedAt}` : ''}`,
    );
  }
  for (const ev of e.evidence.slice(-5))
    lines.push(`  evidence      ${ev.at} ${ev.route} ${ev.probe}: ${ev.detail}`);
  return lines;
}

function describeStatus(s: StatusView): string[] {
  const lines = [
    `continuity: ${s.state.toUpperCase()}${s.event?.drill && !s.event.closedAt ? ' (DRILL: a rehearsal, only its scope is held)' : ''} since ${s.since} (last probe round ${s.lastProbeRoundAt ?? 'not yet'})`,
  ];
  if (s.drill)
    lines.push(
      `drill ${s.drill.id} running on ${s.drill.holdScope}${s.drill.auto ? ' (unattended)' : ''}: ${s.drill.eventId ? `its event is ${s.drill.eventId}` : 'waiting for the probes to detect it'} (lifeboat drill status ${s.drill.id})`,
    );
  if (s.event) lines.push(...describeEvent(s.event));
  lines.push(
    `queue: ${Object.entries(s.queue)
      .filter(([k]) => k !== 'delivered')
      .map(([k, n]) => `${k} ${n}`)
      .join(', ')}`,
    s.holds.length
      ? `holds: ${s.holds.map((h) => `${h.scope === '*' ? 'everything' : `route ${h.scope}`} (${h.reason}${h.draining ? ', handing over' : ''}, by ${h.by})`).join('; ')}`
      : 'holds: none',
  );
  const failed = s.failedNotifications;
  if (failed) {
    lines.push(
      failed.count && failed.last
        ? `failed pages: ${failed.count} in the last ${failed.windowHours} h (last: ${failed.last.channel} ${failed.last.notice} at ${failed.last.at}: ${failed.last.error})`
        : `failed pages: none in the last ${failed.windowHours} h`,
    );
  }
  if (s.unrecorded?.awaitingRetry) {
    lines.push(
      `unrecorded: ${s.unrecorded.awaitingRetry} acknowledged messages whose ingest failed, ingested again on every sweep (their ids are in the log)`,
    );
  }
  return lines;
}

/** One command: the admin API request it makes and how its answer reads. */
interface ApiCommand {
  method: 'GET' | 'POST';
  route(args: string[], values: ContinuityValues): string;
  body?(values: ContinuityValues): unknown;
  render(data: Record<string, unknown>): string[];
}

const id = (args: string[], usage: string) => {
  if (!args[0]) throw new LifeboatError('USAGE', usage);
  return encodeURIComponent(args[0]);
};

const COMMANDS: Record<string, ApiCommand> = {
  status: {
    method: 'GET',
    route: () => '/admin/status',
    render: (d) => describeStatus(d as unknown as StatusView),
  },
  events: {
    method: 'GET',
    route: () => '/admin/events?limit=20',
    render: (d) => {
      const { events } = d as { events: EventView[] };
      if (events.length === 0) return ['no continuity events yet'];
      return events.map((e) =>
        `${e.id}  ${(e.closedAt ? 'closed' : e.state).padEnd(10)} opened ${e.openedAt}  ${e.invokeMode ? `invoked (${e.invokeMode})` : ''}`.trimEnd(),
      );
    },
  },
  event: {
    method: 'GET',
    route: (args) => `/admin/events/${id(args, 'event needs an event id (see lifeboat events)')}`,
    render: (d) => describeEvent(d as unknown as EventView),
  },
  ack: {
    method: 'POST',
    route: (args) => `/admin/events/${id(args, 'ack needs an event id (see lifeboat status)')}/acknowledge`,
    render: (d) => [
      `acknowledged by ${(d as unknown as EventView).acknowledgedBy}: no more repeat pages, no automatic invocation`,
    ],
  },
  invoke: {
    method: 'POST',
    route: () => '/admin/continuity/invoke',
    body: (v) => ({ ...(v.route ? { scope: v.route } : {}), ...(v.reason ? { reason: v.reason } : {}) }),
    render: (d) => {
      const { event } = d as { event: EventView };
      return [
        `continuity invoked (event ${event.id}): mail for ${event.scope === '*' ? 'every route' : `route ${event.scope}`} is held`,
      ];
    },
  },
  revoke: {
    method: 'POST',
    route: () => '/admin/continuity/revoke',
    render: (d) => {
      const { event } = d as { event: EventView };
      return [
        `continuity revoked (event ${event.id}): handing ${event.handover?.total ?? 0} held deliveries to the primary`,
        'follow it with: npx lifeboat status',
      ];
    },
  },
  schedule: {
    method: 'POST',
    route: (_args, v) => {
      if (!v.start || !v.end)
        throw new LifeboatError('USAGE', 'schedule needs --start and --end (ISO 8601 times)');
      return '/admin/continuity/schedule';
    },
    body: (v) => ({
      start: v.start,
      end: v.end,
      ...(v.route ? { scope: v.route } : {}),
      ...(v.reason ? { reason: v.reason } : {}),
    }),
    render: (d) => {
      const { event } = d as { event: EventView };
      return [`scheduled (event ${event.id}): continuity ${event.scheduledStart} → ${event.scheduledEnd}`];
    },
  },
  outbox: {
    method: 'GET',
    route: () => '/admin/outbox?limit=50',
    render: (d) => {
      const { notifications } = d as {
        notifications: Array<{
          at: string;
          channel: string;
          audience: string;
          to: string[];
          subject: string;
          text: string;
          error?: string;
        }>;
      };
      if (notifications.length === 0) return ['outbox is empty: no page has been sent'];
      return notifications.flatMap((n) => [
        `${n.at}  ${n.channel.toUpperCase().padEnd(5)} to ${n.audience} (${n.to.join(', ')})`,
        ...(n.error ? [`    NOT SENT: ${n.error}`] : []),
        `    ${n.channel === 'sms' ? n.text : n.subject}`,
      ]);
    },
  },
};

/** The commands that go through the running runtime's admin API. */
export const CONTINUITY_COMMANDS = [...Object.keys(COMMANDS), 'primary'] as const;

/**
 * The continuity commands, through the running runtime's admin API (as the console will), so
 * each is the API's own action: the same authorisation, audit entry and errors.
 */
export async function continuityCommand(
  command: string,
  args: string[],
  values: ContinuityValues,
  call: AdminCall,
  out: (line: string) => void,
): Promise<number> {
  if (command === 'primary') return demoPrimary(args, values, call, out);
  const spec = COMMANDS[command];
  if (!spec) throw new LifeboatError('USAGE', `unknown command ${command}`);
  const route = spec.route(args, values);
  const data = await call(spec.method, route, spec.body?.(values));
  for (const line of values.json ? [JSON.stringify(data, null, 2)] : spec.render(data)) out(line);
  return 0;
}

/** `primary down|up`: the demo primary's switch, a local-only endpoint of the runtime. */
async function demoPrimary(
  args: string[],
  values: ContinuityValues,
  call: AdminCall,
  out: (line: string) => void,
): Promise<number> {
  const want = args[0];
  if (want !== 'down' && want !== 'up') throw new LifeboatError('USAGE', 'primary takes down or up');
  let data: Record<string, unknown>;
  try {
    data = await call('POST', '/local/demo-primary', { up: want === 'up' });
  } catch (err) {
    if ((err as LifeboatError).code !== 'NOT_FOUND') throw err;
    throw new LifeboatError('USAGE', 'there is no demo primary: a config file points Lifeboat at a real one');
  }
  out(values.json ? JSON.stringify(data, null, 2) : `demo primary is ${data.up ? 'UP' : 'DOWN'}`);
  return 0;
}
