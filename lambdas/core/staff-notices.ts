import { randomBytes } from 'node:crypto';
import {
  type NoticeAudience,
  type NoticeChannel,
  type NoticeCounts,
  type NoticePreview,
  type NoticeRecipient,
  type NoticeSummary,
  type NoticeTexts,
  type Notice as NoticeView,
  type ParsedNoticeRequest,
  smsCost,
} from '../console/notices.js';
import {
  type Clock,
  type ContinuityStore,
  JOBS_OWNER,
  type Logger,
  type Metrics,
  type NotificationRecord,
  type Notifier,
  type NotifierReceipt,
  type SendingRecord,
  type SendingStore,
  type StaffAccount,
} from '../ports.js';
import type { LifeboatConfig } from './config.js';
import { ConflictError, LifeboatError, NotFoundError } from './errors.js';
import { recordNotificationFailure } from './notification-failures.js';

/**
 * Recipients (one person on one channel) one notice may have: each is kept in the notice's record,
 * which must stay well under DynamoDB's 400 KB item (about 120 bytes each).
 */
export const MAX_NOTICE_RECIPIENTS = 2000;
/**
 * Texts handed to the transport at once. SNS takes 20 SMS a second per account by default; ten in
 * flight sends a few hundred staff texts in seconds without tripping its throttle.
 */
export const NOTICE_CONCURRENCY = 10;
/** Recipients between two progress writes of the notice's record: a crash repeats at most these. */
export const NOTICE_PROGRESS_EVERY = 25;
/**
 * How long one request keeps sending before it answers with the rest still queued: well inside API
 * Gateway's 29 s. `POST /admin/notices/<id>/resume` (or `lifeboat notify resume`) sends the rest.
 */
export const NOTICE_BUDGET_MS = 20_000;
/** Two segments: what the default templates keep to, and past which the preview warns. */
export const NOTICE_SMS_SEGMENTS_WARN = 2;
/** The outbox's name for a staff notice sent by an admin, as the event's timeline shows it. */
export const STAFF_NOTICE = 'staff-notice';

/** A notice's request names nobody reachable, or someone the directory does not know. */
export class NoticeError extends LifeboatError {}

/** What sending a staff notice needs: the job store, the outbox, the directory and the transport. */
export interface StaffNoticeDeps {
  jobs: SendingStore;
  continuity: Pick<ContinuityStore, 'getOrg' | 'putNotification' | 'appendAudit'>;
  notifier: Notifier;
  /** Every member of staff with their groups, phone and personal email. */
  staff: () => Promise<readonly StaffAccount[]>;
  config: Pick<LifeboatConfig, 'organisation' | 'continuity' | 'retentionDays'>;
  clock: Clock;
  log: Logger;
  metrics?: Metrics | undefined;
  /** Test seam: how long the transport may be kept busy. @default NOTICE_BUDGET_MS */
  budgetMs?: number | undefined;
  /** Test seam: the monotonic clock the budget is measured on. @default performance.now */
  elapsed?: (() => number) | undefined;
}

/** One recipient as stored: the view's fields and where it goes (never returned by the API). */
interface StoredRecipient extends NoticeRecipient {
  dest: string | null;
}

interface NoticeData extends Omit<NoticeView, 'recipients'> {
  recipients: StoredRecipient[];
}

/** Fills `{organisation}` and `{webmailUrl}` in a template's text. */
export function fillTemplate(
  text: string,
  config: Pick<LifeboatConfig, 'organisation' | 'continuity'>,
): string {
  return text
    .replaceAll('{organisation}', config.organisation)
    .replaceAll('{webmailUrl}', config.continuity.staff.webmailUrl);
}

/** The exact texts of a notice, per channel chosen. */
export function noticeTexts(
  request: Pick<ParsedNoticeRequest, 'template' | 'text' | 'emailSubject' | 'emailText' | 'channels'>,
  config: Pick<LifeboatConfig, 'organisation' | 'continuity'>,
): NoticeTexts {
  const t = request.template ? config.continuity.staff.templates[request.template] : undefined;
  const sms = fillTemplate(t?.sms ?? request.text ?? '', config);
  const subject = fillTemplate(
    request.emailSubject ?? t?.emailSubject ?? `${config.organisation}: a message from IT`,
    config,
  );
  const email = fillTemplate(request.emailText ?? t?.email ?? request.text ?? '', config);
  return {
    sms: request.channels.includes('sms') ? { text: sms, cost: smsCost(sms) } : null,
    email: request.channels.includes('email') ? { subject, text: email } : null,
  };
}

