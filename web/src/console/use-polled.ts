/**
 * One answer of the admin API for a view, read again while it is still changing: a job that runs
 * (a replay, a drill, a notice being sent) is polled until it has finished, then left alone.
 */
import { useCallback, useEffect, useState } from 'preact/hooks';
import { explain } from './api.js';

export interface Polled<T> {
  data: T | null;
  failure: string | null;
  /** Reads it again now (after an action). */
  reload: () => void;
  /** Puts an answer the API gave to an action in place, without a read. */
  set: (data: T) => void;
}

/**
 * Reads `load()` when a dependency changes, and, given `everyMs`, again that often while
 * `again(data)` says it is still moving, and after a failure, so a lost connection heals itself.
 */
export function usePolled<T>(
  load: () => Promise<T>,
  deps: unknown[],
  options: { everyMs?: number; again?: (data: T) => boolean } = {},
): Polled<T> {
  const [data, setData] = useState<T | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((n) => n + 1), []);

  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const next = () => {
      if (options.everyMs !== undefined) timer = setTimeout(reload, options.everyMs);
    };
    load().then(
      (d) => {
        if (!live) return;
        setData(d);
        setFailure(null);
        if (options.again?.(d)) next();
      },
      (err) => {
        if (!live) return;
        setFailure(explain(err));
        next();
      },
    );
    return () => {
      live = false;
      if (timer) clearTimeout(timer);
    };
  }, [...deps, tick]);

  return { data, failure, reload, set: setData };
}
