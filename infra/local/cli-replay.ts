import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ReplayJob, ReplayReportRow } from '../../lambdas/console/replay.js';
import { LifeboatError } from '../../lambdas/core/errors.js';
import type { AdminCall } from './cli-api.js';

export const REPLAY_USAGE = `  replay start --from ISO [--to ISO] [--mailbox ADDR …] [--skip-ids FILE|-] [--route R]
               [--event ID] [--reason TEXT]
                              redeliver archived mail in the window into the restored primary,
                              oldest first, skipping the Message-IDs listed (one per line)
  replay status [<id>]        replays, newest first, or one with its progress
  replay report <id> [--csv]  what became of each message: sent, present, out of scope, failed
  replay cancel <id> [--reason TEXT] | replay resume <id>
  replay present-ids <Maildir|mbox|folder of .eml> [--since ISO]
                              the Message-IDs an export of the restored primary holds, one a
                              line, for --skip-ids`;

export interface ReplayValues {
  from?: string | undefined;
  to?: string | undefined;
  mailbox?: string[] | undefined;
  'skip-ids'?: string | undefined;
  route?: string | undefined;
  event?: string | undefined;
  reason?: string | undefined;
  since?: string | undefined;
  csv?: boolean | undefined;
  json?: boolean | undefined;
}

export interface ReplayIo {
  line(text: string): void;
  /** Raw output, for CSV. */
  out(text: string): void;
  cwd: string;
  stdin: () => Promise<string>;
}

/** A date as the admin gives it: an ISO instant, or a day (`2026-11-21`, midnight UTC). */
function instant(value: string, option: string): string {
  const t = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value);
  if (Number.isNaN(t)) throw new LifeboatError('USAGE', `${option}: not a date or ISO instant: ${value}`);
  return new Date(t).toISOString();
}

function describe(j: ReplayJob): string[] {
  const p = j.progress;
  const pct = p.total ? Math.floor((100 * p.done) / p.total) : p.total === 0 ? 100 : 0;
  const lines = [
    `replay ${j.id}: ${j.state.toUpperCase()}, ${j.window.from} → ${j.window.to}, ${j.mailboxes ? j.mailboxes.join(', ') : 'all mailboxes'}${j.route ? `, route ${j.route}` : ''}`,
    `  progress      ${p.total === null ? 'listing the archive' : `${p.done} of ${p.total} (${pct}%)`}${p.position ? `, at ${p.position}` : ''}${p.ratePerSecond !== null ? `, ${p.ratePerSecond} msg/s` : ''}`,
    `  outcomes      ${p.sent} sent, ${p.present} present on the primary, ${p.outOfScope} out of scope, ${p.failed} failed`,
    `  skip list     ${j.skipIds} Message-IDs; started by ${j.createdBy} at ${j.createdAt}${j.eventId ? `, event ${j.eventId}` : ''}`,
  ];
  if (j.retryAt) lines.push(`  retry at      ${j.retryAt}`);
  if (j.error) lines.push(`  ${j.state === 'paused' ? 'paused:' : 'note:  '}       ${j.error}`);
  if (j.finishedAt) lines.push(`  finished      ${j.finishedAt}`);
  return lines;
}

/**
 * `lifeboat replay …`: the admin API's replay endpoints (the same handler, authorisation and audit
 * as the console's), and `present-ids`, which reads an export of the restored primary on this
 * machine and needs no runtime.
 */
export async function replayCommand(
  positionals: string[],
  values: ReplayValues,
  call: () => AdminCall,
  io: ReplayIo,
): Promise<number> {
  const [sub, id, ...more] = positionals;
  const needId = () => {
    if (!id || more.length) throw new LifeboatError('USAGE', `replay ${sub} needs one replay id`);
    return id;
  };
  const print = (j: ReplayJob) =>
    values.json ? io.line(JSON.stringify(j, null, 2)) : describe(j).forEach(io.line);
  switch (sub) {
    case 'start': {
      if (!values.from)
        throw new LifeboatError('USAGE', 'replay start needs --from DATE (and --to DATE, or now)');
      if (id) throw new LifeboatError('USAGE', `replay start takes options only, not ${id}`);
      let skipIds: string | undefined;
      const source = values['skip-ids'];
      if (source === '-') skipIds = await io.stdin();
      else if (source) skipIds = await readFile(path.resolve(io.cwd, source), 'utf8');
      const job = (await call()('POST', '/admin/replays', {
        from: instant(values.from, '--from'),
        ...(values.to ? { to: instant(values.to, '--to') } : {}),
        ...(values.mailbox?.length ? { mailboxes: values.mailbox } : {}),
        ...(values.route ? { route: values.route } : {}),
        ...(skipIds !== undefined ? { skipIds } : {}),
        ...(values.event ? { eventId: values.event } : {}),
        ...(values.reason ? { reason: values.reason } : {}),
      })) as unknown as ReplayJob;
      print(job);
      if (!values.json) io.line(`follow it with: lifeboat replay status ${job.id}`);
      return 0;
    }
    case 'status': {
      if (id) {
        print(
          (await call()('GET', `/admin/replays/${encodeURIComponent(needId())}`)) as unknown as ReplayJob,
        );
        return 0;
      }
      const { replays } = (await call()('GET', '/admin/replays')) as unknown as { replays: ReplayJob[] };
      if (values.json) io.line(JSON.stringify(replays, null, 2));
      else if (replays.length === 0) io.line('no replays');
      else for (const j of replays) describe(j).forEach(io.line);
      return 0;
    }
    case 'report': {
      const report = (await call()(
        'GET',
        `/admin/replays/${encodeURIComponent(needId())}/report`,
      )) as unknown as {
        job: ReplayJob;
        rows: ReplayReportRow[];
      };
      if (values.csv) {
        // The same CSV as the API's report.csv, made from the same rows.
        const { reportCsv } = await import('../../lambdas/core/replay.js');
        io.out(reportCsv(report.rows));
      } else if (values.json) io.line(JSON.stringify(report, null, 2));
      else {
        describe(report.job).forEach(io.line);
        for (const r of report.rows) {
          io.line(
            `${String(r.seq).padStart(6)} ${r.receivedAt} ${r.id} ${r.messageId ?? '(no Message-ID)'} ${r.outcome}: ${r.detail}`,
          );
        }
      }
      return 0;
    }
    case 'cancel':
    case 'resume': {
      const job = (await call()(
        'POST',
        `/admin/replays/${encodeURIComponent(needId())}/${sub}`,
        sub === 'cancel' && values.reason ? { reason: values.reason } : {},
      )) as unknown as ReplayJob;
      print(job);
      return 0;
    }
    case 'present-ids': {
      if (!id || more.length)
        throw new LifeboatError(
          'USAGE',
          'replay present-ids needs one Maildir, mbox file or folder of .eml files',
        );
      const { presentIds } = await import('./present-ids.js');
      const ids = await presentIds(path.resolve(io.cwd, id), {
        since: values.since ? new Date(instant(values.since, '--since')) : undefined,
      });
      io.out(ids.length ? `${ids.join('\n')}\n` : '');
      return 0;
    }
    default:
      throw new LifeboatError(
        'USAGE',
        `replay needs start, status, report, cancel, resume or present-ids${sub ? `, not ${sub}` : ''}`,
      );
  }
}
