import { type LifeboatConfig, webmailHistoryDays } from '../core/config.js';
import type { Directory, MailboxUser } from '../core/directory.js';
import { NotFoundError } from '../core/errors.js';
import { scopeCovers } from '../core/holds.js';
import { fetchLinkedPart, linkFor, listMailbox, readMessage, setMessageFlags } from '../core/mailbox.js';
import { resolveRoute } from '../core/routing.js';
import type { IndexCache } from '../core/search/mailbox-index.js';
import { searchMailbox } from '../core/search/search.js';
import {
  createDraft,
  deleteDraft,
  getDraft,
  getSignature,
  listDrafts,
  putSignature,
  saveDraft,
} from '../core/sending/drafts.js';
import type { SendingDeps } from '../core/sending/records.js';
import { getSent, listSent, sendingInfo, submitSend, undoSend } from '../core/sending/send.js';
import { requestUpload } from '../core/sending/uploads.js';
import type {
  BlobStore,
  Clock,
  ContinuityStore,
  LinkSigner,
  LinkSubject,
  Logger,
  MessageStore,
  SendingStore,
} from '../ports.js';
import {
  createDraftBodySchema,
  flagsBodySchema,
  type LinkResponse,
  linkQuerySchema,
  listQuerySchema,
  type MeResponse,
  type MessageDetail,
  type MessagePage,
  type StatusResponse,
  saveDraftBodySchema,
  searchQuerySchema,
  sendBodySchema,
  sentQuerySchema,
  signatureSchema,
  uploadRequestSchema,
} from '../webmail/schemas.js';
import { AuthError } from './http/auth.js';
import { bodyOf, type HttpResult, json, parse, type Route } from './http/router.js';

/** What the webmail handler needs: the stores, the staff directory and the link signer. */
export interface WebmailContext {
  config: LifeboatConfig;
  store: MessageStore;
  /** Raw mail. */
  blobs: BlobStore;
  /** The search indexes (`index/<address>.json`). */
  indexBlobs: BlobStore;
  clock: Clock;
  log: Logger;
  directory: Directory;
  links: LinkSigner;
  /** Search indexes kept loaded; share it with the index writer only in the same process. */
  cache?: IndexCache | undefined;
  /** The continuity state, for the banner (`/mail/api/status`); without it the state reads normal. */
  continuity?: Pick<ContinuityStore, 'getOrg' | 'getEvent'> | undefined;
  /** Drafts, uploads, sending and the Sent view; without it those endpoints answer 404. */
  sending?: SendingDeps | undefined;
  /** The admin job records: the first sign-in of a user in a running drill's scope is recorded there. */
  drills?: SendingStore | undefined;
}

/** A draft's or a sent message's id in a path (time-ordered ids). */
const SID = '([A-Za-z0-9_-]{8,64})';

/** The sending side, or a 404 where this deployment has none. */
function sendingOf(ctx: WebmailContext): SendingDeps {
  if (!ctx.sending) throw new NotFoundError('sending from the webmail (not set up here)');
  return ctx.sending;
}

