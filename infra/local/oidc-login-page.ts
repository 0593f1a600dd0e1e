/**
 * The built-in provider's pages: sign in with a password or a code texted to a personal phone,
 * sign out, and errors. Server-rendered HTML with no script at all (the CSP allows none inline),
 * readable on a phone (one column, 16 px text so iOS does not zoom, targets at least 44 px),
 * dark when the OS is, every control with a label, errors announced (`role="alert"`).
 */

/** Escapes text for HTML content and quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(
    /[&<>"'`]/g,
    (c) =>
      ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' })[c] as string,
  );
}

const STYLE = `
:root { color-scheme: light dark; --fg: #1b1f24; --bg: #f6f7f9; --card: #fff; --muted: #57606a; --accent: #0a58ca; --err: #b42318; --line: #d0d7de; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --bg: #0d1117; --card: #161b22; --muted: #9da7b3; --accent: #6ea8fe; --err: #ff8182; --line: #30363d; } }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
main { max-width: 26rem; margin: 0 auto; padding: 1.5rem 1rem 3rem; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 12px; padding: 1.25rem; margin-top: 1rem; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
h2 { font-size: 1.1rem; margin: 0 0 .5rem; }
p { margin: .5rem 0; }
.muted { color: var(--muted); }
label { display: block; font-weight: 600; margin: 1rem 0 .25rem; }
input { display: block; width: 100%; min-height: 44px; padding: .5rem .75rem; font: inherit; color: inherit; background: transparent; border: 1px solid var(--line); border-radius: 8px; }
input:focus-visible, button:focus-visible, a:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
button { display: block; width: 100%; min-height: 44px; margin-top: 1rem; padding: .5rem 1rem; font: inherit; font-weight: 600; border-radius: 8px; cursor: pointer; }
button.primary { color: #fff; background: var(--accent); border: 1px solid var(--accent); }
@media (prefers-color-scheme: dark) { button.primary { color: #0d1117; } }
button.secondary { color: var(--accent); background: transparent; border: 1px solid var(--line); }
a { color: var(--accent); display: inline-block; min-height: 44px; padding: .6rem 0; }
.alert { border-left: 4px solid var(--err); padding: .5rem .75rem; margin-top: 1rem; background: transparent; }
.note { border-left: 4px solid var(--accent); padding: .5rem .75rem; margin-top: 1rem; }
`;

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

export interface LoginView {
  organisation: string;
  /** Where the forms post: `/oidc/interaction/<uid>`. */
  action: string;
  username?: string | undefined;
  /** Shown above the form, announced to screen readers. */
  error?: string | undefined;
  /** Shown above the form as information (a code was texted). */
  notice?: string | undefined;
}

/** The sign-in page: the password (the corporate IdP's stand-in) or a code texted to a personal phone. */
export function loginPage(view: LoginView): string {
  const a = escapeHtml(view.action);
  return page(
    `Sign in - ${view.organisation}`,
    `<h1>Sign in</h1>
<p class="muted">${escapeHtml(view.organisation)} webmail</p>
${view.error ? `<p class="alert" role="alert">${escapeHtml(view.error)}</p>` : ''}
${view.notice ? `<p class="note" role="status">${escapeHtml(view.notice)}</p>` : ''}
<form class="card" method="post" action="${a}/password">
  <label for="username">Username or email address</label>
  <input id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required value="${escapeHtml(view.username ?? '')}">
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
  <button class="primary" type="submit">Sign in</button>
  <h2 class="break-glass" id="break-glass">Company sign-in not working?</h2>
  <p class="muted">We can text a one-time code to the personal mobile number your administrator has on file. We never send codes by email.</p>
  <button class="secondary" type="submit" formaction="${a}/code/send" formnovalidate aria-describedby="break-glass">Text me a code</button>
</form>`,
  );
}

export interface CodeView extends LoginView {
  username: string;
}

/** The page after a code was asked for: type the code, or ask for another. */
export function codePage(view: CodeView): string {
  const a = escapeHtml(view.action);
  return page(
    `Enter your code - ${view.organisation}`,
    `<h1>Enter your code</h1>
<p class="muted">${escapeHtml(view.organisation)} webmail</p>
${view.error ? `<p class="alert" role="alert">${escapeHtml(view.error)}</p>` : ''}
${view.notice ? `<p class="note" role="status">${escapeHtml(view.notice)}</p>` : ''}
<form class="card" method="post" action="${a}/code">
  <input type="hidden" name="username" value="${escapeHtml(view.username)}">
  <label for="code">6-digit code</label>
  <input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]{6,7}" maxlength="7" required>
  <button class="primary" type="submit">Sign in</button>
  <button class="secondary" type="submit" formaction="${a}/code/send" formnovalidate>Text me a new code</button>
</form>
<p><a href="${a}">Sign in with a password instead</a></p>`,
  );
}

/** After a right password, for a user with an authenticator app: the code it shows now. */
export function totpPage(view: CodeView): string {
  const a = escapeHtml(view.action);
  return page(
    `Authenticator code - ${view.organisation}`,
    `<h1>Enter your authenticator code</h1>
<p class="muted">${escapeHtml(view.organisation)} webmail</p>
${view.error ? `<p class="alert" role="alert">${escapeHtml(view.error)}</p>` : ''}
<form class="card" method="post" action="${a}/totp">
  <input type="hidden" name="username" value="${escapeHtml(view.username)}">
  <label for="code">Authenticator code</label>
  <input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]{6,7}" maxlength="7" required autofocus>
  <p class="muted">The 6-digit code your authenticator app shows for ${escapeHtml(view.organisation)}.</p>
  <button class="primary" type="submit">Sign in</button>
</form>
<p><a href="${a}">Start again</a></p>`,
  );
}

/** The sign-out confirmation; the form carries the provider's own hidden fields. */
export function logoutPage(organisation: string, form: string): string {
  return page(
    `Sign out - ${organisation}`,
    `<h1>Sign out</h1>
<p>Sign out of ${escapeHtml(organisation)} webmail on this device?</p>
${form}
<button class="primary" type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>
<button class="secondary" type="submit" form="op.logoutForm">Stay signed in</button>`,
  );
}

/** After sign-out without a page to return to. */
export function loggedOutPage(organisation: string): string {
  return page(
    `Signed out - ${organisation}`,
    `<h1>Signed out</h1>
<p>You are signed out of ${escapeHtml(organisation)} webmail.</p>
<p><a href="/mail/">Sign in again</a></p>`,
  );
}

/** An error the provider cannot send back to the app (a bad link, an expired sign-in). */
export function errorPage(organisation: string, message: string): string {
  return page(
    `Sign-in problem - ${organisation}`,
    `<h1>Sign-in problem</h1>
<p class="alert" role="alert">${escapeHtml(message)}</p>
<p><a href="/mail/">Back to the webmail</a></p>`,
  );
}
