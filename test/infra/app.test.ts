import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../infra/aws/deployment-config.js';
import { baseConfig, CDK_CONTEXT, synth } from './stack.js';

const TSX_CLI = join(REPO_ROOT, 'node_modules/tsx/dist/cli.mjs');

/** Runs infra/aws/app.ts as `cdk synth` does: cdk.json context in CDK_CONTEXT_JSON, output to CDK_OUTDIR. */
function runApp(options: { cwd: string; env?: Record<string, string> }) {
  const outdir = mkdtempSync(join(tmpdir(), 'lifeboat-out-'));
  const result = spawnSync(process.execPath, [TSX_CLI, join(REPO_ROOT, 'infra/aws/app.ts')], {
    cwd: options.cwd,
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH ?? '',
      CDK_OUTDIR: outdir,
      CDK_CONTEXT_JSON: JSON.stringify({ ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] }),
      ...options.env,
    },
  });
  return { ...result, outdir };
}

describe('infra/aws/app.ts', () => {
  it('fails synth on a bad config, listing every problem by path, and writes no template', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lifeboat-bad-'));
    const config = {
      ...baseConfig(),
      retentionDays: 'a year',
      aws: { adminAuth: { issuer: 'http://login.example.com/oauth2', audience: ['lifeboat'] } },
    };
    config.routes[0]!.hosts = [];
    config.routes[0]!.tls = 'sometimes' as never;
    writeFileSync(join(dir, 'bad.json'), JSON.stringify(config));

    const run = runApp({ cwd: dir, env: { LIFEBOAT_CONFIG_FILE: 'bad.json' } });

    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`${join(dir, 'bad.json')} is invalid:`);
    expect(run.stderr).toMatch(/- retentionDays: /);
    expect(run.stderr).toMatch(/- routes\.0\.tls: /);
    expect(run.stderr).toMatch(/- routes\.0\.hosts: a route needs at least one host/);
    expect(run.stderr).toMatch(/- aws\.adminAuth\.issuer: must be the https URL of an OIDC issuer/);
    expect(existsSync(join(run.outdir, 'Lifeboat.template.json'))).toBe(false);
  });

  it('synthesizes the example config with a warning when no config is found', () => {
    const empty = mkdtempSync(join(tmpdir(), 'lifeboat-empty-'));
    const run = runApp({ cwd: empty });
    expect(run.stderr).toContain('synthesizing the EXAMPLE config');
    expect(run.status).toBe(0);
    expect(existsSync(join(run.outdir, 'Lifeboat.template.json'))).toBe(true);
  });
});

describe('Lambda bundles', () => {
  it('are built by esbuild as ESM with source maps and load with the environment Lambda gives them', () => {
    const outdir = mkdtempSync(join(tmpdir(), 'lifeboat-bundle-'));
    const { template } = synth({}, { bundle: true, outdir });
    const functions = Object.entries(template.findResources('AWS::Lambda::Function')).filter(([id]) =>
      /^(InboundIngest|DeliveryDeliver|DeliverySweep|ContinuityProbe|AdminApi)Function/.test(id),
    );
    expect(functions).toHaveLength(5);
    // One Node process imports every bundle, as a cold start does, with the variables each function gets.
    const bundles = functions.map(([id, fn]) => {
      const asset = join(outdir, `asset.${String(fn.Properties.Code.S3Key).replace(/\.zip$/, '')}`);
      expect(existsSync(join(asset, 'index.mjs')), id).toBe(true);
      expect(JSON.parse(readFileSync(join(asset, 'index.mjs.map'), 'utf8')).version, id).toBe(3);
      const env = Object.fromEntries(
        Object.entries(fn.Properties.Environment.Variables as Record<string, unknown>).map(([k, v]) => [
          k,
          typeof v === 'string' ? v : `test-${k.toLowerCase()}`,
        ]),
      );
      return { id, file: join(asset, 'index.mjs'), env };
    });
    // The SDK warns on Node 20 that later versions need 22; Lambda runs 22, where it does not.
    const quiet = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
    const script = `const KEEP = ['PATH', 'AWS_REGION', ...Object.keys(${JSON.stringify(quiet)})];
    for (const { id, file, env } of ${JSON.stringify(bundles)}) {
      for (const name of Object.keys(process.env)) if (!KEEP.includes(name)) delete process.env[name];
      Object.assign(process.env, env);
      const m = await import(file);
      if (typeof m.handler !== 'function') { console.error(id + ': no handler'); process.exit(3); }
    }`;
    const load = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', AWS_REGION: 'eu-west-1', ...quiet },
    });
    expect(load.stderr).toBe('');
    expect(load.status).toBe(0);
  });
});
