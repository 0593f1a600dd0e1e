/**
 * The mail page's entry: reads the app's settings, completes a sign-in redirect or starts one,
 * then shows the mailbox. A user who signed out here sees a page to sign in again instead of
 * being signed straight back in. The service worker keeps the shell for flaky connections.
 */
import { type ComponentChild, render } from 'preact';
import { SignInPage as Page, type SignInPageProps } from '../shared/sign-in.js';
import { createApi } from './api.js';
import { App } from './app.js';
import { type Auth, createAuth, isSignInCallback, loadAppConfig } from './auth.js';

const root = document.getElementById('app') as HTMLElement;

let booting = true;
/** Renders into the page, the first time in place of the "Opening your mail…" line the HTML shows. */
function show(view: ComponentChild): void {
  if (booting) {
    root.textContent = '';
    booting = false;
  }
  render(view, root);
}

function SignInPage(props: Omit<SignInPageProps, 'title' | 'returnTo'>) {
  return <Page title="Lifeboat mail" returnTo={() => location.hash} {...props} />;
}

function registerServiceWorker(): void {
  // Not under Vite's dev server, which has no /mail/sw.js and serves modules the worker must not keep.
  if (import.meta.env.DEV || !('serviceWorker' in navigator)) return;
  navigator.serviceWorker.register('/mail/sw.js', { scope: '/mail/' }).catch(() => {
    // Without it the app works the same; only a reload while offline does not open.
  });
}

async function boot(): Promise<void> {
  registerServiceWorker();
  let auth: Auth;
  let apiBase: string;
  try {
    const config = await loadAppConfig();
    auth = createAuth(config);
    apiBase = config.apiBase;
  } catch (err) {
    const problem = navigator.onLine ? (err as Error).message : 'You are offline.';
    show(<SignInPage auth={null} message="Lifeboat mail could not start." problem={problem} />);
    return;
  }
  if (isSignInCallback()) {
    try {
      await auth.completeSignIn();
    } catch (err) {
      show(
        <SignInPage
          auth={auth}
          message="Sign-in did not complete."
          problem={`${(err as Error).message}. Try signing in again.`}
        />,
      );
      return;
    }
  }
  const user = await auth.currentUser();
  if (!user) {
    if (auth.offersChoice() && !auth.signedOutHere()) {
      show(<SignInPage auth={auth} message="How do you want to sign in?" />);
      return;
    }
    if (auth.signedOutHere()) {
      show(<SignInPage auth={auth} message="You are signed out." />);
      return;
    }
    show(<SignInPage auth={auth} message="Taking you to sign-in…" />);
    await auth
      .signIn(location.hash)
      .catch((err: Error) =>
        show(
          <SignInPage
            auth={auth}
            message="The sign-in page could not be reached."
            problem={
              window.isSecureContext ? err.message : 'Open Lifeboat mail over https (or on localhost).'
            }
          />,
        ),
      );
    return;
  }
  let reSigning = false;
  const api = createApi({
    base: apiBase,
    token: () => auth.idToken(),
    onUnauthorized: () => {
      if (reSigning) return;
      reSigning = true;
      void auth.signIn(location.hash);
    },
  });
  show(<App api={api} onSignOut={() => void auth.signOut()} />);
}

void boot();
