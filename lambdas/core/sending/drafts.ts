import type {
  ComposeFields,
  CreateDraftBody,
  Draft,
  DraftList,
  SaveDraftBody,
  Signature,
} from '../../webmail/schemas.js';
import { createDraftBodySchema, MAX_DRAFTS, saveDraftBodySchema } from '../../webmail/schemas.js';
import { recordDays } from '../config.js';
import type { MailboxUser } from '../directory.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { describeRef, prefillFrom } from './compose.js';
import {
  DRAFTS_PREFIX,
  type DraftBody,
  type DraftData,
  type DraftRecord,
  expiresAfterDays,
  newSendingId,
  SendError,
  type SendingDeps,
  type SignatureData,
} from './records.js';

/** The key of the one signature record a user has. */
const SIGNATURE_ID = 'signature';
/** Characters of a draft's text shown in the list. */
const SNIPPET_CHARS = 140;

type DraftDeps = Omit<SendingDeps, 'relay' | 'intake' | 'trigger' | 'wake'>;

/**
 * The From a user may use: one of their own addresses (the primary when none is given).
 * @throws SendError FROM_NOT_YOURS for any other, so no one writes as a colleague
 */
export function checkFrom(user: MailboxUser, from: string | undefined): string {
  const address = (from ?? '').trim().toLowerCase();
  if (address === '') return user.addresses[0] as string;
  // `Name <address>` is accepted for the address it names; the display name is always the user's.
  const bare = /<([^<>]+)>\s*$/.exec(address)?.[1] ?? address;
  if (!user.addresses.includes(bare)) {
    throw new SendError(
      'FROM_NOT_YOURS',
      `you can only send as your own addresses (${user.addresses.join(', ')})`,
    );
  }
  return bare;
}

function snippetOf(body: DraftBody): string {
  const text = body.text ?? (body.html ?? '').replace(/<[^>]*>/g, ' ');
  return text.replace(/\s+/g, ' ').trim().slice(0, SNIPPET_CHARS);
}

async function readBody(deps: DraftDeps, id: string): Promise<DraftBody> {
  try {
    return JSON.parse(
      (await deps.sendingBlobs.getRaw(`${DRAFTS_PREFIX}${id}`)).toString('utf8'),
    ) as DraftBody;
  } catch (err) {
    if (err instanceof NotFoundError) return { text: null, html: null };
    throw err;
  }
}

function view(rec: DraftRecord, body: DraftBody): Draft {
  const d = rec.data;
  return {
    id: rec.id,
    version: rec.version,
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
    from: d.from,
    to: d.to,
    cc: d.cc,
    bcc: d.bcc,
    subject: d.subject,
    text: body.text,
    html: body.html,
    attachments: d.attachments,
    inReplyTo: d.inReplyTo,
  };
}

/** A draft the user owns and that is not in the outbound queue. */
export async function loadDraft(
  deps: DraftDeps,
  user: MailboxUser,
  id: string,
  options: { includeQueued?: boolean } = {},
): Promise<{ record: DraftRecord; body: DraftBody }> {
  const record = await deps.sending.getSending<DraftData>('draft', user.id, id);
  if (!record || (record.data.sentAs !== null && !options.includeQueued))
    throw new NotFoundError(`draft ${id}`);
  return { record, body: await readBody(deps, id) };
}

/** Writes a draft's body first, then its record: a record never points at a body that is not there. */
async function writeDraft(
  deps: DraftDeps,
  user: MailboxUser,
  id: string,
  fields: ComposeFields,
  previous: DraftRecord | undefined,
): Promise<Draft> {
  const now = deps.clock.now();
  const from = checkFrom(user, fields.from);
  const attachments = await Promise.all(fields.attachments.map((ref) => describeRef(deps, user, ref)));
  const body: DraftBody = { text: fields.text, html: fields.html };
  const data: DraftData = {
    createdAt: previous?.data.createdAt ?? now.toISOString(),
    updatedAt: now.toISOString(),
    from,
    to: fields.to,
    cc: fields.cc,
    bcc: fields.bcc,
    subject: fields.subject,
    attachments,
    inReplyTo: fields.inReplyTo,
    snippet: snippetOf(body),
    sentAs: previous?.data.sentAs ?? null,
  };
  await deps.sendingBlobs.putRaw(`${DRAFTS_PREFIX}${id}`, Buffer.from(JSON.stringify(body)));
  const record: DraftRecord = {
    kind: 'draft',
    user: user.id,
    id,
    version: (previous?.version ?? 0) + 1,
    dueAt: null,
    expiresAt: expiresAfterDays(now, recordDays(deps.config)),
    data,
  };
  await deps.sending.putSending(record, previous?.version ?? 0);
  return view(record, body);
}

/**
 * A new draft, blank or started from a message of the user's mailbox (reply, reply all,
 * forward, forward as attachment). The server puts the user's signature in the body, above a
 * quote; fields given win over what it fills in.
 * @throws SendError TOO_MANY_DRAFTS, FROM_NOT_YOURS; NotFoundError for a message not theirs
 */
