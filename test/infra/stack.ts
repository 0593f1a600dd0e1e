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

/**
 * A config accepted on AWS: two domains, a connector route with SMTP AUTH from Secrets Manager, one admin
 * paged by SMS and email, and console and webmail links on https.
 */
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
    continuity: {
      paging: {
        adminPhones: ['+447700900123'],
        adminEmails: ['oncall@example.net'],
        consoleUrl: 'https://lifeboat.example.com/console',
      },
      staff: { webmailUrl: 'https://lifeboat.example.com/mail' },
    },
    aws: { alarmEmails: ['ops@example.com'] },
  };
}

export interface Synthesized {
  config: LifeboatConfig;
  stack: LifeboatStack;
  template: Template;
}

/** `base` with `overrides` merged in: objects key by key, all the way down; arrays and values replaced. */
function mergeDeep(base: unknown, overrides: unknown): unknown {
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(base) || !isObject(overrides)) return overrides === undefined ? base : overrides;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overrides)) merged[key] = mergeDeep(base[key], value);
  return merged;
}

/**
 * Synthesizes the stack for a config without bundling (fast); overrides merge into the base config
 * section by section (`{ continuity: { staff: { phones: [] } } }` changes only the staff phones).
 */
export function synth(
  overrides: Partial<ConfigInput> = {},
  options: { bundle?: boolean; outdir?: string } = {},
): Synthesized {
  // A synth takes a few hundred milliseconds; tests in one file that ask for the same config share it.
  const key = options.bundle || options.outdir ? undefined : JSON.stringify(overrides);
  const cached = key === undefined ? undefined : synthesized.get(key);
  if (cached) return cached;
  const config = parseConfig(mergeDeep(baseConfig(), overrides), 'test config');
  const context = options.bundle ? CDK_CONTEXT : { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] };
  // cdk-nag runs in nag.test.ts (both delivery modes) and in `npm run synth`, not on every test's synth.
  const { stack } = buildApp({ config, appProps: { context, outdir: options.outdir }, nagChecks: false });
  const result = { config, stack, template: Template.fromStack(stack) };
  if (key !== undefined) synthesized.set(key, result);
  return result;
}

/** Synths of this test file by their overrides; read-only to the tests that share them. */
const synthesized = new Map<string, Synthesized>();

/** The one resource of a type whose logical id starts with `prefix` (construct path without slashes). */
export function logicalId(template: Template, type: string, prefix: string): string {
  const ids = Object.keys(template.findResources(type)).filter((id) => id.startsWith(prefix));
  if (ids.length !== 1)
    throw new Error(`expected one ${type} starting with ${prefix}, found ${ids.join(', ') || 'none'}`);
  return ids[0]!;
}

/** One statement of an IAM policy document, as the template holds it. */
export type Statement = {
  Sid?: string;
  Action: string | string[];
  Resource: unknown;
  Effect: string;
  Condition?: Record<string, unknown>;
};

/** A value or a list of them, as a list (a statement's Action and Resource may be either). */
export const list = <T>(x: T | T[]): T[] => (Array.isArray(x) ? x : [x]);

/** Every statement of the identity policies attached to the role whose logical id starts with `rolePrefix`. */
export function roleStatements(s: Synthesized, rolePrefix: string): Statement[] {
  const role = logicalId(s.template, 'AWS::IAM::Role', rolePrefix);
  return Object.values(s.template.findResources('AWS::IAM::Policy'))
    .filter((p) => (p.Properties.Roles as Array<{ Ref: string }>).some((r) => r.Ref === role))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
}

/** The ARN the stack formats for an SES resource (`identity/<domain>`, a receipt rule) in its own account and region. */
export const sesArn = (resource: string) => ({
  'Fn::Join': [
    '',
    [
      'arn:',
      { Ref: 'AWS::Partition' },
      ':ses:',
      { Ref: 'AWS::Region' },
      ':',
      { Ref: 'AWS::AccountId' },
      `:${resource}`,
    ],
  ],
});
