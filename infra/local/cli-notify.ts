import type { Notice, NoticeList, NoticePreview, NoticeRequest } from '../../lambdas/console/notices.js';
import { LifeboatError } from '../../lambdas/core/errors.js';
import type { AdminCall } from './cli-api.js';

export interface NotifyValues {
  template?: string | undefined;
  text?: string | undefined;
  group?: string[] | undefined;
  user?: string[] | undefined;
  channel?: string[] | undefined;
  'dry-run'?: boolean | undefined;
  json?: boolean | undefined;
}

const counts = (c: Notice['counts']) =>
  `${c.sent} sent, ${c.failed} failed, ${c.skipped} skipped${c.queued ? `, ${c.queued} still queued` : ''}`;

function describeTexts(t: NoticePreview['texts']): string[] {
  const lines: string[] = [];
  if (t.sms) {
    const c = t.sms.cost;
    lines.push(
      `SMS (${c.units} ${c.encoding === 'gsm-7' ? 'characters' : 'UCS-2 units'}, ${c.segments} ${c.segments === 1 ? 'segment' : 'segments'}, ${c.encoding}):`,
      `  ${t.sms.text}`,
    );
  }
  if (t.email)
    lines.push(`Email, subject: ${t.email.subject}`, ...t.email.text.split('\n').map((l) => `  ${l}`));
  return lines;
}

function describeRecipients(rs: Notice['recipients']): string[] {
  return rs.map(
    (r) =>
      `  ${r.status.padEnd(8)} ${r.channel.padEnd(5)} ${r.user} ${r.to ?? ''}${r.messageId ? ` (${r.messageId})` : ''}${r.error ? `: ${r.error}` : ''}`,
  );
}

/** The request `lifeboat notify` makes from its options. */
export function noticeRequestOf(values: NotifyValues): NoticeRequest {
  if ((values.template === undefined) === (values.text === undefined))
    throw new LifeboatError('USAGE', 'notify needs --template invoke|revoke or --text TEXT (one of them)');
  if (values.group?.length && values.user?.length)
    throw new LifeboatError('USAGE', 'notify takes --group or --user, not both');
  const audience = values.group?.length
    ? { kind: 'groups' as const, groups: values.group }
    : values.user?.length
      ? { kind: 'users' as const, users: values.user }
      : undefined;
  return {
    ...(values.template !== undefined ? { template: values.template as 'invoke' | 'revoke' } : {}),
    ...(values.text !== undefined ? { text: values.text } : {}),
    ...(audience ? { audience } : {}),
    ...(values.channel?.length ? { channels: values.channel as ('sms' | 'email')[] } : {}),
  };
}

/**
 * `lifeboat notify …` sends (or with --dry-run previews) a staff notice through the running
 * runtime's admin API; `lifeboat notify status [id]` lists notices or shows one per recipient;
 * `lifeboat notify resume <id>` sends what a notice left queued.
 */
export async function notifyCommand(
  args: string[],
  values: NotifyValues,
  call: AdminCall,
  line: (text: string) => void,
): Promise<number> {
  const print = (data: unknown, text: () => string[]) => {
    if (values.json) line(JSON.stringify(data, null, 2));
    else for (const l of text()) line(l);
  };
  if (args[0] === 'status') {
    if (args[1]) {
      const n = (await call('GET', `/admin/notices/${encodeURIComponent(args[1])}`)) as unknown as Notice;
      print(n, () => [
        `notice ${n.id} by ${n.createdBy} at ${n.createdAt}: ${n.state}${n.eventId ? `, event ${n.eventId}` : ''}`,
        `  ${counts(n.counts)}`,
        ...describeRecipients(n.recipients),
      ]);
      return 0;
    }
    const list = (await call('GET', '/admin/notices?limit=20')) as unknown as NoticeList;
    print(list, () =>
      list.notices.length
        ? list.notices.map(
            (n) =>
              `${n.id}  ${n.createdAt}  ${n.createdBy}  ${n.template ?? 'own text'}  ${n.state}: ${counts(n.counts)}`,
          )
        : ['no staff notices yet'],
    );
    return 0;
  }
  if (args[0] === 'resume') {
    if (!args[1]) throw new LifeboatError('USAGE', 'notify resume needs a notice id');
    const n = (await call(
      'POST',
      `/admin/notices/${encodeURIComponent(args[1])}/resume`,
    )) as unknown as Notice;
    print(n, () => [`notice ${n.id}: ${n.state}, ${counts(n.counts)}`]);
    return n.counts.failed ? 1 : 0;
  }
  if (args.length) throw new LifeboatError('USAGE', `notify: unexpected ${args[0]}`);
  const request = noticeRequestOf(values);
  if (values['dry-run']) {
    const p = (await call('POST', '/admin/notices/preview', request)) as unknown as NoticePreview;
    print(p, () => [
      ...describeTexts(p.texts),
      `Would reach ${p.counts.sms} by SMS and ${p.counts.email} by email (${p.counts.people} people, ${p.counts.skipped} skipped)${p.eventId ? `, on event ${p.eventId}` : ''}:`,
      ...describeRecipients(p.recipients),
      ...p.warnings.map((w) => `warning: ${w}`),
      'Nothing was sent (--dry-run).',
    ]);
    return 0;
  }
  const n = (await call('POST', '/admin/notices', request)) as unknown as Notice;
  print(n, () => [
    `notice ${n.id}: ${n.state}, ${counts(n.counts)}`,
    ...describeRecipients(n.recipients.filter((r) => r.status !== 'sent')),
    ...(n.counts.queued ? [`run \`lifeboat notify resume ${n.id}\` to send the rest`] : []),
  ]);
  return n.counts.failed ? 1 : 0;
}
