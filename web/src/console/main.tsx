/**
 * The console's entry: reads the app's settings, completes a sign-in redirect or starts one (the
 * same provider and client as the webmail; the path the admin opened, such as the event page an
 * SMS linked to, rides through sign-in in the OIDC state), then shows the console. Whether the
 * user is an administrator is the admin API's decision: a refusal shows a page that says so.
 */
import { render } from 'preact';
import { type Auth, createAuth, isSignInCallback, loadAppConfig } from '../mail/auth.js';
import { SignInPage as Page, type SignInPageProps } from '../shared/sign-in.js';
import { createAdminApi } from './api.js';
import { App } from './app.js';

const root = document.getElementById('app') as HTMLElement;
// The page's "Opening the console…" is not Preact's to replace: clear it before the first render.
root.textContent = '';

/** Where the admin is: the path and query to come back to after sign-in. */
const here = () => `${location.pathname}${location.search}`;

function SignInPage(props: Omit<SignInPageProps, 'title' | 'returnTo'>) {
  return <Page title="Lifeboat console" returnTo={here} {...props} />;
}

async function boot(): Promise<void> {
  let auth: Auth;
  let apiBase: string;
  try {
    const config = await loadAppConfig();
    auth = createAuth(config, '/console/');
    apiBase = config.apiBase;
  } catch (err) {
    const problem = navigator.onLine ? (err as Error).message : 'You are offline.';
    render(<SignInPage auth={null} message="The console could not start." problem={problem} />, root);
    return;
  }
  if (isSignInCallback()) {
    try {
      await auth.completeSignIn();
    } catch (err) {
      render(
        <SignInPage
          auth={auth}
          message="Sign-in did not complete."
          problem={`${(err as Error).message}. Try signing in again.`}
        />,
        root,
      );
      return;
    }
  }
  const user = await auth.currentUser();
  if (!user) {
    if (auth.offersChoice() && !auth.signedOutHere()) {
      render(<SignInPage auth={auth} message="How do you want to sign in?" />, root);
      return;
    }
    if (auth.signedOutHere()) {
      render(<SignInPage auth={auth} message="You are signed out." />, root);
      return;
    }
    render(<SignInPage auth={auth} message="Taking you to sign-in…" />, root);
    await auth
      .signIn(here())
      .catch((err: Error) =>
        render(
          <SignInPage auth={auth} message="The sign-in page could not be reached." problem={err.message} />,
          root,
        ),
      );
    return;
  }
  let reSigning = false;
  const api = createAdminApi({
    base: apiBase,
    token: () => auth.idToken(),
    onUnauthorized: () => {
      if (reSigning) return;
      reSigning = true;
      void auth.signIn(here());
    },
  });
  const name = String(user.profile.name ?? user.profile.email ?? user.profile.sub);
  render(
    <App
      api={api}
      userName={name}
      onSignIn={() => void auth.signIn(here())}
      onSignOut={() => void auth.signOut()}
    />,
    root,
  );
}

void boot();