/** `+447700900123` → `+4477…123`: enough for an admin to recognise, not to dial. */
export function maskPhone(phone: string): string {
  return phone.length <= 7 ? '…' : `${phone.slice(0, 5)}…${phone.slice(-3)}`;
}

/** `jane.doe@gmail.com` → `j…@gmail.com`. */
export function maskEmail(address: string): string {
  const at = address.lastIndexOf('@');
  return at <= 0 ? '…' : `${address.slice(0, 1)}…${address.slice(at)}`;
}

interface Person {
  user: string;
  name: string;
  phone?: string | undefined;
  email?: string | undefined;
}

/**
 * The people of an audience. Every member of staff is the directory's enabled users, and any
 * number in `continuity.staff.phones` that no user has (kept as `phone:<masked>`).
 * @throws NoticeError (NOTICE_UNKNOWN_AUDIENCE) naming each group nobody is in and each unknown user
 */
async function peopleOf(deps: StaffNoticeDeps, audience: NoticeAudience): Promise<Person[]> {
  const staff = (await deps.staff()).filter((u) => u.status !== 'disabled');
  const person = (u: StaffAccount): Person => ({
    user: u.id,
    name: u.name,
    phone: u.phone,
    email: u.personalEmail,
  });
  if (audience.kind === 'users') {
    const byId = new Map(staff.map((u) => [u.id.toLowerCase(), u]));
    const unknown = audience.users.filter((id) => !byId.has(id));
    if (unknown.length)
      throw new NoticeError('NOTICE_UNKNOWN_AUDIENCE', `not in the staff directory: ${unknown.join(', ')}`);
    return [...new Set(audience.users)].map((id) => person(byId.get(id) as StaffAccount));
  }
  if (audience.kind === 'groups') {
    const empty = audience.groups.filter((g) => !staff.some((u) => u.groups.includes(g)));
    if (empty.length)
      throw new NoticeError(
        'NOTICE_UNKNOWN_AUDIENCE',
        `no member of staff is in ${empty.length === 1 ? 'the group' : 'the groups'} ${empty.join(', ')}`,
      );
    return staff.filter((u) => u.groups.some((g) => audience.groups.includes(g))).map(person);
  }
  const known = new Set(staff.flatMap((u) => (u.phone ? [u.phone] : [])));
  const extra = deps.config.continuity.staff.phones
    .filter((p) => !known.has(p))
    .map((p) => ({ user: `phone:${maskPhone(p)}`, name: maskPhone(p), phone: p }));
  return [...staff.map(person), ...extra];
}

/** The audience the request names, or the default: `continuity.staff.groups`, or everyone. */
function audienceOf(request: ParsedNoticeRequest, deps: StaffNoticeDeps): NoticeAudience {
  if (request.audience) return request.audience;
  const groups = deps.config.continuity.staff.groups;
  return groups.length ? { kind: 'groups', groups: [...groups] } : { kind: 'all' };
}

/** One recipient per person and channel chosen, each channel's destination sent to once. */
function recipientsOf(people: Person[], channels: readonly NoticeChannel[]): StoredRecipient[] {
  const out: StoredRecipient[] = [];
  const seen = new Set<string>();
  for (const p of people) {
    for (const channel of channels) {
      const dest = channel === 'sms' ? p.phone : p.email;
      const base = { user: p.user, name: p.name, channel, messageId: null, at: null };
      if (!dest) {
        out.push({
          ...base,
          to: null,
          dest: null,
          status: 'skipped',
          error: channel === 'sms' ? 'no mobile number on file' : 'no personal email address on file',
        });
        continue;
      }
      // Two users sharing a number (a shared on-call phone) get one text.
      if (seen.has(`${channel}:${dest}`)) continue;
      seen.add(`${channel}:${dest}`);
      out.push({
        ...base,
        to: channel === 'sms' ? maskPhone(dest) : maskEmail(dest),
        dest,
        status: 'queued',
        error: null,
      });
    }
  }
  return out;
}

