import type { DrillScope } from '../console/drill.js';
import type { LifeboatConfig } from './config.js';
import { LifeboatError, NotFoundError, ValidationError } from './errors.js';
import { mailboxScope, scopeCovers, scopeMailboxes } from './holds.js';
import { resolveRoute } from './routing.js';

/**
 * Longest hold scope a drill may name: the hold record's key (a DynamoDB sort key may be 1 KB),
 * with room to spare.
 */
export const MAX_HOLD_SCOPE_CHARS = 900;

/** A drill refused with a stable code (DRILL_PRODUCTION, DRILL_BUSY, DRILL_RUNNING: lambdas/console/drill.ts). */
export class DrillError extends LifeboatError {}

/** Where a drill runs, as the request named it and as its event holds it. */
export interface ResolvedScope {
  scope: DrillScope;
  /** The hold scope of its event: the route's name, or `mailboxes:a@x,b@y`. */
  holdScope: string;
  /** Whether the scope carries real mail: a route not marked `test`, or a mailbox that is not a test one. */
  production: boolean;
  /** What makes it production, for the refusal. */
  productionWhy: string[];
}

/**
 * Checks a drill's scope against the config: the route exists, every mailbox is on an accepted
 * domain and served by a route; says whether it is production.
 * @throws NotFoundError for an unknown route
 * @throws ValidationError for a mailbox Lifeboat does not serve, or a scope too long to hold
 */
export function resolveDrillScope(
  config: LifeboatConfig,
  request: { route?: string | undefined; mailboxes?: string[] | undefined },
): ResolvedScope {
  if (request.route !== undefined) {
    const route = config.routes.find((r) => r.name === request.route);
    if (!route) throw new NotFoundError(`route ${request.route}`);
    return {
      scope: { kind: 'route', route: route.name },
      holdScope: route.name,
      production: route.test !== true,
      productionWhy: route.test === true ? [] : [`route ${route.name} is not marked test: true`],
    };
  }
  const mailboxes = [...new Set((request.mailboxes ?? []).map((a) => a.toLowerCase()))];
  const problems: string[] = [];
  const productionWhy: string[] = [];
  mailboxes.forEach((a, i) => {
    const domain = a.slice(a.lastIndexOf('@') + 1);
    if (!config.domains.includes(domain)) {
      problems.push(`mailboxes.${i}: ${a} is not in an accepted domain (${config.domains.join(', ')})`);
      return;
    }
    const route = resolveRoute(config, a);
    if (!route) {
      problems.push(`mailboxes.${i}: no route serves ${a}`);
      return;
    }
    if (!config.drill.testMailboxes.includes(a) && route.test !== true) {
      productionWhy.push(
        `${a} is not in drill.testMailboxes and its route ${route.name} is not a test route`,
      );
    }
  });
  if (mailboxes.length === 0) problems.push('mailboxes: name at least one mailbox');
  const holdScope = mailboxScope(mailboxes);
  if (holdScope.length > MAX_HOLD_SCOPE_CHARS) {
    problems.push(`mailboxes: ${holdScope.length} characters together, more than ${MAX_HOLD_SCOPE_CHARS}`);
  }
  if (problems.length) throw new ValidationError('request body', problems);
  return {
    scope: { kind: 'mailboxes', mailboxes },
    holdScope,
    production: productionWhy.length > 0,
    productionWhy,
  };
}

/** Whether an address's mail is in a drill's hold scope. */
export function addressInScope(config: LifeboatConfig, address: string, holdScope: string): boolean {
  const a = address.toLowerCase();
  return scopeCovers(holdScope, resolveRoute(config, a)?.name ?? '', a);
}

/**
 * The mailboxes a drill's probe messages go to: the mailboxes it names; on a route, the test
 * mailboxes and the route's own addresses it serves, or else postmaster of its first domain
 * (which RFC 5321 §4.5.1 says every domain must have).
 */
export function probeRecipients(config: LifeboatConfig, holdScope: string): string[] {
  const named = scopeMailboxes(holdScope);
  if (named) return named;
  const route = config.routes.find((r) => r.name === holdScope);
  if (!route) return [];
  const own = [...config.drill.testMailboxes, ...route.addresses].filter((a) =>
    addressInScope(config, a, holdScope),
  );
  if (own.length) return [...new Set(own)];
  return route.domains[0] ? [`postmaster@${route.domains[0]}`] : [];
}

/** Phones texted as "staff" in a drill: `drill.staffPhones`, and directory users in its scope. */
export function drillStaffPhones(config: LifeboatConfig, holdScope: string): string[] {
  const inScope = (config.webmail.users ?? []).filter(
    (u) => u.phone && u.addresses.some((a) => addressInScope(config, a, holdScope)),
  );
  return [...new Set([...config.drill.staffPhones, ...inScope.map((u) => u.phone as string)])];
}

/**
 * The config a drill's notices are written with: the organisation's name reads `DRILL <name>` in
 * every page and text, and the staff texted are the drill's, never all staff.
 */
export function drillNoticeConfig(config: LifeboatConfig, holdScope: string): LifeboatConfig {
  const { templates } = config.continuity.staff;
  // A staff text written without the organisation's name still has to say it is a drill.
  const marked = (sms: string) => (sms.includes('{organisation}') ? sms : `DRILL: ${sms}`);
  return {
    ...config,
    organisation: `DRILL ${config.organisation}`,
    continuity: {
      ...config.continuity,
      staff: {
        ...config.continuity.staff,
        phones: drillStaffPhones(config, holdScope),
        groups: [],
        templates: {
          invoke: { ...templates.invoke, sms: marked(templates.invoke.sms) },
          revoke: { ...templates.revoke, sms: marked(templates.revoke.sms) },
        },
      },
    },
  };
}
