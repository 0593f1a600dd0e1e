import { describe, expect, it } from 'vitest';
import { parseConfig, parseConfigJson } from '../../lambdas/core/config.js';
import { ConfigError } from '../../lambdas/core/errors.js';
import { testConfig } from '../support/fixtures.js';

function minimalInput() {
  return {
    domains: ['example.com'],
    routes: [{ name: 'r', domains: ['example.com'], hosts: [{ host: 'h' }] }],
  };
}

function problemsOf(input: unknown): string[] {
  try {
    parseConfig(input);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('config was accepted');
}

describe('parseConfig', () => {
  it('fills the documented defaults', () => {
    const c = testConfig();
    expect(c.queue).toMatchObject({ minBackoffSeconds: 300, maxBackoffSeconds: 4000, lifetimeHours: 120 });
    expect(c.retentionDays).toBe(365);
    expect(c.policy).toEqual({ virus: 'quarantine', spam: 'deliver', dmarcReject: 'quarantine' });
    expect(c.routes[1]?.tls).toBe('starttls-required');
    expect(c.routes[0]?.tls).toBe('opportunistic');
    expect(c.aws.delivery).toBe('connector');
  });

  it('lower-cases domains and addresses', () => {
    const c = parseConfig({
      domains: ['Example.COM'],
      routes: [
        { name: 'r', domains: ['EXAMPLE.com'], addresses: ['Ceo@Example.com'], hosts: [{ host: 'h' }] },
      ],
    });
    expect(c.domains).toEqual(['example.com']);
    expect(c.routes[0]?.addresses).toEqual(['ceo@example.com']);
  });

  it('lists every problem with its path, not just the first', () => {
    const problems = problemsOf({
      domains: ['not a domain'],
      routes: [{ name: 'Bad Name', domains: [], hosts: [] }],
      retentionDays: 0,
      bogus: true,
    });
    const text = problems.join('\n');
    expect(text).toMatch(/^domains\.0: must be a DNS domain name/m);
    expect(text).toMatch(/^routes\.0\.name: must be lower-case/m);
    expect(text).toMatch(/^routes\.0\.hosts: a route needs at least one host/m);
    expect(text).toMatch(/^retentionDays: /m);
    expect(text).toMatch(/bogus/);
    expect(problems.length).toBeGreaterThanOrEqual(5);
  });

  it('reports a domain nobody serves in the same round as a malformed field', () => {
    // Regression: the cross-field checks ran only once every field was valid, so a user fixed one
    // round of errors and was then shown a second.
    const problems = problemsOf({
      domains: ['example.com', 'other.org'],
      routes: [
        { name: 'r', domains: ['example.com', 'third.net'], hosts: [{ host: 'h', port: 'twenty-five' }] },
      ],
    });
    expect(problems).toContain('routes.0.hosts.0.port: Invalid input: expected number, received string');
    expect(problems).toContain('routes.0.domains.1: third.net is not in the accepted domains');
    expect(problems).toContain('domains: no route serves other.org');
  });

  it('refuses port 0 for a local listener, which the CLI could not find', () => {
    expect(problemsOf({ ...minimalInput(), local: { smtpPort: 0 } })).toEqual([
      'local.smtpPort: must be a port from 1 to 65535',
    ]);
  });

  it('refuses a route for a domain that is not accepted', () => {
    const problems = problemsOf({
      domains: ['example.com'],
      routes: [{ name: 'r', domains: ['example.com', 'other.org'], hosts: [{ host: 'h' }] }],
    });
    expect(problems).toContain('routes.0.domains.1: other.org is not in the accepted domains');
  });

  it('refuses a From address for staff notices off the accepted domains, naming the setting', () => {
    const problems = problemsOf({
      domains: ['example.com'],
      routes: [{ name: 'r', domains: ['example.com'], hosts: [{ host: 'h' }] }],
      aws: { staffEmailFrom: 'it@example.net' },
    });
    expect(problems).toEqual([
      'aws.staffEmailFrom: it@example.net is not in an accepted domain: SES sends staff notices only from the identity of one',
    ]);
    const accepted = parseConfig({
      domains: ['example.com'],
      routes: [{ name: 'r', domains: ['example.com'], hosts: [{ host: 'h' }] }],
      aws: { staffEmailFrom: 'It@Example.com' },
    });
    expect(accepted.aws.staffEmailFrom).toBe('it@example.com');
  });

  it('refuses an accepted domain that no route serves', () => {
    const problems = problemsOf({
      domains: ['example.com', 'example.net'],
      routes: [{ name: 'r', domains: ['example.com'], hosts: [{ host: 'h' }] }],
    });
    expect(problems).toContain('domains: no route serves example.net');
  });

  it('refuses a queue lifetime shorter than the longest continuity event', () => {
    const problems = problemsOf({
      domains: ['example.com'],
      routes: [{ name: 'r', domains: ['example.com'], hosts: [{ host: 'h' }] }],
      queue: { lifetimeHours: 24 },
      continuity: { maxEventHours: 96 },
    });
    expect(problems.join('\n')).toMatch(
      /^queue\.lifetimeHours: must be at least continuity\.maxEventHours \(96\)/m,
    );
  });

  it('refuses a wrong type instead of falling back to a default', () => {
    const problems = problemsOf({
      domains: ['example.com'],
      routes: [{ name: 'r', domains: ['example.com'], hosts: [{ host: 'h', port: '25' }] }],
    });
    expect(problems.join('\n')).toMatch(/^routes\.0\.hosts\.0\.port: /m);
  });

  it('needs a password source when a route uses SMTP AUTH', () => {
    const problems = problemsOf({
      domains: ['example.com'],
      routes: [{ name: 'r', domains: ['example.com'], hosts: [{ host: 'h' }], auth: { user: 'relay' } }],
    });
    expect(problems).toContain('routes.0.auth: auth needs passwordEnv (local) or secretId (AWS)');
  });

  it('names the file and the JSON error for text that is not JSON', () => {
    expect(() => parseConfigJson('{ domains: ', 'lifeboat.config.json')).toThrow(
      /lifeboat\.config\.json is invalid:\n {2}- \(root\): not valid JSON/,
    );
  });
});
