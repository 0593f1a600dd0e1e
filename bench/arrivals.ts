import { performance } from 'node:perf_hooks';

/**
 * Counts arrivals and notes the moment a target count is reached (no polling, so the end of a
 * run is timed to the message). The benchmark's sinks and primaries share it.
 */
export class ArrivalCounter {
  count = 0;
  private waiters: Array<{ target: number; resolve: (at: number) => void }> = [];

  /** `what` names the counter in a timeout error, e.g. "the sink". */
  constructor(private readonly what: string) {}

  arrived(): void {
    this.count += 1;
    const now = performance.now();
    const due = this.waiters.filter((w) => this.count >= w.target);
    this.waiters = this.waiters.filter((w) => this.count < w.target);
    for (const w of due) w.resolve(now);
  }

  /** Resolves with performance.now() at the moment `target` arrivals are counted, or rejects after `timeoutMs`. */
  reach(target: number, timeoutMs: number): Promise<number> {
    if (this.count >= target) return Promise.resolve(performance.now());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`${this.what} had ${this.count} of ${target} messages after ${timeoutMs / 1000} s`));
      }, timeoutMs);
      const done = (at: number) => {
        clearTimeout(timer);
        resolve(at);
      };
      this.waiters.push({ target, resolve: done });
    });
  }
}
