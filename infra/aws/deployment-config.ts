import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type LifeboatConfig, parseConfigJson } from '../../lambdas/core/config.js';
import { ConfigError } from '../../lambdas/core/errors.js';

/** The repository root (two levels above this file). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Used when no config is named and `./lifeboat.config.json` does not exist. */
export const EXAMPLE_CONFIG_PATH = resolve(REPO_ROOT, 'config/example.json');

/** Looked up in the working directory when neither the `config` context nor the env variable names a file. */
export const DEFAULT_CONFIG_FILE = 'lifeboat.config.json';

/** AWS blocks outbound port 25 from Lambda unless it leaves through an unblocked Elastic IP. */
const SMTP_PORT = 25;

export interface DeploymentConfig {
  config: LifeboatConfig;
  /** The file the config was read from. */
  source: string;
  /** True when no config was found and the example was used instead. */
  isExample: boolean;
}

export interface LocateOptions {
  /** The `config` CDK context value (`cdk synth -c config=path`). */
  contextPath?: string | undefined;
  /** The `LIFEBOAT_CONFIG_FILE` environment variable. */
  envPath?: string | undefined;
  /** Directory relative paths are resolved against. @default process.cwd() */
  cwd?: string | undefined;
}

/**
 * Picks the config file: the `config` context, then `LIFEBOAT_CONFIG_FILE`, then `./lifeboat.config.json`,
 * and only when none of those is set or present, the bundled example.
 * @throws ConfigError when a file named explicitly does not exist
 */
export function locateConfigFile(options: LocateOptions = {}): { path: string; isExample: boolean } {
  const cwd = options.cwd ?? process.cwd();
  const named = options.contextPath ?? options.envPath;
  if (named !== undefined && named !== '') {
    const path = resolve(cwd, named);
    if (!existsSync(path)) {
      const how = options.contextPath !== undefined ? 'the config context' : 'LIFEBOAT_CONFIG_FILE';
      throw new ConfigError(path, [`(root): file not found (named by ${how})`]);
    }
    return { path, isExample: false };
  }
  const fallback = resolve(cwd, DEFAULT_CONFIG_FILE);
  if (existsSync(fallback)) return { path: fallback, isExample: false };
  return { path: EXAMPLE_CONFIG_PATH, isExample: true };
}

/**
 * Problems that only matter when the config is deployed to AWS, as `path: message` lines.
 * The schema accepts these for the local runtime, where they are fine.
 */
export function awsDeploymentProblems(config: LifeboatConfig): string[] {
  const problems: string[] = [];
  config.routes.forEach((route, i) => {
    if (route.auth !== undefined && route.auth.secretId === undefined) {
      problems.push(
        `routes.${i}.auth.secretId: required on AWS (passwordEnv is only read by the local runtime); name the Secrets Manager secret holding the password`,
      );
    }
    if (config.aws.delivery === 'connector') {
      route.hosts.forEach((host, j) => {
        if (host.port === SMTP_PORT) {
          problems.push(
            `routes.${i}.hosts.${j}.port: AWS blocks outbound port 25 from Lambda; use the primary's connector on 587 or 465, or set aws.delivery to 'port25'`,
          );
        }
      });
    }
  });
  return problems;
}

/**
 * Reads and validates the deployment config, listing every problem with its path: first every schema
 * problem, then (once the schema passes) every AWS-only problem.
 * @throws ConfigError listing the problems
 */
export function loadDeploymentConfig(options: LocateOptions = {}): DeploymentConfig {
  const { path, isExample } = locateConfigFile(options);
  const config = parseConfigJson(readFileSync(path, 'utf8'), path);
  const problems = awsDeploymentProblems(config);
  if (problems.length > 0) throw new ConfigError(path, problems);
  return { config, source: path, isExample };
}
