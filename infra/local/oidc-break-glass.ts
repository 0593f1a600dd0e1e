import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import type { Clock, ContinuityStore, Logger, NotificationRecord, Notifier } from '../../lambdas/ports.js';

/** Digits of a one-time code: what SMS sign-in codes use everywhere, and what phones autofill. */
export const CODE_DIGITS = 6;
/** A code is good for five minutes: long enough for a slow SMS, short enough to be useless later. */
export const CODE_TTL_MS = 5 * 60 * 1000;
/**
 * Wrong entries before a code is void. With {@link MAX_CODES_PER_HOUR} this allows 25 guesses an
 * hour at one in a million each.
 */
export const MAX_CODE_ATTEMPTS = 5;
/** A new code no sooner than a minute after the last: a second tap must not text twice. */
export const CODE_RESEND_MS = 60 * 1000;
/** Codes texted per user an hour: each costs an SMS, and texting a phone at will is harassment. */
export const MAX_CODES_PER_HOUR = 5;
/** Wrong passwords per user in {@link PASSWORD_WINDOW_MS} before sign-in by password pauses. */
export const MAX_PASSWORD_FAILURES = 5;
export const PASSWORD_WINDOW_MS = 15 * 60 * 1000;

const HOUR_MS = 60 * 60 * 1000;

/**
 * Counts events per key in a sliding window: the password failures, the codes texted. In memory:
 * one process serves sign-in, and a restart forgetting the counts costs a few more attempts at
 * most, not the accounts.
 */
export function createWindowCounter(limit: number, windowMs: number, clock: Clock) {
  const events = new Map<string, number[]>();
  const recent = (key: string) => {
    const since = clock.now().getTime() - windowMs;
    const kept = (events.get(key) ?? []).filter((t) => t > since);
    if (kept.length) events.set(key, kept);
    else events.delete(key);
    return kept;
  };
  return {
    /** Whether the key has used up its events in the window. */
    blocked: (key: string) => recent(key).length >= limit,
    add(key: string) {
      events.set(key, [...recent(key), clock.now().getTime()]);
    },
    clear(key: string) {
      events.delete(key);
    },
    /** Milliseconds of the window left once the oldest counted event ages out. */
    retryAfterMs(key: string): number {
      const first = recent(key)[0];
      return first === undefined ? 0 : Math.max(0, first + windowMs - clock.now().getTime());
    },
  };
}

interface PendingCode {
  digest: Buffer;
  expiresAt: number;
  attempts: number;
}

/** Why a code was not texted, in words the sign-in page shows. */
export type SendOutcome = { sent: true } | { sent: false; reason: 'too-soon' | 'too-many' | 'no-phone' };

export type VerifyOutcome = 'ok' | 'wrong' | 'expired' | 'none' | 'locked';

export interface BreakGlassDeps {
  clock: Clock;
  log: Logger;
  notifier: Notifier;
  /** The outbox: a code is kept there like every text, which is where the local runtime shows it. */
  continuity: Pick<ContinuityStore, 'putNotification'>;
  organisation: string;
}

const digestOf = (code: string) => createHash('sha256').update(code).digest();

/**
 * Break-glass sign-in: a one-time code texted to the user's personal phone (never mailed: the
 * corporate mailbox is what is down). A code lives five minutes, works once, is void after five
 * wrong entries, and a user gets at most one a minute and five an hour. Only its SHA-256 is
 * kept; the text itself goes through the notifier and into the outbox, as every SMS does.
 */
export function createBreakGlass(deps: BreakGlassDeps) {
  const pending = new Map<string, PendingCode>();
  const texted = createWindowCounter(MAX_CODES_PER_HOUR, HOUR_MS, deps.clock);
  const lastSent = new Map<string, number>();
  const now = () => deps.clock.now().getTime();

  return {
    /**
     * Texts a new code to `phone` for user `id`, replacing any earlier one.
     * @throws whatever the notifier throws (the outbox record keeps the error)
     */
    async send(id: string, phone: string | undefined): Promise<SendOutcome> {
      if (!phone) return { sent: false, reason: 'no-phone' };
      const last = lastSent.get(id);
      if (last !== undefined && now() - last < CODE_RESEND_MS) return { sent: false, reason: 'too-soon' };
      if (texted.blocked(id)) return { sent: false, reason: 'too-many' };
      const code = String(randomInt(10 ** CODE_DIGITS)).padStart(CODE_DIGITS, '0');
      pending.set(id, { digest: digestOf(code), expiresAt: now() + CODE_TTL_MS, attempts: 0 });
      lastSent.set(id, now());
      texted.add(id);
      const n: NotificationRecord = {
        id: randomBytes(6).toString('hex'),
        at: deps.clock.now().toISOString(),
        channel: 'sms',
        audience: 'staff',
        to: [phone],
        subject: 'Lifeboat sign-in code',
        // The code first, so a lock screen shows it; the warning because scammers ask for these.
        text: `${code} is your ${deps.organisation} webmail sign-in code. It expires in ${CODE_TTL_MS / 60_000} minutes. Nobody from IT will ever ask you for it.`,
        eventId: null,
        notice: 'sign-in-code',
      };
      await deps.continuity.putNotification(n);
      try {
        await deps.notifier.send(n);
      } catch (err) {
        await deps.continuity.putNotification({ ...n, error: (err as Error).message });
        deps.log.error('sign-in code not sent', { error: (err as Error).message });
        throw err;
      }
      deps.log.info('sign-in code texted', { notification: n.id });
      return { sent: true };
    },

    /** Checks a code; a right one is used up, a wrong one counts towards the limit. */
    verify(id: string, code: string): VerifyOutcome {
      const p = pending.get(id);
      if (!p) return 'none';
      if (now() > p.expiresAt) {
        pending.delete(id);
        return 'expired';
      }
      if (p.attempts >= MAX_CODE_ATTEMPTS) return 'locked';
      const given = digestOf(code.replace(/\s+/g, ''));
      if (timingSafeEqual(given, p.digest)) {
        pending.delete(id);
        return 'ok';
      }
      p.attempts++;
      if (p.attempts >= MAX_CODE_ATTEMPTS) {
        pending.delete(id);
        return 'locked';
      }
      return 'wrong';
    },
  };
}

export type BreakGlass = ReturnType<typeof createBreakGlass>;
