import type { DeliveryRecord } from '../../lambdas/core/model.js';
import type { MemoryStore } from './memory-store.js';

/**
 * The same store, every call written to `journal` as it is made: the method name, and for
 * `replaceDelivery` the recipient and the state written. Pass it as both `store` and
 * `continuity`, so the attempt samples are seen too.
 */
export function journaled(store: MemoryStore, journal: string[]): MemoryStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const name = String(prop);
        const next = args[0] as DeliveryRecord | undefined;
        journal.push(name === 'replaceDelivery' && next ? `${name} ${next.recipient} ${next.state}` : name);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** Calls per method name in a journal. */
export function tally(journal: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const entry of journal) {
    const name = entry.split(' ')[0] as string;
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}
