import { createHash, randomBytes } from 'node:crypto';

/** A browser's cookie jar, enough for the sign-in pages: name=value per cookie, paths ignored. */
export class CookieJar {
  private readonly cookies = new Map<string, string>();
  take(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = (pair ?? '').indexOf('=');
      if (eq > 0) this.cookies.set((pair as string).slice(0, eq).trim(), (pair as string).slice(eq + 1));
    }
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

/** What the web app would hold after sign-in. */
export interface Tokens {
  id_token: string;
  access_token: string;
  refresh_token?: string;
  token_type: string;
  expires_in: number;
}

/**
 * The web app's side of sign-in, without a browser: an authorization request with PKCE S256,
 * following redirects by hand to the provider's sign-in page, whose forms are posted as a browser
 * would post them.
 */
export class OidcClient {
  readonly jar = new CookieJar();
  readonly verifier = randomBytes(32).toString('base64url');
  readonly state = randomBytes(8).toString('hex');
  constructor(
    readonly origin: string,
    readonly clientId = 'lifeboat-web',
    readonly redirectUri = `${origin}/mail/`,
  ) {}

  async get(url: string): Promise<Response> {
    const res = await fetch(new URL(url, this.origin), {
      redirect: 'manual',
      headers: { cookie: this.jar.header() },
    });
    this.jar.take(res);
    return res;
  }

  async post(url: string, form: Record<string, string>): Promise<Response> {
    const res = await fetch(new URL(url, this.origin), {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: this.jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });
    this.jar.take(res);
    return res;
  }

  /** Starts sign-in; resolves with the sign-in page's path (`/oidc/interaction/<uid>`). */
  async start(extra: Record<string, string> = {}): Promise<string> {
    const challenge = createHash('sha256').update(this.verifier).digest('base64url');
    const params = new URLSearchParams({
      client_id: this.clientId,
      response_type: 'code',
      redirect_uri: this.redirectUri,
      scope: 'openid profile email phone',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: this.state,
      nonce: 'n-0S6_WzA2Mj',
      ...extra,
    });
    const res = await this.get(`/oidc/auth?${params}`);
    const location = res.headers.get('location');
    if (res.status !== 303 || !location)
      throw new Error(`authorize answered ${res.status}: ${await res.text()}`);
    return new URL(location, this.origin).pathname;
  }

  /** Follows the provider's redirects after a sign-in form to the app's callback; returns the code. */
  async finish(afterForm: Response): Promise<string> {
    let res = afterForm;
    for (let hops = 0; hops < 5; hops++) {
      const location = res.headers.get('location');
      if (!location) throw new Error(`expected a redirect, got ${res.status}: ${await res.text()}`);
      const url = new URL(location, this.origin);
      if (url.href.startsWith(this.redirectUri)) {
        if (url.searchParams.get('state') !== this.state) throw new Error('state differs');
        const code = url.searchParams.get('code');
        if (!code) throw new Error(`no code: ${url.search}`);
        return code;
      }
      res = await this.get(url.href);
    }
    throw new Error('too many redirects');
  }

  /** Exchanges the code at the token endpoint, as oidc-client-ts does. */
  async exchange(
    code: string,
    verifier = this.verifier,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    return fetch(`${this.origin}/oidc/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: this.redirectUri,
        client_id: this.clientId,
        code_verifier: verifier,
      }).toString(),
    });
  }

  /**
   * Password, then the authenticator code the provider asks an enrolled user for; resolves with
   * the tokens, or rejects with the page's answer when a step is refused.
   */
  async signInWithTotp(username: string, password: string, code: string): Promise<Tokens> {
    const page = await this.start();
    const asked = await this.post(`${page}/password`, { username, password });
    if (asked.status !== 200) throw new Error(`password answered ${asked.status}`);
    const form = await this.post(`${page}/totp`, { username, code });
    if (form.status !== 303 && form.status !== 302)
      throw new Error(`authenticator code answered ${form.status}: ${await form.text()}`);
    const res = await this.exchange(await this.finish(form));
    if (res.status !== 200) throw new Error(`token endpoint answered ${res.status}: ${await res.text()}`);
    return (await res.json()) as Tokens;
  }

  /** The whole password sign-in; resolves with the tokens. */
  async signInWithPassword(username: string, password: string): Promise<Tokens> {
    const page = await this.start();
    const form = await this.post(`${page}/password`, { username, password });
    const res = await this.exchange(await this.finish(form));
    if (res.status !== 200) throw new Error(`token endpoint answered ${res.status}: ${await res.text()}`);
    return (await res.json()) as Tokens;
  }
}

/** The claims of a JWT, unverified (the test reads what the provider put in). */
export function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}
