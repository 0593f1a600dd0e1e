/**
 * The security headers of the web app's own pages (the webmail, the console, the local sign-in
 * page): one list, served by the local runtime and set in CloudFront's response-headers policy
 * in AWS, so both origins send the same policy. This module imports nothing.
 */

/** Where the app may connect and post forms besides itself: the OpenID provider's origin. */
export interface AppHeaderOptions {
  /**
   * Origin of the sign-in authority (`https://auth.example.com` for Cognito's managed login);
   * nothing extra when it is the app's own origin (the local runtime's `/oidc`).
   */
  authorityOrigin?: string | undefined;
}

/**
 * The Content-Security-Policy of the app's pages. No inline script anywhere (`script-src 'self'`
 * only), so an injected `<script>` or event handler never runs; `'unsafe-inline'` for styles only,
 * because mail HTML shown in the sandboxed `srcdoc` iframe carries inline styles; `frame-ancestors
 * 'none'` so no other site can frame the app to trick a click; `base-uri 'none'` so an injected
 * `<base>` cannot redirect the app's relative URLs; `form-action` limited to the app and its IdP.
 */
export function appContentSecurityPolicy(options: AppHeaderOptions = {}): string {
  const extra = options.authorityOrigin ? ` ${options.authorityOrigin}` : '';
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob: https:",
    `connect-src 'self'${extra}`,
    "frame-src 'self'",
    "child-src 'self'",
    "worker-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    `form-action 'self'${extra}`,
    "frame-ancestors 'none'",
  ].join('; ');
}

/** Browser features the app never uses, switched off so an injected page cannot ask for them. */
export const PERMISSIONS_POLICY = 'camera=(), microphone=(), geolocation=()';

/** HSTS for the AWS origin (CloudFront, always HTTPS): a year, subdomains included. */
export const STRICT_TRANSPORT_SECURITY = 'max-age=31536000; includeSubDomains';

/**
 * Every security header of the app's pages, lower-case names. `Referrer-Policy: no-referrer`
 * so a link followed from a mail never tells the sender which page or message it came from.
 * HSTS is not included: the local runtime serves plain HTTP on loopback, where it means nothing;
 * AWS adds {@link STRICT_TRANSPORT_SECURITY}.
 */
export function appSecurityHeaders(options: AppHeaderOptions = {}): Record<string, string> {
  return {
    'content-security-policy': appContentSecurityPolicy(options),
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'permissions-policy': PERMISSIONS_POLICY,
  };
}
