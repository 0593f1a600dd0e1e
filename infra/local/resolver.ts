import type { LifeboatConfig } from '../../lambdas/core/config.js';

/** A DNS resolver with mailauth's signature (`dns.promises.resolve`). */
export type Resolver = (name: string, rrtype: string) => Promise<string[] | string[][]>;

/**
 * Answers from the config's `local.dns` table instead of the network: there is no public DNS on
 * a test machine, and a check that waits for a timeout would stall every message.
 */
export function createLocalResolver(records: LifeboatConfig['local']['dns']): Resolver {
  const table = new Map(
    Object.entries(records).map(([name, byType]) => [name.toLowerCase().replace(/\.$/, ''), byType]),
  );
  return async (name, rrtype) => {
    const answers = table.get(name.toLowerCase().replace(/\.$/, ''))?.[rrtype.toUpperCase()];
    if (!answers || answers.length === 0) {
      throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND', hostname: name });
    }
    // dns.resolveTxt returns each record as an array of character-strings.
    return rrtype.toUpperCase() === 'TXT' ? answers.map((a) => [a]) : answers;
  };
}
