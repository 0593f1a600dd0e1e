/**
 * Sign-in for the webmail: OpenID Connect authorization code + PKCE (S256) against the provider
 * `app-config.json` names (Cognito in AWS, the runtime's built-in provider locally), through
 * oidc-client-ts. The API's bearer is the ID token. Tokens stay in this tab's sessionStorage,
 * never in the service worker's cache.
 *
 * No iframe silent renew: the app's pages refuse to be framed (`frame-ancestors 'none'`) and
 * Cognito has no `prompt=none`. An expiring token is renewed with the refresh token when the
 * provider issued one; otherwise the user is sent through sign-in again, which is one redirect
 * while the provider's own session lasts, and lands back where they were.
 */
import { type User, UserManager, WebStorageStateStore } from 'oidc-client-ts';
import { type AppPath, returnPath } from './return-path.js';

export type { AppPath };

/** `/app-config.json`: where to sign in and where the API is. */
export interface AppConfig {
  oidc: { authority: string; clientId: string; scope: string };
  /** Origin (and prefix) of the API; '' when the API is on the app's own origin. */
  apiBase: string;
}

/** Renew this long before the ID token expires, so a request never leaves with a token about to lapse. */
const RENEW_BEFORE_EXPIRY_S = 60;

/** The sessionStorage key marking that the user signed out here, so the app does not sign them straight back in. */
const SIGNED_OUT_KEY = 'lifeboat.signedOut';

/** Reads `/app-config.json` (the service worker keeps a copy, so a reload while offline still opens). */
export async function loadAppConfig(): Promise<AppConfig> {
  // Plain fetch options, as the page's <link rel="preload"> asks for it, so the preloaded answer is
  // the one used; the server sends the file with no-cache, so a changed config is seen at once.
  const res = await fetch('/app-config.json');
  if (!res.ok) throw new Error(`The app's settings could not be read (${res.status}).`);
  const config = (await res.json()) as Partial<AppConfig>;
  if (!config.oidc?.authority || !config.oidc.clientId) {
    throw new Error(
      "The app's settings name no sign-in provider (app-config.json: oidc.authority, oidc.clientId).",
    );
  }
  return { oidc: config.oidc, apiBase: config.apiBase ?? '' };
}

/** Whether this page load is the provider's redirect back (a code or an error, and our state). */
export function isSignInCallback(url = new URL(location.href)): boolean {
  return url.searchParams.has('state') && (url.searchParams.has('code') || url.searchParams.has('error'));
}

export type Auth = ReturnType<typeof createAuth>;

/**
 * Sign-in, the current ID token, renewal and sign-out for the app whose page is `appPath` (the
 * provider sends the user back there).
 */
export function createAuth(config: AppConfig, appPath: AppPath = '/mail/') {
  const redirectUri = `${location.origin}${appPath}`;
  const manager = new UserManager({
    authority: config.oidc.authority,
    client_id: config.oidc.clientId,
    redirect_uri: redirectUri,
    post_logout_redirect_uri: redirectUri,
    response_type: 'code',
    scope: config.oidc.scope || 'openid profile email',
    automaticSilentRenew: false,
    monitorSession: false,
    loadUserInfo: false,
    userStore: new WebStorageStateStore({ store: window.sessionStorage }),
  });

  let renewing: Promise<User | null> | null = null;

  /** Seconds until the ID token (the API's bearer) expires. */
  const secondsLeft = (user: User) =>
    typeof user.profile.exp === 'number' ? user.profile.exp - Date.now() / 1000 : (user.expires_in ?? 0);

  async function renew(user: User): Promise<User | null> {
    if (!user.refresh_token) return null;
    renewing ??= manager.signinSilent().finally(() => {
      renewing = null;
    });
    try {
      return await renewing;
    } catch {
      return null;
    }
  }

  return {
    /**
     * Sends the browser to the provider's sign-in page; `returnTo` (the location hash, e.g.
     * `#/m/<id>`, or a path inside the app) is where the app opens once the user is back.
     */
    async signIn(returnTo = location.hash): Promise<void> {
      sessionStorage.removeItem(SIGNED_OUT_KEY);
      await manager.removeUser();
      await manager.signinRedirect({ state: { returnTo } });
    },

    /**
     * Completes the provider's redirect back: exchanges the code (PKCE), stores the tokens,
     * and puts the address bar back to where the user was, without the code in it.
     * @throws the provider's error (the user cancelled, the code was used already …)
     */
    async completeSignIn(): Promise<User> {
      try {
        const user = await manager.signinRedirectCallback();
        const state = user.state as { returnTo?: unknown } | undefined;
        history.replaceState(null, '', returnPath(appPath, state?.returnTo));
        return user;
      } catch (err) {
        history.replaceState(null, '', appPath);
        throw err;
      }
    },

    /** The signed-in user, or null when nobody is (or the session could not be renewed). */
    async currentUser(): Promise<User | null> {
      const user = await manager.getUser();
      if (!user) return null;
      if (secondsLeft(user) > RENEW_BEFORE_EXPIRY_S) return user;
      return renew(user);
    },

    /** The ID token for the API's Authorization header, renewed first when it is about to expire. */
    async idToken(): Promise<string | null> {
      const user = await manager.getUser();
      if (!user?.id_token) return null;
      if (secondsLeft(user) > RENEW_BEFORE_EXPIRY_S) return user.id_token;
      return (await renew(user))?.id_token ?? user.id_token;
    },

    /** Whether the user signed out in this tab (then the app waits for them to ask to sign in). */
    signedOutHere(): boolean {
      return sessionStorage.getItem(SIGNED_OUT_KEY) === '1';
    },

    /** Signs out here and, where the provider has an end-session endpoint, there too. */
    async signOut(): Promise<void> {
      sessionStorage.setItem(SIGNED_OUT_KEY, '1');
      const user = await manager.getUser();
      await manager.removeUser();
      try {
        await manager.signoutRedirect(user?.id_token ? { id_token_hint: user.id_token } : {});
      } catch {
        // No end-session endpoint (Cognito's logout is not in its discovery document): signed out here only.
        location.assign(appPath);
      }
    },
  };
}
