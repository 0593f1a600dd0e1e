import type { LifeboatConfig, RouteConfig } from '../core/config.js';
import type { Mailer, OutboundRelay } from '../ports.js';

/** The route name the relay's SMTP sessions are kept under, apart from the primary's routes. */
export const RELAY_ROUTE = 'outbound-relay';

type RelayConfig = NonNullable<LifeboatConfig['local']['relay']>;

/**
 * Mail from the webmail to outside addresses, through an SMTP relay (`local.relay`, or the demo
 * sink) with the same mailer, sessions and reply handling as delivery to the primary: a 250 is
 * `delivered`, a 4xx or no answer `deferred`, a 5xx `failed`.
 */
export function createSmtpRelay(mailer: Mailer, relay: RelayConfig): OutboundRelay {
  const route: RouteConfig = {
    name: RELAY_ROUTE,
    domains: [],
    addresses: [],
    hosts: [{ host: relay.host, port: relay.port }],
    tls: relay.tls,
    verifyCertificate: relay.verifyCertificate,
    ...(relay.auth ? { auth: { user: relay.auth.user, passwordEnv: relay.auth.passwordEnv } } : {}),
    connectTimeoutSeconds: 30,
    socketTimeoutSeconds: 120,
  };
  return {
    async send(envelope, raw) {
      return { outcomes: await mailer.send(route, envelope, raw), providerId: null };
    },
  };
}
