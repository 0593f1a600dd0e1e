/**
 * The one module that talks to the webmail API: every request carries the signed-in user's ID
 * token, every answer is typed by the API's own schemas (lambdas/webmail/schemas.ts, imported as
 * types only, so no validator ships to the browser), and every failure becomes an ApiError with
 * the API's stable code and words a user understands.
 */
import type {
  StatusResponse as ApiStatusResponse,
  CreateDraftBody,
  Draft,
  DraftList,
  ErrorResponse,
  FlagsBody,
  LinkResponse,
  MeResponse,
  MessageDetail,
  MessagePage,
  SaveDraftBody,
  SendingInfo,
  SentItem,
  SentPage,
  Signature,
  UndoResponse,
  UploadRequest,
  UploadTicket,
} from '../../../lambdas/webmail/schemas.js';
import { ApiError, type ApiOptions, jsonOf, type Method, sendApiRequest } from '../shared/api-request.js';

export { ApiError, type ApiOptions };

/** The continuity state for the banner (`GET /mail/api/status`), a drill's marked as one. */
export type StatusResponse = ApiStatusResponse;

/** The flags endpoint's answer. */
export interface FlagsResponse {
  id: string;
  seen: boolean;
  flagged: boolean;
}

/** Words for the codes a user can meet; anything else shows the API's own message. */
const WORDS: Record<string, string> = {
  NETWORK: 'Lifeboat cannot be reached. Check your connection; it will try again.',
  NOT_FOUND: 'That message is not in your mailbox.',
  LINK_EXPIRED: 'That download link has expired. Try the download again.',
  LINK_INVALID: 'That download link is not valid. Try the download again.',
  UNAUTHENTICATED: 'Your sign-in has expired. Signing you in again…',
  TOO_MANY_REQUESTS: 'Too many requests at once. Wait a moment and try again.',
  INTERNAL: 'Something went wrong on the server. Try again in a moment.',
  CONFLICT: 'This draft was changed somewhere else (another tab or device).',
  NO_RECIPIENTS: 'Add at least one recipient in To, Cc or Bcc.',
  UPLOAD_USED: 'That file was already attached once. Attach it again.',
  UPLOAD_INCOMPLETE: 'A file did not finish uploading. Remove it and attach it again.',
  UPLOAD_INVALID: 'That upload was refused. Attach the file again.',
  UPLOAD_EXPIRED: 'That upload took too long and expired. Attach the file again.',
  TOO_LATE: 'Too late to undo: the message has left.',
  NO_OUTBOUND_PATH:
    'Mail to addresses outside the organisation cannot be sent from here (no outgoing relay is set up). Colleagues can still be written to.',
  TOO_MANY_DRAFTS: 'You have too many drafts. Send or discard some first.',
};

/**
 * Refusals where the server's own sentence says what to do (it names the limit and the address);
 * a lead-in in plain words goes before it.
 */
const LEAD: Record<string, string> = {
  FROM_NOT_YOURS: 'You can only send from your own addresses.',
  TOO_MANY_RECIPIENTS: 'Too many recipients for one message.',
  ATTACHMENT_TOO_LARGE: 'The attachments are too large.',
};

