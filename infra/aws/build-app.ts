import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { LifeboatConfig } from '../../lambdas/core/config.js';
import { LifeboatStack } from './lifeboat-stack.js';

export interface BuildAppOptions {
  config: LifeboatConfig;
  /** Where the config came from, named in errors. @default 'config' */
  configSource?: string;
  /** The app to add the stack to. @default a new App built from appProps */
  app?: App;
  /** Passed to a new CDK App (tests set outdir and context). @default {} */
  appProps?: AppProps;
  /**
   * Run the cdk-nag AwsSolutions checks on synth. Only tests that assert on the template, and run the
   * checks themselves where they matter, turn this off to keep synths fast.
   * @default true
   */
  nagChecks?: boolean;
}

/**
 * The CDK app: one Lifeboat stack named by `aws.stackName`, in the account and region of the CLI's
 * environment, with the cdk-nag AwsSolutions checks applied (an unsuppressed finding fails synth).
 */
export function buildApp(options: BuildAppOptions): { app: App; stack: LifeboatStack } {
  const app = options.app ?? new App(options.appProps);
  const stack = new LifeboatStack(app, options.config.aws.stackName, {
    config: options.config,
    configSource: options.configSource,
    description: 'Lifeboat email continuity gateway: the mail path, probes and paging, the admin API',
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
  if (options.nagChecks ?? true)
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return { app, stack };
}