/** The endpoints of sending: drafts, signed uploads, send, undo, the Sent view, the signature, the limits. */
function sendingRoutes(ctx: WebmailContext): Route<MailboxUser>[] {
  return [
    {
      method: 'GET',
      pattern: /^\/mail\/api\/sending$/,
      run: async (_m, _e, user) => json(200, await sendingInfo(sendingOf(ctx), user)),
    },
    {
      method: 'GET',
      pattern: /^\/mail\/api\/drafts$/,
      run: async (_m, _e, user) => json(200, await listDrafts(sendingOf(ctx), user)),
    },
    {
      method: 'POST',
      pattern: /^\/mail\/api\/drafts$/,
      run: async (_m, e, user) => {
        const body = parse(createDraftBodySchema, bodyOf(e) ?? {}, 'request body');
        return json(201, await createDraft(sendingOf(ctx), user, body));
      },
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/mail/api/drafts/${SID}$`),
      run: async (m, _e, user) => json(200, await getDraft(sendingOf(ctx), user, m[1] as string)),
    },
    {
      method: 'PUT',
      pattern: new RegExp(`^/mail/api/drafts/${SID}$`),
      run: async (m, e, user) => {
        const body = parse(saveDraftBodySchema, bodyOf(e), 'request body');
        return json(200, await saveDraft(sendingOf(ctx), user, m[1] as string, body));
      },
    },
    {
      method: 'DELETE',
      pattern: new RegExp(`^/mail/api/drafts/${SID}$`),
      run: async (m, _e, user) => {
        await deleteDraft(sendingOf(ctx), user, m[1] as string);
        return json(200, { id: m[1], deleted: true });
      },
    },
    {
      method: 'POST',
      pattern: /^\/mail\/api\/uploads$/,
      run: async (_m, e, user) => {
        const body = parse(uploadRequestSchema, bodyOf(e), 'request body');
        return json(201, await requestUpload(sendingOf(ctx), user, body));
      },
    },
    {
      method: 'POST',
      pattern: /^\/mail\/api\/send$/,
      run: async (_m, e, user) => {
        const body = parse(sendBodySchema, bodyOf(e), 'request body');
        return json(202, await submitSend(sendingOf(ctx), user, body));
      },
    },
    {
      method: 'GET',
      pattern: /^\/mail\/api\/sent$/,
      run: async (_m, e, user) => {
        const q = parse(sentQuerySchema, e.queryStringParameters ?? {}, 'query');
        return json(200, await listSent(sendingOf(ctx), user, q));
      },
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/mail/api/sent/${SID}$`),
      run: async (m, _e, user) => json(200, await getSent(sendingOf(ctx), user, m[1] as string)),
    },
    {
      method: 'POST',
      pattern: new RegExp(`^/mail/api/sent/${SID}/undo$`),
      run: async (m, _e, user) => json(200, await undoSend(sendingOf(ctx), user, m[1] as string)),
    },
    {
      method: 'GET',
      pattern: /^\/mail\/api\/signature$/,
      run: async (_m, _e, user) => json(200, await getSignature(sendingOf(ctx), user)),
    },
    {
      method: 'PUT',
      pattern: /^\/mail\/api\/signature$/,
      run: async (_m, e, user) => {
        const body = parse(signatureSchema, bodyOf(e), 'request body');
        return json(200, await putSignature(sendingOf(ctx), user, body));
      },
    },
  ];
}

/** A message id in a path: SES ids and the local runtime's are letters and digits. */
const ID = '([A-Za-z0-9._=+-]{1,256})';

/** The download route's path; the token is the whole authorisation, so it is served before sign-in. */
export const FILES_ROUTE = /^\/mail\/api\/files\/([A-Za-z0-9._-]{1,2048})$/;

const page = (p: MessagePage) => ({ messages: p.messages, cursor: p.cursor });

/**
 * The staff webmail API's endpoints, for a signed-in user who owns at least one address:
 * who am I, the mailbox list, one message, read and flagged marks, search, and short-lived
 * links to download the raw message or an attachment. Response shapes: lambdas/webmail/schemas.ts.
 */
export function webmailRoutes(ctx: WebmailContext): Route<MailboxUser>[] {
  return [
    {
      method: 'GET',
      pattern: /^\/mail\/api\/me$/,
      run: async (_m, _e, user) =>
        json(200, {
          id: user.id,
          name: user.name,
          addresses: user.addresses,
          historyDays: webmailHistoryDays(ctx.config),
        } satisfies MeResponse),
    },
    {
      method: 'GET',
      pattern: /^\/mail\/api\/status$/,
      run: async (_m, _e, user) => json(200, await continuityStatus(ctx, user)),
    },
    {
      method: 'GET',
      pattern: /^\/mail\/api\/messages$/,
      run: async (_m, e, user) => {
        const q = parse(listQuerySchema, e.queryStringParameters ?? {}, 'query');
        return json(200, page(await listMailbox(ctx, user, q)));
      },
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/mail/api/messages/${ID}$`),
      run: async (m, _e, user) =>
        json(200, (await readMessage(ctx, user, m[1] as string)) satisfies MessageDetail),
    },
    {
      method: 'POST',
      pattern: new RegExp(`^/mail/api/messages/${ID}/flags$`),
      run: async (m, e, user) => {
        const body = parse(flagsBodySchema, bodyOf(e), 'request body');
        return json(200, await setMessageFlags(ctx, user, m[1] as string, body));
      },
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/mail/api/messages/${ID}/links$`),
      run: async (m, e, user) => {
        const { part } = parse(linkQuerySchema, e.queryStringParameters ?? {}, 'query');
        const link = await linkFor(ctx, user, m[1] as string, part);
        return json(200, link satisfies LinkResponse);
      },
    },
    {
      method: 'GET',
      pattern: /^\/mail\/api\/search$/,
      run: async (_m, e, user) => {
        const { q, ...paging } = parse(searchQuerySchema, e.queryStringParameters ?? {}, 'query');
        return json(200, page(await searchMailbox(ctx, user, q, paging)));
      },
    },
    ...sendingRoutes(ctx),
  ];
}