/** "in 3 minutes" for a Retry-After. */
function waitWords(seconds: number): string {
  if (seconds < 90) return `${Math.max(1, Math.round(seconds))} seconds`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} minutes`;
  return `${Math.round(seconds / 3600)} hours`;
}

/** What to show a user for an error of any kind. */
export function explain(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.code === 'RATE_LIMITED') {
      const when = err.retryAfter !== null ? ` You can send again in ${waitWords(err.retryAfter)}.` : '';
      return `You have sent the most messages allowed for now (a limit that stops a stolen sign-in from sending spam).${when}`;
    }
    const lead = LEAD[err.code];
    if (lead) return `${lead} ${err.message}`;
    if (err.status === 403 || err.code === 'VALIDATION_FAILED') return err.message;
    return WORDS[err.code] ?? err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

export type Api = ReturnType<typeof createApi>;

/** The webmail API for the signed-in user. */
export function createApi(options: ApiOptions) {
  const reading = {
    network: WORDS.NETWORK as string,
    // A refused input names each problem ("q: type something to search for"); say those alone.
    problem: (p: string) => p.replace(/^[\w.]+: /, ''),
  };
  const request = async <T>(method: Method, path: string, body?: unknown): Promise<T> =>
    jsonOf<T>(await sendApiRequest(options, reading, method, path, body));

  const page = (params: Record<string, string | undefined>) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, v);
    return q.toString();
  };

  return {
    me: () => request<MeResponse>('GET', '/mail/api/me'),
    /** A page of the mailbox, newest first; `limit` defaults to the API's page size. */
    list: (cursor?: string, limit?: number) =>
      request<MessagePage>('GET', `/mail/api/messages?${page({ cursor, limit: limit?.toString() })}`),
    search: (q: string, cursor?: string) =>
      request<MessagePage>('GET', `/mail/api/search?${page({ q, cursor })}`),
    read: (id: string) => request<MessageDetail>('GET', `/mail/api/messages/${encodeURIComponent(id)}`),
    setFlags: (id: string, flags: FlagsBody) =>
      request<FlagsResponse>('POST', `/mail/api/messages/${encodeURIComponent(id)}/flags`, flags),
    link: (id: string, part: number | 'raw') =>
      request<LinkResponse>('GET', `/mail/api/messages/${encodeURIComponent(id)}/links?part=${part}`),
    status: () => request<StatusResponse>('GET', '/mail/api/status'),

    // Sending (README "Sending"): limits, drafts, uploads, send and undo, the Sent view, the signature.
    sending: () => request<SendingInfo>('GET', '/mail/api/sending'),
    drafts: () => request<DraftList>('GET', '/mail/api/drafts'),
    draft: (id: string) => request<Draft>('GET', `/mail/api/drafts/${encodeURIComponent(id)}`),
    createDraft: (body: CreateDraftBody) => request<Draft>('POST', '/mail/api/drafts', body),
    saveDraft: (id: string, body: SaveDraftBody) =>
      request<Draft>('PUT', `/mail/api/drafts/${encodeURIComponent(id)}`, body),
    deleteDraft: (id: string) =>
      request<{ id: string; deleted: true }>('DELETE', `/mail/api/drafts/${encodeURIComponent(id)}`),
    requestUpload: (body: UploadRequest) => request<UploadTicket>('POST', '/mail/api/uploads', body),
    send: (draftId: string, version: number) =>
      request<SentItem>('POST', '/mail/api/send', { draftId, version }),
    undo: (sentId: string) =>
      request<UndoResponse>('POST', `/mail/api/sent/${encodeURIComponent(sentId)}/undo`),
    sent: (cursor?: string) => request<SentPage>('GET', `/mail/api/sent?${page({ cursor })}`),
    sentItem: (id: string) => request<SentItem>('GET', `/mail/api/sent/${encodeURIComponent(id)}`),
    signature: () => request<Signature>('GET', '/mail/api/signature'),
    saveSignature: (sig: Signature) => request<Signature>('PUT', '/mail/api/signature', sig),
  };
}

/**
 * Sends a file's bytes to its signed upload (a presigned S3 PUT in AWS, the runtime's upload route
 * locally) with exactly the headers the ticket names, reporting progress. XMLHttpRequest, because
 * fetch still reports no upload progress. No bearer token: the signed URL is the authorisation.
 */
export function putUpload(
  ticket: UploadTicket,
  file: Blob,
  onProgress: (fraction: number) => void,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(ticket.method, ticket.url);
    for (const [k, v] of Object.entries(ticket.headers)) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && e.total > 0) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve();
      let e: Partial<ErrorResponse> = {};
      try {
        e = JSON.parse(xhr.responseText) as Partial<ErrorResponse>;
      } catch {
        // S3 answers XML; its status says enough.
      }
      reject(
        new ApiError(
          e.error ?? `HTTP_${xhr.status}`,
          xhr.status,
          e.message ?? `The upload was refused (${xhr.status}).`,
        ),
      );
    };
    xhr.onerror = () => reject(new ApiError('NETWORK', 0, WORDS.NETWORK as string));
    xhr.onabort = () => reject(new ApiError('ABORTED', 0, 'The upload was stopped.'));
    signal?.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(file);
  });
}
