import type { LifeboatConfig } from './config.js';

type QueueSettings = LifeboatConfig['queue'];

/**
 * Seconds to wait after a failed attempt, Postfix style: minimal_backoff_time doubling per attempt
 * up to maximal_backoff_time (300 s → 600 → 1200 → 2400 → 4000 with the defaults).
 */
export function backoffSeconds(
  attempts: number,
  queue: Pick<QueueSettings, 'minBackoffSeconds' | 'maxBackoffSeconds'>,
): number {
  const exponent = Math.max(0, attempts - 1);
  // 2^31 seconds is beyond any sane maximum; cap the exponent so the arithmetic stays finite.
  const delay = queue.minBackoffSeconds * 2 ** Math.min(exponent, 31);
  return Math.min(delay, queue.maxBackoffSeconds);
}

/** When the next attempt is due after `attempts` failures, as an ISO string. */
export function nextAttemptAt(now: Date, attempts: number, queue: QueueSettings): string {
  return new Date(now.getTime() + backoffSeconds(attempts, queue) * 1000).toISOString();
}

/** Whether a message received at `receivedAt` has outlived the queue lifetime (RFC 5321 §4.5.4.1: days, not hours). */
export function isExpired(
  receivedAt: string,
  now: Date,
  queue: Pick<QueueSettings, 'lifetimeHours'>,
): boolean {
  return now.getTime() - Date.parse(receivedAt) >= queue.lifetimeHours * 3600 * 1000;
}