/**
 * The continuity banner's facts: the organisation's state, since when, and whether the open
 * event's scope (every route, or one) holds mail for one of the user's addresses. No event
 * details: staff need to know whether their mail server is down, not the evidence.
 */
export async function continuityStatus(
  ctx: Pick<WebmailContext, 'config' | 'continuity'>,
  user: MailboxUser,
): Promise<StatusResponse> {
  const org = await ctx.continuity?.getOrg();
  if (!org || org.state === 'normal') return { state: 'normal', since: null, scopeCoversMe: false };
  const event = org.eventId ? await ctx.continuity?.getEvent(org.eventId) : undefined;
  const scope = event?.scope ?? '*';
  const covers = user.addresses.some((a) => scopeCovers(scope, resolveRoute(ctx.config, a)?.name ?? '', a));
  return {
    state: org.state,
    since: org.since,
    scopeCoversMe: covers,
    // A rehearsal: the banner says so, so nobody takes it for a real outage.
    ...(event?.drill ? { drill: true } : {}),
  };
}

/** A file name safe inside a quoted header value: no quotes, controls or separators an attacker could use. */
function asciiFilename(name: string): string {
  const safe = name
    .normalize('NFKD')
    .replace(/[^A-Za-z0-9._ ()-]/g, '_')
    .replace(/^[.\s]+/, '')
    .slice(0, 100);
  return safe === '' ? 'download' : safe;
}

/** RFC 8187 `filename*`: the real name, percent-encoded, so nothing in it is read as syntax. */
function encodedFilename(name: string): string {
  // Control characters are never part of a real file name; a CR LF here is an injection attempt.
  return encodeURIComponent(name.replace(/\p{Cc}+/gu, ' ').slice(0, 200)).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/**
 * Serves what a signed link points at (the local runtime's stand-in for a presigned S3 URL).
 * The token is the authorisation, so the route needs no sign-in; a request that is signed in
 * as someone else is refused all the same. The part is sent as a download unless it is an
 * image type that cannot carry script, with a sandboxing CSP and no sniffing either way, so a
 * hostile attachment never runs as a page of the API's origin.
 * @throws LinkError (LINK_INVALID 403, LINK_EXPIRED 410), AuthError 403, NotFoundError
 */
export async function serveLinkedFile(
  ctx: WebmailContext,
  token: string,
  signedIn: (() => MailboxUser) | undefined,
): Promise<HttpResult> {
  const subject: LinkSubject = ctx.links.verify(token);
  if (signedIn && signedIn().id !== subject.user) {
    throw new AuthError(403, 'this download link was made for another user');
  }
  const part = await fetchLinkedPart(ctx, subject);
  ctx.log.info('webmail download', {
    messageId: subject.messageId,
    part: subject.part,
    bytes: part.body.length,
  });
  const disposition = part.inline ? 'inline' : 'attachment';
  return {
    statusCode: 200,
    headers: {
      'content-type': part.inline || subject.part === 'raw' ? part.contentType : 'application/octet-stream',
      'content-disposition': `${disposition}; filename="${asciiFilename(part.filename)}"; filename*=UTF-8''${encodedFilename(part.filename)}`,
      'content-length': String(part.body.length),
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'none'; sandbox",
      'referrer-policy': 'no-referrer',
      'cache-control': 'private, no-store',
    },
    body: part.body.toString('base64'),
    isBase64Encoded: true,
  };
}
