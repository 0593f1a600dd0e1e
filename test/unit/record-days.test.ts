import { describe, expect, it } from 'vitest';
import { parseConfig, recordDays } from '../../lambdas/core/config.js';
import { ConfigError } from '../../lambdas/core/errors.js';

const minimal = {
  domains: ['example.com'],
  routes: [{ name: 'r', domains: ['example.com'], hosts: [{ host: 'h' }] }],
};

function problemsOf(input: unknown): string {
  try {
    parseConfig(input);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.join('\n');
    throw err;
  }
  throw new Error('config was accepted');
}

describe('recordDays', () => {
  it('keeps records for the 30-day history window unless set', () => {
    expect(recordDays(parseConfig(minimal))).toBe(30);
    expect(recordDays(parseConfig({ ...minimal, historyDays: 90 }))).toBe(90);
  });

  it('never keeps a record longer than the raw mail it describes', () => {
    expect(recordDays(parseConfig({ ...minimal, retentionDays: 14 }))).toBe(14);
  });

  it('refuses a history window shorter than the queue lifetime, naming both', () => {
    expect(problemsOf({ ...minimal, historyDays: 4 })).toMatch(
      /^historyDays: must cover queue\.lifetimeHours \(120\)/m,
    );
    // Capped by retentionDays, the window must still cover the lifetime.
    expect(
      problemsOf({
        ...minimal,
        retentionDays: 5,
        queue: { lifetimeHours: 200 },
        continuity: { maxEventHours: 120 },
      }),
    ).toMatch(/^historyDays: must cover queue\.lifetimeHours \(200\)/m);
  });
});
