/**
 * What the admin API answers when the sign-in is not strong enough for it, so the console can say
 * what to do. This module has no imports, so it bundles for the browser.
 */

/**
 * The admin API refuses an admin whose sign-in had no second factor while `adminMfa.required` is
 * on (the default): HTTP 403 with this code, and a message naming how to set one up.
 */
export const MFA_REQUIRED = 'MFA_REQUIRED';

/** The step the console shows with {@link MFA_REQUIRED}, for the local runtime's own sign-in. */
export function mfaSetupHint(user: string): string {
  return `set up an authenticator app: lifeboat users totp ${user}, then sign in again with its code`;
}
