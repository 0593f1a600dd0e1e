import type { Auth } from './auth.js';

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
