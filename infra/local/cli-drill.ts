import {
  type Drill,
  type DrillPage,
  type DrillReport,
  drillStepLabels,
  type StartDrillBody,
} from '../../lambdas/console/drill.js';
import { LifeboatError } from '../../lambdas/core/errors.js';
import type { AdminCall } from './cli-api.js';

export const DRILL_USAGE = `  drill start (--route R | --mailbox ADDR…) [--confirm-production] [--auto] [--reason TEXT]
                              rehearse an outage on a test route or test mailboxes: the probes
                              see it fail, admins are paged (marked DRILL); --auto acknowledges,
                              invokes and revokes by itself
  drill status [id]           drills, or one with each step's time
  drill report <id> [--csv|--html]
                              the timed report: each step against the targets, pass or fail
  drill cancel <id>           stop a running drill (its hold is handed over)`;

export interface DrillValues {
  route?: string | undefined;
  mailbox?: string[] | undefined;
  'confirm-production'?: boolean | undefined;
  auto?: boolean | undefined;
  reason?: string | undefined;
  csv?: boolean | undefined;
  html?: boolean | undefined;
  json?: boolean | undefined;
}

const scopeOf = (d: Pick<Drill, 'scope'>) =>
  d.scope.kind === 'route' ? `route ${d.scope.route}` : `mailboxes ${d.scope.mailboxes.join(', ')}`;

/** The request `lifeboat drill start` makes from its options. */
export function drillRequestOf(values: DrillValues): StartDrillBody {
  if ((values.route === undefined) === !values.mailbox?.length)
    throw new LifeboatError('USAGE', 'drill start needs --route R or --mailbox ADDR (one of them)');
  return {
    ...(values.route !== undefined ? { route: values.route } : { mailboxes: values.mailbox }),
    confirmProduction: values['confirm-production'] === true,
    auto: values.auto === true,
    ...(values.reason !== undefined ? { reason: values.reason } : {}),
  };
}

function describe(d: Drill): string[] {
  return [
    `drill ${d.id} on ${scopeOf(d)}${d.production ? ' (production)' : ''}: ${d.state}${d.auto ? ', unattended' : ''}${d.eventId ? `, event ${d.eventId}` : ''}`,
    ...d.steps.map(
      (s) =>
        `  ${(s.at ?? '-').padEnd(24)} ${drillStepLabels[s.step]}${s.by ? ` (${s.by})` : ''}${s.detail ? `: ${s.detail}` : ''}`,
    ),
    `  probe messages: ${d.probes.messageIds.length} of ${d.probes.count} sent, ${d.probes.held} held, ${d.probes.delivered} delivered`,
    ...(d.outcome ? [`  outcome: ${d.outcome}`] : []),
  ];
}

function describeReport(r: DrillReport, formatDuration: (seconds: number | null) => string): string[] {
  return [
    `drill ${r.drillId}: ${r.passed ? 'PASSED, every target met' : `NOT PASSED: ${r.counts.fail} failed, ${r.counts.missed} missed`} (${r.counts.pass} met); ${r.outcome}`,
    ...r.rows.map((row) => {
      const target = row.target
        ? ` target ${formatDuration(row.target.seconds)} from ${row.target.from}:`
        : '';
      const result = row.result === 'none' ? '' : ` ${row.result.toUpperCase()}`;
      const measured = row.measuredSeconds === null ? '' : ` ${formatDuration(row.measuredSeconds)}`;
      return `  ${(row.at ?? '-').padEnd(24)} +${formatDuration(row.sinceStartSeconds) || '-'} ${row.label}${target}${measured}${result}${row.detail ? ` (${row.detail})` : ''}`;
    }),
  ];
}

/**
 * `lifeboat drill start|status|report|cancel`, through the running runtime's admin API: the same
 * endpoints, checks and audit as the console's. A report as CSV or HTML is written from the API's
 * JSON with the same functions the API's downloads use.
 */
export async function drillCommand(
  args: string[],
  values: DrillValues,
  call: AdminCall,
  out: (text: string) => void,
): Promise<number> {
  const line = (text: string) => out(`${text}\n`);
  const print = (data: unknown, text: () => string[]) => {
    if (values.json) line(JSON.stringify(data, null, 2));
    else for (const l of text()) line(l);
  };
  const id = (what: string) => {
    const value = args[1];
    if (!value)
      throw new LifeboatError('USAGE', `drill ${what} needs a drill id (lifeboat drill status lists them)`);
    return encodeURIComponent(value);
  };
  switch (args[0]) {
    case 'start': {
      const d = (await call('POST', '/admin/drills', drillRequestOf(values))) as unknown as Drill;
      print(d, () => [
        `drill ${d.id} started on ${scopeOf(d)}${d.auto ? ' (unattended)' : ''}: the probes now see it failing.`,
        d.auto
          ? 'Lifeboat acknowledges, invokes and revokes by itself; follow it with lifeboat drill status.'
          : 'Acknowledge, invoke and revoke its event as in an outage (lifeboat ack/invoke/revoke, or the console).',
      ]);
      return 0;
    }
    case 'status': {
      if (args[1]) {
        const d = (await call('GET', `/admin/drills/${id('status')}`)) as unknown as Drill;
        print(d, () => describe(d));
        return 0;
      }
      const page = (await call('GET', '/admin/drills')) as unknown as DrillPage;
      print(page, () =>
        page.drills.length === 0
          ? ['no drills yet']
          : page.drills.map(
              (d) =>
                `${d.id}  ${d.state.padEnd(9)} ${scopeOf(d)}${d.report ? `  ${d.report.passed ? 'passed' : 'not passed'}` : ''}`,
            ),
      );
      return 0;
    }
    case 'report': {
      if (values.csv && values.html)
        throw new LifeboatError('USAGE', 'drill report takes --csv or --html, not both');
      const r = (await call('GET', `/admin/drills/${id('report')}/report`)) as unknown as DrillReport;
      // Loaded here: the report's writers come with the drill's core, which the other commands
      // (and the CLI's start, which reads DRILL_USAGE) need none of.
      const { drillReportCsv, drillReportHtml, formatDuration } = await import('../../lambdas/core/drill.js');
      if (values.csv) out(drillReportCsv(r));
      else if (values.html) out(drillReportHtml(r));
      else print(r, () => describeReport(r, formatDuration));
      return 0;
    }
    case 'cancel': {
      const d = (await call('POST', `/admin/drills/${id('cancel')}/cancel`)) as unknown as Drill;
      print(d, () => [`drill ${d.id} cancelled`, ...describe(d)]);
      return 0;
    }
    default:
      throw new LifeboatError('USAGE', 'drill takes start, status, report or cancel');
  }
}