function countsOf(recipients: readonly NoticeRecipient[]): NoticeCounts {
  const counts: NoticeCounts = { queued: 0, sent: 0, failed: 0, skipped: 0 };
  for (const r of recipients) counts[r.status]++;
  return counts;
}

const publicRecipient = ({ dest: _dest, ...r }: StoredRecipient): NoticeRecipient => r;

async function openEventId(deps: StaffNoticeDeps): Promise<string | null> {
  const org = await deps.continuity.getOrg();
  return org && org.state !== 'normal' ? org.eventId : null;
}

function warningsOf(texts: NoticeTexts, recipients: readonly StoredRecipient[]): string[] {
  const warnings: string[] = [];
  const cost = texts.sms?.cost;
  if (cost && cost.segments > NOTICE_SMS_SEGMENTS_WARN)
    warnings.push(
      `The SMS is ${cost.segments} segments (${cost.units} ${cost.encoding === 'gsm-7' ? 'characters' : 'UCS-2 units'}): each recipient is charged for ${cost.segments} texts. Shorten it, or put the detail in the email.`,
    );
  if (cost?.encoding === 'ucs-2')
    warnings.push(
      'The SMS has a character outside the GSM alphabet (a curly quote, an ellipsis, an emoji), so a segment holds 70 characters instead of 160.',
    );
  if (!recipients.some((r) => r.status === 'queued'))
    warnings.push('Nobody in this audience can be reached by the channels chosen: nothing would be sent.');
  return warnings;
}

/**
 * What a notice would send, to whom, without sending anything: the exact text per channel with
 * the SMS's segment count, each recipient (masked) or why they would be skipped.
 * @throws NoticeError (NOTICE_UNKNOWN_AUDIENCE)
 */
export async function previewNotice(
  deps: StaffNoticeDeps,
  request: ParsedNoticeRequest,
): Promise<NoticePreview> {
  const texts = noticeTexts(request, deps.config);
  const recipients = recipientsOf(await peopleOf(deps, audienceOf(request, deps)), request.channels);
  const people = new Set(recipients.map((r) => r.user)).size;
  return {
    texts,
    eventId: await openEventId(deps),
    recipients: recipients.map(publicRecipient),
    counts: {
      people,
      sms: recipients.filter((r) => r.channel === 'sms' && r.status === 'queued').length,
      email: recipients.filter((r) => r.channel === 'email' && r.status === 'queued').length,
      skipped: recipients.filter((r) => r.status === 'skipped').length,
    },
    warnings: warningsOf(texts, recipients),
  };
}

/** A time-ordered id: listing notices by id lists them newest first. */
function newNoticeId(now: Date): string {
  return `${now.toISOString().replace(/[-:.]/g, '').slice(0, 15)}-${randomBytes(3).toString('hex')}`;
}

async function putData(
  deps: StaffNoticeDeps,
  record: SendingRecord<NoticeData>,
  data: NoticeData,
): Promise<SendingRecord<NoticeData>> {
  const next = { ...record, version: record.version + 1, data };
  await deps.jobs.putSending(next, record.version);
  return next;
}

function view(data: NoticeData): NoticeView {
  return { ...data, recipients: data.recipients.map(publicRecipient) };
}

/**
 * Sends a staff notice: recorded first (every recipient `queued`, so a crash leaves a visible
 * record), then each recipient's text handed to the transport, at most {@link NOTICE_CONCURRENCY}
 * at once, each ending `sent` with the transport's message id or `failed` with its reason. The
 * outbox gets one record per channel, on the open event (its timeline), and the audit log the
 * notice with its counts. A request that runs out of time answers with the rest still queued.
 * @throws NoticeError (NOTICE_UNKNOWN_AUDIENCE, NOTICE_NO_RECIPIENTS) before anything is recorded
 */
