import type { LifeboatConfig, RouteConfig } from './config.js';

/** Lower-cases an address; the local part is case-sensitive in theory, never in practice (Postfix folds too). */
export function normaliseAddress(address: string): string {
  return address.trim().toLowerCase();
}

export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/** Whether Lifeboat accepts mail for this envelope recipient (no open relay). */
export function isAcceptedRecipient(config: LifeboatConfig, recipient: string): boolean {
  return config.domains.includes(domainOf(recipient));
}

/**
 * The route for one envelope recipient: an address listed on a route wins over a domain route,
 * which is how split routing (part of a domain on-premises, part in the cloud) is expressed.
 */
export function resolveRoute(config: LifeboatConfig, recipient: string): RouteConfig | undefined {
  const address = normaliseAddress(recipient);
  const byAddress = config.routes.find((r) => r.addresses.includes(address));
  if (byAddress) return byAddress;
  const domain = domainOf(address);
  return config.routes.find((r) => r.domains.includes(domain));
}

/** Groups recipients by route name, keeping arrival order within each group. */
export function groupByRoute<T extends { route: string }>(items: readonly T[]): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const group = groups.get(item.route);
    if (group) group.push(item);
    else groups.set(item.route, [item]);
  }
  return groups;
}
