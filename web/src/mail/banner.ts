/**
 * What the continuity banner above the mailbox says. Staff see it only when the open event holds
 * mail of one of their addresses, and only once it matters to them: while mail is held here and
 * while it is handed back. A drill says it is one, so nobody takes a rehearsal for an outage.
 */
import type { StatusResponse } from '../../../lambdas/webmail/schemas.js';

export interface ContinuityBannerText {
  /** The look: the outage's warning colours, or the all-clear's while mail is handed back. */
  tone: 'continuity' | 'recovering';
  words: string;
}

/** The banner for this status, or null when there is none to show. */
export function continuityBannerText(status: StatusResponse | null): ContinuityBannerText | null {
  if (!status?.scopeCoversMe) return null;
  if (status.state === 'continuity') {
    return {
      tone: 'continuity',
      words: status.drill
        ? 'Drill, a rehearsal: your mail server is not really down. Mail you read here is also delivered to it when the drill ends.'
        : 'Your mail server is down. Mail you read here is also delivered to it when it is back.',
    };
  }
  if (status.state === 'recovering') {
    return {
      tone: 'recovering',
      words: status.drill
        ? 'Drill ending: mail that arrived during the rehearsal is being delivered to your mail server now.'
        : 'Your mail server is back. Mail that arrived while it was down is being delivered to it now.',
    };
  }
  return null;
}
