import { createLocalJWKSet, type JWK, jwtVerify } from 'jose';
import type { Clock } from '../../lambdas/ports.js';
import { ID_TOKEN_ALG } from './oidc-keys.js';

/**
 * Seconds of clock difference tolerated on `exp` and `nbf`: the provider and the API share one
 * clock here, so only the time between issue and use matters. A minute, like most JWT libraries.
 */
export const CLOCK_SKEW_SECONDS = 60;

export interface JwtAuthorizerOptions {
  issuer: string;
  /** The audience every accepted token must name: the web app's client id. */
  audience: string;
  jwks: { keys: JWK[] };
  clock: Clock;
}

/**
 * The local stand-in for API Gateway's JWT authorizer: a bearer token is accepted only if its
 * signature is from the provider's keys (RS256), `iss` is the provider, `aud` is the client id,
 * and it is within `exp`/`nbf`. Anything else is not an error here: it gets no claims, and the
 * handler answers 401, as behind API Gateway.
 * @returns the verified claims, or undefined
 */
export function createJwtAuthorizer(options: JwtAuthorizerOptions) {
  const keys = createLocalJWKSet(options.jwks);
  return async (authorization: string | undefined): Promise<Record<string, unknown> | undefined> => {
    const match = /^Bearer\s+([A-Za-z0-9._~+/-]+=*)$/i.exec(authorization ?? '');
    if (!match) return undefined;
    try {
      const { payload } = await jwtVerify(match[1] as string, keys, {
        issuer: options.issuer,
        audience: options.audience,
        algorithms: [ID_TOKEN_ALG],
        clockTolerance: CLOCK_SKEW_SECONDS,
        currentDate: options.clock.now(),
        requiredClaims: ['exp', 'sub'],
      });
      return payload as Record<string, unknown>;
    } catch {
      return undefined;
    }
  };
}