export async function createDraft(
  deps: DraftDeps,
  user: MailboxUser,
  input: CreateDraftBody,
): Promise<Draft> {
  const body = createDraftBodySchema.parse(input);
  const existing = await deps.sending.listSending<DraftData>('draft', user.id, { limit: MAX_DRAFTS + 1 });
  if (existing.items.length >= MAX_DRAFTS) {
    throw new SendError(
      'TOO_MANY_DRAFTS',
      `you have ${MAX_DRAFTS} drafts already: send or delete some first`,
    );
  }
  const prefill = body.source
    ? await prefillFrom(deps, user, body.source.messageId, body.source.mode)
    : undefined;
  const signature = body.noSignature ? undefined : await getSignature(deps, user);
  const sigText = signature?.text ? `\n\n-- \n${signature.text}\n` : '';
  const text =
    body.text !== undefined
      ? body.text
      : prefill || sigText
        ? `${sigText}${prefill?.quote ? `\n${prefill.quote}` : ''}`
        : null;
  const html = body.html !== undefined ? body.html : signature?.html ? `<br><br>${signature.html}` : null;
  const fields: ComposeFields = {
    from: body.from,
    to: body.to ?? prefill?.to ?? [],
    cc: body.cc ?? prefill?.cc ?? [],
    bcc: body.bcc ?? [],
    subject: body.subject ?? prefill?.subject ?? '',
    text,
    html: prefill && body.html === undefined ? null : html,
    attachments: body.attachments ?? prefill?.attachments ?? [],
    inReplyTo: body.inReplyTo !== undefined ? body.inReplyTo : (prefill?.inReplyTo ?? null),
  };
  return writeDraft(deps, user, newSendingId(deps.clock.now()), fields, undefined);
}

/**
 * Saves a draft whole. `version` must be the stored one, so a save from a stale tab never
 * overwrites a newer one.
 * @throws ConflictError (409) when the draft changed since; NotFoundError
 */
export async function saveDraft(
  deps: DraftDeps,
  user: MailboxUser,
  id: string,
  input: SaveDraftBody,
): Promise<Draft> {
  const { version, ...fields } = saveDraftBodySchema.parse(input);
  const { record } = await loadDraft(deps, user, id);
  if (record.version !== version) throw new ConflictError(`draft ${id} (saved elsewhere since; reload it)`);
  return writeDraft(deps, user, id, fields, record);
}

export async function getDraft(deps: DraftDeps, user: MailboxUser, id: string): Promise<Draft> {
  const { record, body } = await loadDraft(deps, user, id);
  return view(record, body);
}

/** The user's drafts, last saved first, without bodies. */
export async function listDrafts(deps: DraftDeps, user: MailboxUser): Promise<DraftList> {
  const page = await deps.sending.listSending<DraftData>('draft', user.id, { limit: MAX_DRAFTS });
  const drafts = page.items
    .filter((r) => r.data.sentAs === null)
    .map((r) => {
      const { text: _t, html: _h, attachments, ...rest } = view(r, { text: null, html: null });
      return { ...rest, snippet: r.data.snippet, attachmentCount: attachments.length };
    })
    .sort((a, b) => b.updatedAt.localeCompare(a.updatedAt));
  return { drafts };
}

/** Deletes a draft, and its body with it (the local folders and S3 alike remove it at once). */
export async function deleteDraft(deps: DraftDeps, user: MailboxUser, id: string): Promise<void> {
  const { record } = await loadDraft(deps, user, id);
  await deps.sending.deleteSending('draft', user.id, id, record.version);
  await deleteDraftBody(deps, id);
}

/**
 * Removes a deleted draft's body, where the storage can (the record went first: nothing points at
 * it). A removal that fails is left to the purge of files no record names, so it never turns a
 * deletion or a send that succeeded into an error.
 */
export async function deleteDraftBody(
  deps: Pick<DraftDeps, 'sendingBlobs' | 'log'>,
  id: string,
): Promise<void> {
  try {
    await deps.sendingBlobs.deleteRaw?.(`${DRAFTS_PREFIX}${id}`);
  } catch (err) {
    deps.log.warn('draft body not removed; the purge of unnamed files removes it', {
      draftId: id,
      error: (err as Error).message,
    });
  }
}

export async function getSignature(deps: DraftDeps, user: MailboxUser): Promise<Signature> {
  const rec = await deps.sending.getSending<SignatureData>('signature', user.id, SIGNATURE_ID);
  return { text: rec?.data.text ?? '', html: rec?.data.html ?? null };
}

/** Sets the user's signature; new drafts get it from now on. */
export async function putSignature(
  deps: DraftDeps,
  user: MailboxUser,
  signature: Signature,
): Promise<Signature> {
  for (let attempt = 0; ; attempt++) {
    const current = await deps.sending.getSending<SignatureData>('signature', user.id, SIGNATURE_ID);
    try {
      await deps.sending.putSending(
        {
          kind: 'signature',
          user: user.id,
          id: SIGNATURE_ID,
          version: (current?.version ?? 0) + 1,
          dueAt: null,
          // A signature lasts as long as the raw mail does: it is part of how the user writes.
          expiresAt: expiresAfterDays(deps.clock.now(), deps.config.retentionDays),
          data: { text: signature.text, html: signature.html },
        },
        current?.version ?? 0,
      );
      return signature;
    } catch (err) {
      if (!(err instanceof ConflictError) || attempt >= 2) throw err;
    }
  }
}
