/**
 * Staff notices from the admin console: the request and response shapes of `/admin/notices`, and
 * the SMS segment arithmetic the preview and the console's live count share. The API validates
 * with these schemas and the console imports them, so a renamed field fails the type check instead
 * of an admin at night. This module imports zod only, so it bundles for the browser.
 */
import * as z from 'zod';

/** The notices with a configured text (`continuity.staff.templates`): continuity invoked, and revoked. */
export const noticeTemplates = ['invoke', 'revoke'] as const;
export type NoticeTemplate = (typeof noticeTemplates)[number];

/** How a notice reaches a person: SMS to their mobile, email to their personal address. */
export const noticeChannels = ['sms', 'email'] as const;
export type NoticeChannel = (typeof noticeChannels)[number];

/**
 * Longest text an admin may write: three GSM-7 segments. A notice that needs more belongs in the
 * email; the preview says how many segments (and SMS charges) the text costs.
 */
export const MAX_NOTICE_SMS_CHARS = 459;
/** Longest email body an admin may write: a page of instructions, not a newsletter. */
export const MAX_NOTICE_EMAIL_CHARS = 10_000;
/** Longest email subject: SNS and most phones cut subjects far shorter anyway. */
export const MAX_NOTICE_SUBJECT_CHARS = 200;
/** Most users named in one notice: beyond this, name a group. */
export const MAX_NOTICE_USERS = 500;
/** Most groups named in one notice. */
export const MAX_NOTICE_GROUPS = 20;
/** Most notices listed in one page. */
export const MAX_NOTICE_PAGE = 100;

/** One SMS segment in GSM-7: 160 characters alone, 153 each when a text is split (the UDH takes 7). */
export const GSM_SEGMENT_CHARS = 160;
export const GSM_MULTIPART_CHARS = 153;
/** One SMS segment in UCS-2 (any character outside GSM-7): 70 alone, 67 each when split. */
export const UCS2_SEGMENT_CHARS = 70;
export const UCS2_MULTIPART_CHARS = 67;

// 3GPP TS 23.038: the GSM 7-bit default alphabet, and its extension table (each costs two septets).
const GSM_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM_EXTENDED = '^{}\\[~]|€\f';

/** How an SMS text is carried and what it costs. */
export const smsCostSchema = z.object({
  /** GSM-7 while every character is in the GSM alphabet; one other character makes the whole text UCS-2. */
  encoding: z.enum(['gsm-7', 'ucs-2']),
  /** Length in the encoding's units (septets for GSM-7: an extension character counts two). */
  units: z.number().int().nonnegative(),
  /** Messages the text arrives as (and is charged as). */
  segments: z.number().int().nonnegative(),
  /** Units left in the last segment before it takes one more. */
  remaining: z.number().int().nonnegative(),
});
export type SmsCost = z.infer<typeof smsCostSchema>;

/** The encoding, length and segment count of an SMS text, as SNS and the carriers count them. */
export function smsCost(text: string): SmsCost {
  let units = 0;
  let gsm = true;
  for (const ch of text) {
    if (GSM_BASIC.includes(ch)) units += 1;
    else if (GSM_EXTENDED.includes(ch)) units += 2;
    else {
      gsm = false;
      break;
    }
  }
  if (!gsm) {
    // UCS-2 counts UTF-16 code units: an emoji (a surrogate pair) takes two.
    units = text.length;
    const segments =
      units === 0 ? 0 : units <= UCS2_SEGMENT_CHARS ? 1 : Math.ceil(units / UCS2_MULTIPART_CHARS);
    const room = segments <= 1 ? UCS2_SEGMENT_CHARS : segments * UCS2_MULTIPART_CHARS;
    return { encoding: 'ucs-2', units, segments, remaining: Math.max(0, room - units) };
  }
  const segments = units === 0 ? 0 : units <= GSM_SEGMENT_CHARS ? 1 : Math.ceil(units / GSM_MULTIPART_CHARS);
  const room = segments <= 1 ? GSM_SEGMENT_CHARS : segments * GSM_MULTIPART_CHARS;
  return { encoding: 'gsm-7', units, segments, remaining: Math.max(0, room - units) };
}

const groupName = z.string().trim().min(1).max(128);
const userId = z
  .string()
  .trim()
  .min(1)
  .max(128)
  .transform((s) => s.toLowerCase());

/** Who a notice goes to: every member of staff, members of directory groups, or named users. */
export const noticeAudienceSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('all') }),
  z.strictObject({
    kind: z.literal('groups'),
    groups: z.array(groupName).min(1, 'name at least one group').max(MAX_NOTICE_GROUPS),
  }),
  z.strictObject({
    kind: z.literal('users'),
    users: z
      .array(userId)
      .min(1, 'name at least one user')
      .max(MAX_NOTICE_USERS, `at most ${MAX_NOTICE_USERS} users: name a group instead`),
  }),
]);
export type NoticeAudience = z.infer<typeof noticeAudienceSchema>;

/**
 * `POST /admin/notices/preview` and `POST /admin/notices`: a template, or the admin's own text
 * (the SMS text, and optionally a different email subject and body), to an audience, by the
 * channels chosen. The preview answers with the exact texts; sending the same body sends them.
 */
