import { describe, expect, it } from 'vitest';
import { groupByRoute, isAcceptedRecipient, resolveRoute } from '../../lambdas/core/routing.js';
import { testConfig } from '../support/fixtures.js';

describe('resolveRoute', () => {
  const config = testConfig();

  it('sends a listed address to its own route ahead of its domain (split routing)', () => {
    expect(resolveRoute(config, 'ceo@example.com')?.name).toBe('onprem');
  });

  it('sends other addresses of the domain to the domain route', () => {
    expect(resolveRoute(config, 'alice@example.com')?.name).toBe('cloud');
  });

  it('matches addresses case-insensitively', () => {
    expect(resolveRoute(config, 'CEO@Example.COM')?.name).toBe('onprem');
  });

  it('finds no route for a domain that is not served', () => {
    expect(resolveRoute(config, 'someone@example.org')).toBeUndefined();
  });
});

describe('isAcceptedRecipient', () => {
  it('accepts only the configured domains (no open relay)', () => {
    const config = testConfig();
    expect(isAcceptedRecipient(config, 'a@example.net')).toBe(true);
    expect(isAcceptedRecipient(config, 'a@sub.example.net')).toBe(false);
    expect(isAcceptedRecipient(config, 'a@evil.test')).toBe(false);
  });
});

describe('groupByRoute', () => {
  it('keeps arrival order within each route', () => {
    const groups = groupByRoute([
      { route: 'a', id: 1 },
      { route: 'b', id: 2 },
      { route: 'a', id: 3 },
    ]);
    expect([...groups.keys()]).toEqual(['a', 'b']);
    expect(groups.get('a')?.map((x) => x.id)).toEqual([1, 3]);
  });
});