export async function sendNotice(
  deps: StaffNoticeDeps,
  request: ParsedNoticeRequest,
  actor: string,
): Promise<NoticeView> {
  const audience = audienceOf(request, deps);
  const texts = noticeTexts(request, deps.config);
  const recipients = recipientsOf(await peopleOf(deps, audience), request.channels);
  if (!recipients.some((r) => r.status === 'queued'))
    throw new NoticeError(
      'NOTICE_NO_RECIPIENTS',
      `nobody in this audience has a ${request.channels.map((c) => (c === 'sms' ? 'mobile number' : 'personal email address')).join(' or ')} on file: nothing was sent`,
    );
  if (recipients.length > MAX_NOTICE_RECIPIENTS)
    throw new NoticeError(
      'NOTICE_TOO_MANY',
      `${recipients.length} recipients: at most ${MAX_NOTICE_RECIPIENTS} per notice; send one per group`,
    );
  const now = deps.clock.now();
  const data: NoticeData = {
    id: newNoticeId(now),
    createdAt: now.toISOString(),
    createdBy: actor,
    template: request.template ?? null,
    audience,
    channels: [...request.channels],
    texts,
    eventId: await openEventId(deps),
    state: 'sending',
    finishedAt: null,
    counts: countsOf(recipients),
    recipients,
  };
  const record: SendingRecord<NoticeData> = {
    kind: 'notice',
    user: JOBS_OWNER,
    id: data.id,
    version: 1,
    dueAt: null,
    expiresAt: Math.floor(now.getTime() / 1000) + deps.config.retentionDays * 86_400,
    data,
  };
  await deps.jobs.putSending(record, 0);
  await deps.continuity.appendAudit({
    at: now.toISOString(),
    actor,
    action: 'notice-send',
    detail: `${data.id} ${data.template ?? 'own text'} to ${audienceWords(audience)}: ${data.counts.queued} queued, ${data.counts.skipped} skipped`,
    eventId: data.eventId,
    target: `notice/${data.id}`,
  });
  return view((await deliver(deps, record)).data);
}

function audienceWords(a: NoticeAudience): string {
  return a.kind === 'all'
    ? 'all staff'
    : a.kind === 'groups'
      ? `group ${a.groups.join(', ')}`
      : `${a.users.length} named ${a.users.length === 1 ? 'user' : 'users'}`;
}

/**
 * Sends the notice's recipients still `queued` (after a request that ran out of time, or a crash).
 * @throws NotFoundError for an unknown notice
 */
export async function resumeNotice(deps: StaffNoticeDeps, id: string, actor: string): Promise<NoticeView> {
  const record = await deps.jobs.getSending<NoticeData>('notice', JOBS_OWNER, id);
  if (!record) throw new NotFoundError(`notice ${id}`);
  if (record.data.state === 'done') return view(record.data);
  await deps.continuity.appendAudit({
    at: deps.clock.now().toISOString(),
    actor,
    action: 'notice-resume',
    detail: `${id}: ${record.data.counts.queued} queued`,
    eventId: record.data.eventId,
    target: `notice/${id}`,
  });
  return view((await deliver(deps, record)).data);
}

