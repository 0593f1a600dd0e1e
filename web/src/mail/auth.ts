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
  oidc: {
    authority: string;
    /** The client for sign-in without the corporate IdP (password with a texted code, or a passkey). */
    clientId: string;
    scope: string;
    /** Managed login's origin (Cognito): sign-out goes to `<signInOrigin>/logout`. */
    signInOrigin?: string | undefined;
    /**
     * The corporate IdP, when the organisation federates: its own client, and the provider's name
     * for the `identity_provider` parameter, so its button goes straight to the corporate page.
     */
    federation?: { clientId: string; identityProvider: string } | undefined;
  };
  /** Origin (and prefix) of the API; '' when the API is on the app's own origin. */
  apiBase: string;
}

/**
 * How a user signs in: `company` through the corporate IdP (federation), `direct` with the
 * credentials enrolled in Lifeboat beforehand, which works when the corporate IdP is down too.
 */
export type SignInMethod = 'company' | 'direct';

/** Renew this long before the ID token expires, so a request never leaves with a token about to lapse. */
const RENEW_BEFORE_EXPIRY_S = 60;

/** The sessionStorage key marking that the user signed out here, so the app does not sign them straight back in. */
const SIGNED_OUT_KEY = 'lifeboat.signedOut';

/** The sessionStorage key holding the method of the sign-in under way or done, so the callback uses its client. */
const METHOD_KEY = 'lifeboat.signInMethod';

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
  const fed = config.oidc.federation;
  const federation =
    fed && typeof fed.clientId === 'string' && typeof fed.identityProvider === 'string' ? fed : undefined;
  return { oidc: { ...config.oidc, federation }, apiBase: config.apiBase ?? '' };
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
  const { federation } = config.oidc;
  const managerFor = (clientId: string) =>
    new UserManager({
      authority: config.oidc.authority,
      client_id: clientId,
      redirect_uri: redirectUri,
      post_logout_redirect_uri: redirectUri,
      response_type: 'code',
      scope: config.oidc.scope || 'openid profile email',
      automaticSilentRenew: false,
      monitorSession: false,
      loadUserInfo: false,
      userStore: new WebStorageStateStore({ store: window.sessionStorage }),
    });
  const managers: Record<SignInMethod, UserManager> = {
    direct: managerFor(config.oidc.clientId),
    company: federation ? managerFor(federation.clientId) : managerFor(config.oidc.clientId),
  };
  const currentMethod = (): SignInMethod =>
    federation && sessionStorage.getItem(METHOD_KEY) === 'company' ? 'company' : 'direct';
  let manager = managers[currentMethod()];

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
    async signIn(returnTo = location.hash, method: SignInMethod = currentMethod()): Promise<void> {
      sessionStorage.removeItem(SIGNED_OUT_KEY);
      await manager.removeUser();
      const chosen: SignInMethod = method === 'company' && federation ? 'company' : 'direct';
      sessionStorage.setItem(METHOD_KEY, chosen);
      manager = managers[chosen];
      await manager.signinRedirect({
        state: { returnTo },
        ...(chosen === 'company' && federation
          ? { extraQueryParams: { identity_provider: federation.identityProvider } }
          : {}),
      });
    },

    /**
     * Whether the user picks how to sign in before leaving the app: only where the organisation
     * federates, since going straight to a corporate IdP that is down would strand them.
     */
    offersChoice(): boolean {
      return federation !== undefined;
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
      const { signInOrigin } = config.oidc;
      if (signInOrigin) {
        // Cognito's managed login: its logout endpoint ends its session too, then comes back here.
        const clientId =
          currentMethod() === 'company' && federation ? federation.clientId : config.oidc.clientId;
        const logout = new URL('/logout', signInOrigin);
        logout.searchParams.set('client_id', clientId);
        logout.searchParams.set('logout_uri', redirectUri);
        location.assign(logout.toString());
        return;
      }
      try {
        await manager.signoutRedirect(user?.id_token ? { id_token_hint: user.id_token } : {});
      } catch {
        // No end-session endpoint (Cognito's logout is not in its discovery document): signed out here only.
        location.assign(appPath);
      }
    },
  };
}
