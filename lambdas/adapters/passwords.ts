import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { RouteConfig } from '../core/config.js';

/**
 * SMTP AUTH passwords: an environment variable when the route names one and it is set (local),
 * else the Secrets Manager secret (AWS), fetched once per cold start. The Secrets Manager client
 * is loaded with the first secret, so the single-node runtime and its CLI, which read passwords
 * from the environment, do not load the AWS SDK to start.
 */
export function passwordSource(region: string) {
  const cache = new Map<string, Promise<string | undefined>>();
  let sm: SecretsManagerClient | undefined;
  const fetchSecret = async (secretId: string) => {
    const sdk = await import('@aws-sdk/client-secrets-manager');
    sm ??= new sdk.SecretsManagerClient({ region });
    return (await sm.send(new sdk.GetSecretValueCommand({ SecretId: secretId }))).SecretString;
  };
  return (route: RouteConfig): Promise<string | undefined> => {
    const auth = route.auth;
    if (!auth) return Promise.resolve(undefined);
    if (auth.passwordEnv && process.env[auth.passwordEnv] !== undefined) {
      return Promise.resolve(process.env[auth.passwordEnv]);
    }
    const secretId = auth.secretId;
    if (!secretId) return Promise.resolve(undefined);
    let pending = cache.get(secretId);
    if (!pending) {
      pending = fetchSecret(secretId);
      pending.catch(() => cache.delete(secretId));
      cache.set(secretId, pending);
    }
    return pending;
  };
}