async function deliver(
  deps: StaffNoticeDeps,
  start: SendingRecord<NoticeData>,
): Promise<SendingRecord<NoticeData>> {
  let record = start;
  const data: NoticeData = { ...start.data, recipients: start.data.recipients.map((r) => ({ ...r })) };
  const elapsed = deps.elapsed ?? (() => performance.now());
  const began = elapsed();
  const budget = deps.budgetMs ?? NOTICE_BUDGET_MS;
  const queue = data.recipients.filter((r) => r.status === 'queued');
  let done = 0;
  let saving: Promise<void> = Promise.resolve();
  const save = () => {
    // One write at a time, each of the latest state: the record's version goes up by one each.
    saving = saving.then(async () => {
      record = await putData(deps, record, { ...data, counts: countsOf(data.recipients) });
    });
    return saving;
  };

  const sendOne = async (r: StoredRecipient) => {
    const n: NotificationRecord = {
      id: randomBytes(6).toString('hex'),
      at: deps.clock.now().toISOString(),
      channel: r.channel,
      audience: 'staff',
      to: [r.dest as string],
      subject: data.texts.email?.subject ?? `${deps.config.organisation}`,
      text: r.channel === 'sms' ? (data.texts.sms?.text ?? '') : (data.texts.email?.text ?? ''),
      eventId: data.eventId,
      notice: STAFF_NOTICE,
    };
    try {
      const receipt = await deps.notifier.send(n);
      r.status = 'sent';
      r.messageId = (receipt as NotifierReceipt | undefined)?.messageId ?? null;
      r.error = null;
    } catch (err) {
      r.status = 'failed';
      r.error = (err as Error).message.slice(0, 500);
    }
    r.at = deps.clock.now().toISOString();
    if (++done % NOTICE_PROGRESS_EVERY === 0) await save();
  };

  let next = 0;
  const worker = async () => {
    while (next < queue.length && elapsed() - began < budget) {
      const r = queue[next++] as StoredRecipient;
      await sendOne(r);
    }
  };
  await Promise.all(Array.from({ length: Math.min(NOTICE_CONCURRENCY, queue.length) }, worker));
  await saving;

  const counts = countsOf(data.recipients);
  const finished = counts.queued === 0;
  const now = deps.clock.now().toISOString();
  for (let attempt = 0; ; attempt++) {
    try {
      record = await putData(deps, record, {
        ...data,
        counts,
        state: finished ? 'done' : 'sending',
        finishedAt: finished ? now : null,
      });
      break;
    } catch (err) {
      if (!(err instanceof ConflictError) || attempt >= 2) throw err;
      const fresh = await deps.jobs.getSending<NoticeData>('notice', JOBS_OWNER, record.id);
      if (!fresh) throw err;
      record = fresh;
    }
  }
  await outbox(deps, data, queue);
  if (counts.failed)
    deps.log.warn('staff notice: some texts were refused', { notice: data.id, failed: counts.failed });
  return record;
}

/** One outbox record per channel for this run's recipients: the event's timeline and the status read them. */
async function outbox(deps: StaffNoticeDeps, data: NoticeData, ran: readonly StoredRecipient[]) {
  for (const channel of data.channels) {
    const mine = ran.filter((r) => r.channel === channel && r.status !== 'queued');
    if (mine.length === 0) continue;
    const failed = mine.filter((r) => r.status === 'failed');
    const n: NotificationRecord = {
      id: `${data.id}-${channel}-${randomBytes(2).toString('hex')}`,
      at: deps.clock.now().toISOString(),
      channel,
      audience: 'staff',
      to: mine.filter((r) => r.status === 'sent').map((r) => r.dest as string),
      subject: data.texts.email?.subject ?? deps.config.organisation,
      text: channel === 'sms' ? (data.texts.sms?.text ?? '') : (data.texts.email?.text ?? ''),
      eventId: data.eventId,
      notice: STAFF_NOTICE,
    };
    if (failed.length) {
      await recordNotificationFailure(
        deps,
        n,
        `not sent to ${failed.length} of ${mine.length}: ${failed
          .slice(0, 3)
          .map((r) => `${r.to}: ${r.error}`)
          .join('; ')}`,
      );
    } else await deps.continuity.putNotification(n);
  }
}

/**
 * One notice with every recipient's status.
 * @throws NotFoundError
 */
export async function getNotice(deps: Pick<StaffNoticeDeps, 'jobs'>, id: string): Promise<NoticeView> {
  const record = await deps.jobs.getSending<NoticeData>('notice', JOBS_OWNER, id);
  if (!record) throw new NotFoundError(`notice ${id}`);
  return view(record.data);
}

/** Notices newest first, without their recipient lists. */
export async function listNotices(
  deps: Pick<StaffNoticeDeps, 'jobs'>,
  query: { limit: number; cursor?: string | undefined },
): Promise<{ notices: NoticeSummary[]; cursor: string | null }> {
  const page = await deps.jobs.listSending<NoticeData>('notice', JOBS_OWNER, query);
  return {
    notices: page.items.map(({ data: { recipients: _r, ...rest } }) => rest),
    cursor: page.cursor ?? null,
  };
}
