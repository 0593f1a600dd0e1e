import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../../infra/aws/build-app.js';
import { REPO_ROOT } from '../../infra/aws/deployment-config.js';
import type { LifeboatStack } from '../../infra/aws/lifeboat-stack.js';
import { type ConfigInput, type LifeboatConfig, parseConfig } from '../../lambdas/core/config.js';

// CDK's built-in CloudFormation schema validation costs seconds per synth. `npm run synth` and the
// app.ts tests (a child process) keep it; the many in-process assertion synths skip it.
process.env.CDK_VALIDATION = 'false';

/** The feature flags `cdk synth` uses, so tests synthesize what the CLI would. */
export const CDK_CONTEXT = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')).context as Record<
  string,
  unknown
>;

/** A config accepted on AWS: two domains, a connector route with SMTP AUTH from Secrets Manager. */
export function baseConfig(): ConfigInput {
  return {
    organisation: 'Test Ltd',
    domains: ['example.com', 'example.org'],
    routes: [
      {
        name: 'primary',
        domains: ['example.com', 'example.org'],
        hosts: [{ host: 'mail.example.com', port: 587 }],
        tls: 'starttls-required',
        auth: { user: 'lifeboat@example.com', secretId: 'lifeboat/primary-smtp' },
      },
    ],
    retentionDays: 400,
    aws: { alarmEmails: ['ops@example.com'] },
  };
}

export interface Synthesized {
  config: LifeboatConfig;
  stack: LifeboatStack;
  template: Template;
}

/**
 * Synthesizes the stack for a config without bundling (fast); `aws` overrides merge into the base
 * config's `aws` section.
 */
export function synth(
  overrides: Partial<ConfigInput> = {},
  options: { bundle?: boolean; outdir?: string } = {},
): Synthesized {
  const base = baseConfig();
  const input = { ...base, ...overrides, aws: { ...base.aws, ...overrides.aws } };
  const config = parseConfig(input, 'test config');
  const context = options.bundle ? CDK_CONTEXT : { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] };
  const { stack } = buildApp({ config, appProps: { context, outdir: options.outdir } });
  return { config, stack, template: Template.fromStack(stack) };
}

/** The one resource of a type whose logical id starts with `prefix` (construct path without slashes). */
export function logicalId(template: Template, type: string, prefix: string): string {
  const ids = Object.keys(template.findResources(type)).filter((id) => id.startsWith(prefix));
  if (ids.length !== 1)
    throw new Error(`expected one ${type} starting with ${prefix}, found ${ids.join(', ') || 'none'}`);
  return ids[0]!;
}
