import { LifeboatError } from '../../core/errors.js';

export class AuthError extends LifeboatError {
  constructor(
    readonly status: 401 | 403,
    message: string,
  ) {
    super(status === 401 ? 'UNAUTHENTICATED' : 'FORBIDDEN', message);
  }
}

export interface Caller {
  id: string;
  groups: string[];
}

/**
 * The caller, from the claims the API Gateway JWT authorizer has already verified. Groups come
 * as `cognito:groups` (Cognito) or `groups` (most OIDC providers), as a list or a string.
 */
export function callerFrom(claims: Record<string, unknown> | undefined): Caller {
  if (!claims) throw new AuthError(401, 'sign in first: no verified identity on the request');
  // Cognito ID tokens carry email and cognito:username, its access tokens username; Entra ID
  // preferred_username or upn. The opaque sub is the last resort.
  const id = [
    claims.email,
    claims['cognito:username'],
    claims.username,
    claims.preferred_username,
    claims.upn,
    claims.sub,
  ].find((v): v is string => typeof v === 'string' && v !== '');
  if (!id) throw new AuthError(401, 'the token names no user');
  const raw = claims['cognito:groups'] ?? claims.groups ?? [];
  const groups = Array.isArray(raw)
    ? raw.map(String)
    : String(raw)
        .replace(/^\[|\]$/g, '')
        .split(/[\s,]+/)
        .filter(Boolean);
  return { id, groups };
}
