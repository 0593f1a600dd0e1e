import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  EXAMPLE_CONFIG_PATH,
  loadDeploymentConfig,
  locateConfigFile,
} from '../../infra/aws/deployment-config.js';
import { ConfigError } from '../../lambdas/core/errors.js';
import { baseConfig } from './stack.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lifeboat-config-'));
});

/** Writes a config file and loads it the way `cdk synth` does; returns the error's message. */
function problemsOf(config: unknown): string {
  const path = join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, JSON.stringify(config));
  try {
    loadDeploymentConfig({ envPath: path, cwd: dir });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message;
  }
  throw new Error('the config was accepted');
}

describe('loadDeploymentConfig', () => {
  it('accepts the base test config and the example config', () => {
    const path = join(dir, 'good.json');
    writeFileSync(path, JSON.stringify(baseConfig()));
    expect(loadDeploymentConfig({ contextPath: path }).config.domains).toEqual([
      'example.com',
      'example.org',
    ]);
    expect(loadDeploymentConfig({ contextPath: EXAMPLE_CONFIG_PATH }).config.routes[0]?.hosts[0]?.port).toBe(
      587,
    );
  });

  it('names the route domain that is not an accepted domain', () => {
    const config = baseConfig();
    config.routes[0]!.domains = ['example.com', 'example.net'];
    expect(problemsOf(config)).toMatch(/routes\.0\.domains\.1: example\.net is not in the accepted domains/);
  });

  it('names a route without hosts', () => {
    const config = baseConfig();
    config.routes[0]!.hosts = [];
    expect(problemsOf(config)).toMatch(/routes\.0\.hosts: a route needs at least one host/);
  });

  it('names an invalid retentionDays, whatever is wrong with it', () => {
    for (const retentionDays of ['365', 0, 1.5, null]) {
      expect(problemsOf({ ...baseConfig(), retentionDays }), String(retentionDays)).toMatch(
        /^ {2}- retentionDays: /m,
      );
    }
  });

  it('lists every problem at once', () => {
    const config = { ...baseConfig(), retentionDays: -1 };
    config.routes[0]!.domains = ['example.net'];
    config.routes[0]!.hosts = [];
    const message = problemsOf(config);
    expect(message).toMatch(/retentionDays/);
    expect(message).toMatch(/routes\.0\.hosts/);
    expect(message).toMatch(/routes\.0\.domains\.0/);
  });

  it('refuses SMTP AUTH without a Secrets Manager secret on AWS', () => {
    const config = baseConfig();
    config.routes[0]!.auth = { user: 'relay', passwordEnv: 'RELAY_PASSWORD' };
    expect(problemsOf(config)).toMatch(/routes\.0\.auth\.secretId: required on AWS/);
  });

  it("refuses port 25 unless aws.delivery is 'port25'", () => {
    const config = baseConfig();
    config.routes[0]!.hosts = [{ host: 'mx.example.com' }];
    expect(problemsOf(config)).toMatch(/routes\.0\.hosts\.0\.port: AWS blocks outbound port 25 from Lambda/);
    expect(() => {
      const path = join(dir, 'port25.json');
      writeFileSync(path, JSON.stringify({ ...config, aws: { delivery: 'port25' } }));
      loadDeploymentConfig({ envPath: path });
    }).not.toThrow();
  });

  it('names unknown and wrong aws settings', () => {
    const message = problemsOf({
      ...baseConfig(),
      aws: {
        delivery: 'vpc',
        logRetentionDays: 42,
        elasticIpAllocationId: 'eipalloc-0123456789abcdef0',
        bogus: 1,
      },
    });
    expect(message).toMatch(/aws\.delivery: /);
    expect(message).toMatch(/aws\.logRetentionDays: must be one of/);
    expect(message).toMatch(/aws: Unrecognized key: "bogus"/);
  });

  it('names an aws.deliverConcurrency below 1 or above what an account can reserve', () => {
    for (const deliverConcurrency of [0, 901, 2.5]) {
      expect(
        problemsOf({ ...baseConfig(), aws: { deliverConcurrency } }),
        String(deliverConcurrency),
      ).toMatch(/aws\.deliverConcurrency: /);
    }
  });

  it('names an aws.adminAuth issuer that API Gateway could not use, whatever is wrong with it', () => {
    for (const issuer of [
      'http://login.example.com/oauth2/default',
      'login.microsoftonline.com/tenant/v2.0',
      'https://example.okta.com/oauth2/default?x=1',
      'https://example.okta.com/oauth2/default#keys',
    ]) {
      expect(
        problemsOf({ ...baseConfig(), aws: { adminAuth: { issuer, audience: ['api://default'] } } }),
        issuer,
      ).toMatch(/^ {2}- aws\.adminAuth\.issuer: must be the https URL of an OIDC issuer/m);
    }
  });

  it('names an aws.adminAuth without an audience', () => {
    const message = problemsOf({
      ...baseConfig(),
      aws: { adminAuth: { issuer: 'https://example.okta.com/oauth2/default', audience: [] } },
    });
    expect(message).toMatch(/aws\.adminAuth\.audience: list at least one audience/);
  });

  it('reports a file that is not JSON', () => {
    const path = join(dir, 'broken.json');
    writeFileSync(path, '{ "domains": [');
    expect(() => loadDeploymentConfig({ envPath: path })).toThrow(/not valid JSON/);
  });
});

describe('locateConfigFile', () => {
  it('prefers the config context over LIFEBOAT_CONFIG_FILE', () => {
    const a = join(dir, 'a.json');
    const b = join(dir, 'b.json');
    writeFileSync(a, '{}');
    writeFileSync(b, '{}');
    expect(locateConfigFile({ contextPath: a, envPath: b })).toEqual({ path: a, isExample: false });
  });

  it('uses ./lifeboat.config.json when nothing is named', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'lifeboat-cwd-'));
    writeFileSync(join(cwd, 'lifeboat.config.json'), '{}');
    expect(locateConfigFile({ cwd })).toEqual({ path: join(cwd, 'lifeboat.config.json'), isExample: false });
  });

  it('falls back to the example only when nothing is named or present', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'lifeboat-empty-'));
    expect(locateConfigFile({ cwd })).toEqual({ path: EXAMPLE_CONFIG_PATH, isExample: true });
  });

  it('fails on a named file that does not exist instead of falling back', () => {
    expect(() => locateConfigFile({ envPath: join(dir, 'missing.json') })).toThrow(
      /file not found \(named by LIFEBOAT_CONFIG_FILE\)/,
    );
  });
});
