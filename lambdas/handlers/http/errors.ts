import { MFA_REQUIRED } from '../../console/auth.js';
import { DRILL_ERROR_STATUS } from '../../console/drill.js';
import { NOTICE_ERROR_STATUS } from '../../console/notices.js';
import { REPLAY_ERROR_STATUS } from '../../console/replay.js';
import { LifeboatError, ValidationError } from '../../core/errors.js';
import type { Logger } from '../../ports.js';
import { SEND_ERROR_STATUS } from '../../webmail/schemas.js';
import { type HttpResult, json } from './router.js';

/**
 * Each stable error code and the HTTP status it answers with: the one place that decides it
 * (EmailEngine's handleError). An error whose code is not here is a fault, answered 500 without
 * internals and logged with its cause.
 */
export const HTTP_STATUS_BY_CODE: Readonly<Record<string, number>> = {
  /** Sending from the webmail: a From not the user's, the rate limits, the attachment limit, undo too late … */
  ...SEND_ERROR_STATUS,
  /** Staff notices: nobody reachable, an unknown group or user, too many recipients. */
  ...NOTICE_ERROR_STATUS,
  /** An admin whose sign-in had no second factor, where `adminMfa.required` is on. */
  [MFA_REQUIRED]: 403,
  /** Drills: a production scope without confirmation, another drill or a real event, a report too early. */
  ...DRILL_ERROR_STATUS,
  /** Replays: cancelling a finished one, resuming a running one, a runtime without a job store. */
  ...REPLAY_ERROR_STATUS,
  VALIDATION_FAILED: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  CONTINUITY_STATE: 409,
  TRANSITION_NOT_ALLOWED: 409,
  /** A bounce asked for mail whose sender is `<>`: never answered with a bounce. */
  NULL_SENDER: 400,
  /** A bounce to an address this runtime has no way out to (the local runtime has no relay yet). */
  NO_OUTBOUND_PATH: 409,
  /** The DSN was refused on its way out; the delivery is failed and says so. */
  DSN_NOT_SENT: 502,
  /** A download link that was not signed here or was altered: refused like any forged credential. */
  LINK_INVALID: 403,
  /** A genuine download link past its time: gone, and the app asks for a new one. */
  LINK_EXPIRED: 410,
};

/** Maps errors to HTTP: the message names what refused; unexpected errors say nothing of internals. */
export function errorResponse(err: unknown, log: Logger): HttpResult {
  const status = err instanceof LifeboatError ? HTTP_STATUS_BY_CODE[err.code] : undefined;
  if (err instanceof LifeboatError && status !== undefined) {
    const result = json(status, {
      error: err.code,
      message: err.message,
      ...(err instanceof ValidationError ? { problems: err.problems } : {}),
    });
    // RFC 6585 §4: a 429 may say when to come back.
    const retryAfter = (err as { retryAfterSeconds?: unknown }).retryAfterSeconds;
    if (typeof retryAfter === 'number') result.headers['retry-after'] = String(retryAfter);
    return result;
  }
  log.error('api error', { error: (err as Error).message });
  return json(500, { error: 'INTERNAL', message: 'something went wrong; the request was not completed' });
}
