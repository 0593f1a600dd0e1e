/**
 * Group commit for one folder's fsync, as a database shares one log flush among the transactions
 * that wait for it: every caller is answered by an fsync that *started after it asked*, so the
 * entries it created or renamed before asking are durable when its promise resolves, and callers
 * that ask while an fsync is under way share the next one instead of each queueing its own. Under
 * load a folder is fsynced once per batch of messages rather than once per message; alone, a
 * caller waits for exactly one fsync, as before.
 *
 * A failed fsync fails every caller it was to answer (each answers its sender 451); the next
 * caller starts a fresh one.
 */
export function createGroupSync(sync: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  let next: Promise<void> | undefined;
  const request = (): Promise<void> => {
    // An fsync under way may have started before this caller's rename: it waits for the next one.
    if (next) return next;
    if (!running) {
      running = sync().finally(() => {
        running = undefined;
      });
      return running;
    }
    next = running
      .catch(() => {})
      .then(() => {
        next = undefined;
        return request();
      });
    return next;
  };
  return request;
}
