import { LifeboatError } from '../../lambdas/core/errors.js';

type Call = (method: string, route: string, body?: unknown) => Promise<Record<string, unknown>>;
type Values = {
  route?: string | undefined;
  reason?: string | undefined;
  start?: string | undefined;
  end?: string | undefined;
};

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
}

const out = (text: string) => process.stdout.write(`${text}\n`);

function describeEvent(e: EventView): string {
  const lines = [
    `event ${e.id}: ${e.closedAt ? `closed ${e.closedAt}` : e.state}, opened ${e.openedAt} by ${e.openedBy}, scope ${e.scope === '*' ? 'all routes' : e.scope}`,
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
  return lines.join('\n');
}

/** The continuity commands, through the running runtime's admin API (as the console will). */
export async function continuityCommand(
  command: string,
  args: string[],
  values: Values,
  call: Call,
): Promise<number> {
  switch (command) {
    case 'status': {
      const s = (await call('GET', '/admin/status')) as {
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
      };
      out(
        `continuity: ${s.state.toUpperCase()} since ${s.since} (last probe round ${s.lastProbeRoundAt ?? 'not yet'})`,
      );
      if (s.event) out(describeEvent(s.event));
      out(
        `queue: ${Object.entries(s.queue)
          .filter(([k]) => k !== 'delivered')
          .map(([k, n]) => `${k} ${n}`)
          .join(', ')}`,
      );
      out(
        s.holds.length
          ? `holds: ${s.holds.map((h) => `${h.scope === '*' ? 'everything' : `route ${h.scope}`} (${h.reason}${h.draining ? ', handing over' : ''}, by ${h.by})`).join('; ')}`
          : 'holds: none',
      );
      const failed = s.failedNotifications;
      if (failed) {
        out(
          failed.count && failed.last
            ? `failed pages: ${failed.count} in the last ${failed.windowHours} h (last: ${failed.last.channel} ${failed.last.notice} at ${failed.last.at}: ${failed.last.error})`
            : `failed pages: none in the last ${failed.windowHours} h`,
        );
      }
      return 0;
    }
    case 'events': {
      const { events } = (await call('GET', '/admin/events?limit=20')) as { events: EventView[] };
      if (events.length === 0) out('no continuity events yet');
      for (const e of events) {
        out(
          `${e.id}  ${(e.closedAt ? 'closed' : e.state).padEnd(10)} opened ${e.openedAt}  ${e.invokeMode ? `invoked (${e.invokeMode})` : ''}`,
        );
      }
      return 0;
    }
    case 'event': {
      if (!args[0]) throw new LifeboatError('USAGE', 'event needs an event id (see lifeboat events)');
      out(
        describeEvent(
          (await call('GET', `/admin/events/${encodeURIComponent(args[0])}`)) as unknown as EventView,
        ),
      );
      return 0;
    }
    case 'ack': {
      if (!args[0]) throw new LifeboatError('USAGE', 'ack needs an event id (see lifeboat status)');
      const e = (await call(
        'POST',
        `/admin/events/${encodeURIComponent(args[0])}/acknowledge`,
      )) as unknown as EventView;
      out(`acknowledged by ${e.acknowledgedBy}: no more repeat pages, no automatic invocation`);
      return 0;
    }
    case 'invoke': {
      const r = (await call('POST', '/admin/continuity/invoke', {
        ...(values.route ? { scope: values.route } : {}),
        ...(values.reason ? { reason: values.reason } : {}),
      })) as { state: string; event: EventView };
      out(
        `continuity invoked (event ${r.event.id}): mail for ${r.event.scope === '*' ? 'every route' : `route ${r.event.scope}`} is held`,
      );
      return 0;
    }
    case 'revoke': {
      const r = (await call('POST', '/admin/continuity/revoke')) as { state: string; event: EventView };
      out(
        `continuity revoked (event ${r.event.id}): handing ${r.event.handover?.total ?? 0} held deliveries to the primary`,
      );
      out('follow it with: npx lifeboat status');
      return 0;
    }
    case 'schedule': {
      if (!values.start || !values.end)
        throw new LifeboatError('USAGE', 'schedule needs --start and --end (ISO 8601 times)');
      const r = (await call('POST', '/admin/continuity/schedule', {
        start: values.start,
        end: values.end,
        ...(values.route ? { scope: values.route } : {}),
        ...(values.reason ? { reason: values.reason } : {}),
      })) as { event: EventView };
      out(`scheduled (event ${r.event.id}): continuity ${r.event.scheduledStart} → ${r.event.scheduledEnd}`);
      return 0;
    }
    case 'outbox': {
      const { notifications } = (await call('GET', '/admin/outbox?limit=50')) as {
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
      if (notifications.length === 0) out('outbox is empty: no page has been sent');
      for (const n of notifications) {
        out(`${n.at}  ${n.channel.toUpperCase().padEnd(5)} to ${n.audience} (${n.to.join(', ')})`);
        if (n.error) out(`    NOT SENT: ${n.error}`);
        out(`    ${n.channel === 'sms' ? n.text : n.subject}`);
      }
      return 0;
    }
    case 'audit': {
      const { entries } = (await call('GET', '/admin/audit?limit=50')) as {
        entries: Array<{ at: string; actor: string; action: string; detail: string }>;
      };
      if (entries.length === 0) out('audit log is empty');
      for (const e of entries) out(`${e.at}  ${e.actor.padEnd(24)} ${e.action.padEnd(14)} ${e.detail}`);
      return 0;
    }
    default:
      throw new LifeboatError('USAGE', `unknown command ${command}`);
  }
}
