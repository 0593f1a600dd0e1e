import type { Context } from '../adapters/context.js';

export interface SessionOptions {
  /**
   * End the mailer's idle SMTP sessions when the invocation ends. Lambda freezes an instance
   * between invocations, and a session left open holds one of the primary's connection slots
   * until the next invocation uses or ends it, or the primary times it out. The sweep, a minute
   * apart, ends its own; the deliver function, invoked within seconds at a steady trickle of mail,
   * keeps its session for the next message (LAMBDA_IDLE_CONNECTION_MS). The single-node runtime,
   * one long-lived process, keeps them for its next delivery and ends them when it stops.
   * @default true
   */
  endSessionsAfterRun?: boolean;
}

/** Runs one invocation's work, then ends the mailer's idle sessions (also when the work failed). */
export async function endingSessions<T>(
  ctx: Context,
  options: SessionOptions,
  work: () => Promise<T>,
): Promise<T> {
  try {
    return await work();
  } finally {
    if (options.endSessionsAfterRun !== false) {
      // A session that will not close is the primary's to time out: never the invocation's failure.
      await ctx.mailer
        .close?.()
        .catch((err: Error) => ctx.log.warn('SMTP sessions not closed', { error: err.message }));
    }
  }
}
