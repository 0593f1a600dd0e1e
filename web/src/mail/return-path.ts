/**
 * Where sign-in sends a user back to, shared by the webmail and the console (kept apart from
 * auth.ts, which needs a browser, so the unit tests can pin it).
 */

/** The pages the provider may send a user back to (registered with it as redirect URIs). */
export type AppPath = '/mail/' | '/console/';

/**
 * Where to go after sign-in, as kept in the OIDC state: the app's hash (`#/m/<id>`) or a path
 * inside the app (`/console/events/<id>`); anything else is the app's start page.
 */
export function returnPath(appPath: AppPath, returnTo: unknown): string {
  if (typeof returnTo !== 'string') return appPath;
  if (returnTo.startsWith('#')) return `${appPath}${returnTo}`;
  // A path of this app only, never another origin (`//host`) or a way out of it.
  if (returnTo.startsWith(appPath) && !/[\\]|\/\/|\/\.\.?(\/|$)/.test(returnTo)) return returnTo;
  return appPath;
}
