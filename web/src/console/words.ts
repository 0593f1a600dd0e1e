/**
 * The words an admin reads for the admin API's stable error codes, and for the outcome of an
 * action on a selection. No browser API here: the unit tests pin them.
 */
import { MFA_REQUIRED } from '../../../lambdas/console/auth.js';
import type { ActionOutcome, QueueAction } from '../../../lambdas/console/schemas.js';

/** Words for the codes an admin can meet; anything else shows the API's own message. */
export const WORDS: Record<string, string> = {
  NETWORK: 'Lifeboat cannot be reached. Check your connection; it will try again.',
  UNAUTHENTICATED: 'Your sign-in has expired. Signing you in again…',
  FORBIDDEN: 'You are not an administrator of Lifeboat.',
  DRILL_BUSY: 'A drill cannot start now: another drill runs, or continuity is not normal.',
  DRILL_RUNNING: 'The drill is still running: its report is ready once it has ended.',
  TOO_MANY_REQUESTS: 'Too many requests at once. Wait a moment and try again.',
  INTERNAL: 'Something went wrong on the server. Try again in a moment.',
  CONTINUITY_STATE: 'That cannot be done in the current state.',
  NO_OUTBOUND_PATH: 'The bounce could not be sent: no route serves the sender’s domain.',
  NULL_SENDER: 'This message has no sender to bounce to (<>).',
};

/** Codes whose API message says more than our words (which state, which delivery). */
const KEEP_MESSAGE = new Set([
  'DRILL_PRODUCTION',
  'NOTICE_NO_RECIPIENTS',
  'NOTICE_UNKNOWN_AUDIENCE',
  'NOTICE_TOO_MANY',
  'REPLAY_STATE',
  'CONTINUITY_STATE',
  'TRANSITION_NOT_ALLOWED',
  'VALIDATION_FAILED',
  'CONFLICT',
  'NOT_FOUND',
]);

/** Plain words for one stable error code and the API's message (a bulk action's refused item). */
export function explainCode(code: string, message: string): string {
  // The API's message names the user, why the sign-in fell short and how to set up a factor.
  if (code === MFA_REQUIRED)
    return `Administrators sign in here with a second factor. ${stop(message.replace(/^admin API: /, ''))}`;
  if (KEEP_MESSAGE.has(code)) return sentence(message);
  return WORDS[code] ?? sentence(message);
}

/** A text ending as a sentence does. */
function stop(text: string): string {
  const t = text.trim();
  return /[.!?]$/.test(t) ? t : `${t}.`;
}

/** The API's messages start lower-case ("a delivery cannot go from …"); a sentence reads better. */
export function sentence(text: string): string {
  const t = text.trim();
  return t ? `${t[0]?.toUpperCase()}${t.slice(1)}${/[.!?]$/.test(t) ? '' : '.'}` : t;
}

export const ACTION_LABELS: Record<QueueAction, string> = {
  hold: 'Hold',
  release: 'Release',
  retry: 'Retry now',
  reroute: 'Reroute',
  bounce: 'Bounce',
  delete: 'Delete',
};

/** The results of an action in plain words: what was done, and each refusal with its reason. */
export function outcomeWords(
  action: QueueAction | 'release' | 'delete',
  outcome: ActionOutcome,
): {
  summary: string;
  refusals: string[];
} {
  const label = ACTION_LABELS[action as QueueAction] ?? action;
  const refusals = outcome.results.flatMap((r) =>
    r.ok
      ? []
      : [`${r.recipient === '*' ? r.messageId : r.recipient}: ${explainCode(r.error.code, r.error.message)}`],
  );
  const summary =
    outcome.refused === 0
      ? `${label}: done for ${outcome.done} ${outcome.done === 1 ? 'delivery' : 'deliveries'}.`
      : `${label}: done for ${outcome.done}, refused for ${outcome.refused}.`;
  return { summary, refusals };
}