export const noticeRequestSchema = z
  .strictObject({
    template: z.enum(noticeTemplates).optional(),
    /** The admin's own SMS text (also the email body unless `emailText` is given). */
    text: z.string().trim().min(1).max(MAX_NOTICE_SMS_CHARS).optional(),
    emailSubject: z.string().trim().min(1).max(MAX_NOTICE_SUBJECT_CHARS).optional(),
    emailText: z.string().trim().min(1).max(MAX_NOTICE_EMAIL_CHARS).optional(),
    /** @default the groups of `continuity.staff.groups`, or every member of staff when it lists none */
    audience: noticeAudienceSchema.optional(),
    /** @default both: SMS where a mobile is known, email where a personal address is */
    channels: z.array(z.enum(noticeChannels)).min(1, 'choose at least one channel').default(['sms', 'email']),
  })
  .refine((b) => (b.template === undefined) !== (b.text === undefined), {
    message: 'give either a template or your own text, not both',
    path: ['text'],
  });
export type NoticeRequest = z.input<typeof noticeRequestSchema>;
export type ParsedNoticeRequest = z.infer<typeof noticeRequestSchema>;

/** One text a channel carries: the SMS with its cost, the email with its subject. */
export const noticeTextsSchema = z.object({
  sms: z.object({ text: z.string(), cost: smsCostSchema }).nullable(),
  email: z.object({ subject: z.string(), text: z.string() }).nullable(),
});
export type NoticeTexts = z.infer<typeof noticeTextsSchema>;

/**
 * Where one recipient's message stands on one channel: `queued` (not handed over yet), `sent`
 * (accepted by SNS or the mail service, with its message id), `failed` (refused, with the
 * reason), `skipped` (no mobile or no personal address known).
 */
export const recipientStatuses = ['queued', 'sent', 'failed', 'skipped'] as const;
export type RecipientStatus = (typeof recipientStatuses)[number];

export const noticeRecipientSchema = z.object({
  /** The directory id, or `phone:<masked>` for a number listed only in `continuity.staff.phones`. */
  user: z.string(),
  name: z.string(),
  channel: z.enum(noticeChannels),
  /** Where it goes, masked (`+4477…123`, `j…@gmail.com`): phones and personal addresses are personal data. */
  to: z.string().nullable(),
  status: z.enum(recipientStatuses),
  /** The message id SNS (or the mail service) gave when it accepted the message. */
  messageId: z.string().nullable(),
  /** Why it failed or was skipped. */
  error: z.string().nullable(),
  /** When the status last changed. */
  at: z.string().nullable(),
});
export type NoticeRecipient = z.infer<typeof noticeRecipientSchema>;

/** Recipients per status, over both channels. */
export const noticeCountsSchema = z.object({
  queued: z.number().int().nonnegative(),
  sent: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
  skipped: z.number().int().nonnegative(),
});
export type NoticeCounts = z.infer<typeof noticeCountsSchema>;

/** The preview: exactly what each channel would carry, and to how many people. */
export const noticePreviewSchema = z.object({
  texts: noticeTextsSchema,
  /** The open event the notice would be attached to (its timeline), if any. */
  eventId: z.string().nullable(),
  /** Who would get it, per channel, with those who would be skipped and why. */
  recipients: z.array(noticeRecipientSchema),
  counts: z.object({
    /** People in the audience. */
    people: z.number().int().nonnegative(),
    sms: z.number().int().nonnegative(),
    email: z.number().int().nonnegative(),
    skipped: z.number().int().nonnegative(),
  }),
  /** Things the admin should know before sending (a long text, nobody reachable, the SNS sandbox). */
  warnings: z.array(z.string()),
});
export type NoticePreview = z.infer<typeof noticePreviewSchema>;

/** A notice as sent: what, to whom, by whom, and where each recipient's message stands. */
export const noticeSchema = z.object({
  id: z.string(),
  createdAt: z.string(),
  createdBy: z.string(),
  template: z.enum(noticeTemplates).nullable(),
  audience: noticeAudienceSchema,
  channels: z.array(z.enum(noticeChannels)),
  texts: noticeTextsSchema,
  eventId: z.string().nullable(),
  /** `sending` until every recipient has an outcome; a crash mid-way leaves the rest `queued`. */
  state: z.enum(['sending', 'done']),
  finishedAt: z.string().nullable(),
  counts: noticeCountsSchema,
  recipients: z.array(noticeRecipientSchema),
});
export type Notice = z.infer<typeof noticeSchema>;

/** `GET /admin/notices`: newest first, without the recipient lists. */
export const noticeSummarySchema = noticeSchema.omit({ recipients: true });
export type NoticeSummary = z.infer<typeof noticeSummarySchema>;

export const noticeListQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(MAX_NOTICE_PAGE).default(20),
  cursor: z.string().max(512).optional(),
});

export const noticeListSchema = z.object({
  notices: z.array(noticeSummarySchema),
  cursor: z.string().nullable(),
});
export type NoticeList = z.infer<typeof noticeListSchema>;

/** The error codes the notice endpoints answer with, beside the API's common ones. */
export const NOTICE_ERROR_STATUS = {
  /** The audience has nobody reachable by the channels chosen: nothing would be sent. */
  NOTICE_NO_RECIPIENTS: 400,
  /** A group or user named in the audience is not in the directory. */
  NOTICE_UNKNOWN_AUDIENCE: 400,
  /** More recipients than one notice holds: send one per group. */
  NOTICE_TOO_MANY: 400,
} as const;
