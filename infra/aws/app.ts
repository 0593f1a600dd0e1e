import { App } from 'aws-cdk-lib';
import { ConfigError } from '../../lambdas/core/errors.js';
import { buildApp } from './build-app.js';
import { loadDeploymentConfig } from './deployment-config.js';

// Entry point of `cdk synth` / `cdk deploy` (cdk.json: `npx tsx infra/aws/app.ts`).
// The config file: `-c config=path`, else LIFEBOAT_CONFIG_FILE, else ./lifeboat.config.json, else the example.
const app = new App();
try {
  const contextPath: unknown = app.node.tryGetContext('config');
  const { config, source, isExample } = loadDeploymentConfig({
    contextPath: typeof contextPath === 'string' ? contextPath : undefined,
    envPath: process.env.LIFEBOAT_CONFIG_FILE,
  });
  if (isExample) {
    process.stderr.write(
      '\nWARNING: no lifeboat.config.json here and none named (-c config=… or LIFEBOAT_CONFIG_FILE):\n' +
        `         synthesizing the EXAMPLE config ${source}. Do not deploy it.\n\n`,
    );
  }
  buildApp({ app, config, configSource: source });
  app.synth();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`\nLifeboat: ${err.message}\n\n`);
    process.exit(1);
  }
  throw err;
}
