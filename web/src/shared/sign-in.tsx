/**
 * The sign-in page both apps show before anyone is signed in, and while sign-in goes wrong: the
 * app's name, what is happening, the problem in words when there is one, and the way to sign in
 * (or to try again when the app could not even read its settings).
 */
import type { Auth } from '../mail/auth.js';
import { LogoIcon } from '../mail/icons.js';

/**
 * The sign-in buttons. Where the organisation federates, two: the company account, and the
 * credentials enrolled in Lifeboat beforehand (a texted code to a personal phone, or a passkey),
 * which is what works when the company sign-in is what failed. Otherwise one.
 */
export function SignInButtons(props: { auth: Auth; returnTo: () => string }) {
  const { auth } = props;
  if (!auth.offersChoice()) {
    return (
      <button type="button" class="button primary" onClick={() => void auth.signIn(props.returnTo())}>
        Sign in
      </button>
    );
  }
  return (
    <div class="signin-choices">
      <button
        type="button"
        class="button primary"
        onClick={() => void auth.signIn(props.returnTo(), 'company')}
      >
        Sign in with your company account
      </button>
      <button type="button" class="button" onClick={() => void auth.signIn(props.returnTo(), 'direct')}>
        Company sign-in down? Use a code by text or a passkey
      </button>
    </div>
  );
}

export interface SignInPageProps {
  /** The app's name in the heading ("Lifeboat mail", "Lifeboat console"). */
  title: string;
  /** Null when the app could not start: the page offers to try again instead of signing in. */
  auth: Auth | null;
  message: string;
  problem?: string | undefined;
  /** Where in the app to come back to after sign-in (read when a button is pressed). */
  returnTo: () => string;
}

export function SignInPage(props: SignInPageProps) {
  return (
    <main class="signin">
      <h1>
        <LogoIcon /> {props.title}
      </h1>
      <p>{props.message}</p>
      {props.problem ? (
        <p class="problem" role="alert">
          {props.problem}
        </p>
      ) : null}
      {props.auth ? (
        <SignInButtons auth={props.auth} returnTo={props.returnTo} />
      ) : (
        <button type="button" class="button primary" onClick={() => location.reload()}>
          Try again
        </button>
      )}
    </main>
  );
}
