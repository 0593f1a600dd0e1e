import * as z from 'zod';
import { ConfigError } from './errors.js';

/**
 * Most addresses (primary and aliases) one user may own. Every address is one indexed read per
 * page of the user's mailbox list and one search index read per search, so the fan-out is
 * bounded; real directories give a person a handful (Exchange's proxyAddresses rarely pass ten).
 */
export const MAX_ADDRESSES_PER_USER = 32;

/** Most groups kept per user: groups only decide roles (the admin group), never mail access. */
export const MAX_GROUPS_PER_USER = 64;

/**
 * Largest directory file read. Ten thousand staff at ~200 bytes a row is 2 MB; anything past this
 * is the wrong file (an export of mail, a database) and is refused before it is held in memory.
 */
export const MAX_DIRECTORY_BYTES = 16 * 1024 * 1024;

const emailAddress = z
  .string()
  .trim()
  .max(254, 'must be at most 254 characters (RFC 5321 path limit)')
  .regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, 'must be an email address such as user@example.com')
  .transform((a) => a.toLowerCase());

/** One member of staff: who they are and which mailboxes are theirs. */
export const directoryUserSchema = z.strictObject({
  /** The sign-in name (the IdP's username, or the email address); compared without case. */
  id: z
    .string()
    .trim()
    .min(1)
    .max(128)
    .regex(/^[^\s]+$/, 'must not contain spaces')
    .transform((s) => s.toLowerCase()),
  /** The name shown in the webmail. */
  name: z.string().trim().min(1).max(200),
  /** The primary address first, then aliases. Each address belongs to one user only. */
  addresses: z
    .array(emailAddress)
    .min(1, 'a user needs at least one address')
    .max(MAX_ADDRESSES_PER_USER, `at most ${MAX_ADDRESSES_PER_USER} addresses per user`),
  /** @default [] */
  groups: z.array(z.string().trim().min(1).max(128)).max(MAX_GROUPS_PER_USER).default([]),
  /** A personal mobile (E.164), for the break-glass sign-in code: never the corporate mailbox. */
  phone: z
    .string()
    .regex(/^\+[1-9]\d{6,14}$/, 'must be an E.164 number such as +447700900123')
    .optional(),
  /**
   * A personal email address (off the organisation's domains), where staff notices are emailed
   * during an outage: the work mailbox is the one that is down.
   */
  personalEmail: emailAddress.optional(),
});

export type DirectoryUser = z.infer<typeof directoryUserSchema>;
export type DirectoryUserInput = z.input<typeof directoryUserSchema>;

/** A problem found in a list of users: where it is and what is wrong. */
export interface DirectoryProblem {
  path: (string | number)[];
  message: string;
}

/**
 * Checks across users that one user's schema cannot see: an id or an address used twice, and
 * (when `domains` is given) an address on a domain this gateway does not accept, whose mail
 * could never arrive. Tolerates partly invalid input, so config validation can report every
 * problem in one round.
 */
export function directoryProblems(
  users: readonly unknown[],
  domains?: readonly string[],
): DirectoryProblem[] {
  const problems: DirectoryProblem[] = [];
  const ids = new Map<string, number>();
  const owners = new Map<string, number>();
  users.forEach((user, i) => {
    if (typeof user !== 'object' || user === null) return;
    const { id, addresses } = user as { id?: unknown; addresses?: unknown };
    if (typeof id === 'string') {
      const key = id.trim().toLowerCase();
      const first = ids.get(key);
      if (first !== undefined) {
        problems.push({ path: [i, 'id'], message: `${key} is also the id of user ${first}` });
      } else ids.set(key, i);
    }
    if (!Array.isArray(addresses)) return;
    addresses.forEach((raw, j) => {
      if (typeof raw !== 'string') return;
      const address = raw.trim().toLowerCase();
      const owner = owners.get(address);
      if (owner === i) {
        problems.push({ path: [i, 'addresses', j], message: `${address} is listed twice` });
      } else if (owner !== undefined) {
        problems.push({
          path: [i, 'addresses', j],
          message: `${address} is already an address of user ${owner}: an address belongs to one user`,
        });
      } else owners.set(address, i);
      const domain = address.slice(address.lastIndexOf('@') + 1);
      if (domains && address.includes('@') && !domains.includes(domain)) {
        problems.push({
          path: [i, 'addresses', j],
          message: `${address} is not in an accepted domain, so no mail for it can arrive`,
        });
      }
    });
  });
  return problems;
}

/** Who the staff are, looked up by sign-in name or by address. */
export interface Directory {
  readonly users: readonly DirectoryUser[];
  byId(id: string): DirectoryUser | undefined;
  byAddress(address: string): DirectoryUser | undefined;
}

/** A directory over users already validated (addresses unique, lower-cased). */
export function createDirectory(users: readonly DirectoryUser[]): Directory {
  const ids = new Map(users.map((u) => [u.id, u]));
  const addresses = new Map(users.flatMap((u) => u.addresses.map((a) => [a, u] as const)));
  return {
    users,
    byId: (id) => ids.get(id.trim().toLowerCase()),
    byAddress: (address) => addresses.get(address.trim().toLowerCase()),
  };
}

const pathText = (path: readonly PropertyKey[]) => (path.length ? path.map(String).join('.') : '(root)');

/**
 * Validates a list of users and builds the directory, reporting every problem with its path.
 * @param where names each user in messages (`users.3` for JSON, `line 5` for CSV)
 * @throws ConfigError listing every problem
 */
export function parseDirectory(
  input: unknown,
  options: { source: string; domains?: readonly string[]; where?: (index: number) => string },
): Directory {
  const where = options.where ?? ((i: number) => `users.${i}`);
  if (!Array.isArray(input)) {
    throw new ConfigError(options.source, ['(root): must be a list of users (or an object with "users")']);
  }
  const problems: string[] = [];
  const users: DirectoryUser[] = [];
  input.forEach((raw, i) => {
    const r = directoryUserSchema.safeParse(raw);
    if (r.success) users.push(r.data);
    for (const issue of r.error?.issues ?? [])
      problems.push(`${where(i)}.${pathText(issue.path)}: ${issue.message}`);
  });
  for (const p of directoryProblems(input, options.domains)) {
    const [i, ...rest] = p.path;
    problems.push(`${where(i as number)}.${pathText(rest)}: ${p.message}`);
  }
  if (problems.length) throw new ConfigError(options.source, problems);
  return createDirectory(users);
}

/** CSV cell separators inside `addresses` and `groups`: the comma already separates cells. */
const LIST_SEPARATOR = /[\s;]+/;

/** RFC 4180 CSV: quoted cells, doubled quotes, CRLF or LF line ends. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  let i = 0;
  const src = text.replace(/^\uFEFF/, '');
  while (i < src.length) {
    const c = src[i] as string;
    if (quoted) {
      if (c === '"' && src[i + 1] === '"') {
        cell += '"';
        i += 2;
        continue;
      }
      if (c === '"') quoted = false;
      else cell += c;
      i++;
      continue;
    }
    if (c === '"' && cell === '') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n' || c === '\r') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      if (c === '\r' && src[i + 1] === '\n') i++;
    } else cell += c;
    i++;
  }
  if (cell !== '' || row.length) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}

const CSV_COLUMNS = ['id', 'name', 'addresses', 'groups', 'phone', 'personalEmail'] as const;
const CSV_KEYS = new Map(CSV_COLUMNS.map((c) => [c.toLowerCase(), c]));

/**
 * Users from CSV with a header row naming the columns `id,name,addresses,groups,phone,personalEmail`
 * (any order; groups, phone and personalEmail optional). Several addresses or groups in one cell are separated by
 * spaces or semicolons, the primary address first. Blank lines are skipped.
 */
function usersFromCsv(text: string, source: string): { users: unknown[]; lines: number[] } {
  const rows = parseCsv(text);
  const header = (rows[0] ?? []).map((h) => h.trim().toLowerCase());
  const problems: string[] = [];
  for (const required of ['id', 'name', 'addresses']) {
    if (!header.includes(required)) problems.push(`line 1: the header has no "${required}" column`);
  }
  header.forEach((h, i) => {
    if (!CSV_KEYS.has(h)) {
      problems.push(`line 1: unknown column "${h}" (column ${i + 1}); expected ${CSV_COLUMNS.join(', ')}`);
    }
  });
  if (problems.length) throw new ConfigError(source, problems);
  const users: unknown[] = [];
  const lines: number[] = [];
  rows.slice(1).forEach((cells, n) => {
    if (cells.every((c) => c.trim() === '')) return;
    const user: Record<string, unknown> = {};
    header.forEach((column, i) => {
      const value = (cells[i] ?? '').trim();
      if (column === 'addresses' || column === 'groups') {
        user[column] = value === '' ? [] : value.split(LIST_SEPARATOR);
      } else if (value !== '') user[CSV_KEYS.get(column) ?? column] = value;
    });
    users.push(user);
    lines.push(n + 2);
  });
  return { users, lines };
}

/** How a directory file is written, from its name. */
export function directoryFormat(file: string): 'json' | 'csv' {
  return /\.csv$/i.test(file) ? 'csv' : 'json';
}

/**
 * A directory from a file's text: JSON (a list of users, or `{ "users": [...] }`) or CSV.
 * @throws ConfigError naming the file and every problem (JSON paths, CSV line numbers)
 */
export function parseDirectoryText(
  text: string,
  format: 'json' | 'csv',
  options: { source: string; domains?: readonly string[] },
): Directory {
  if (Buffer.byteLength(text) > MAX_DIRECTORY_BYTES) {
    throw new ConfigError(options.source, [`(root): larger than ${MAX_DIRECTORY_BYTES} bytes`]);
  }
  if (format === 'csv') {
    const { users, lines } = usersFromCsv(text, options.source);
    return parseDirectory(users, { ...options, where: (i) => `line ${lines[i]}` });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(options.source, [`(root): not valid JSON: ${(err as Error).message}`]);
  }
  const list = Array.isArray(raw) ? raw : (raw as { users?: unknown } | null)?.users;
  return parseDirectory(list, options);
}

/** The signed-in user as the webmail sees them: whose mail they may read. */
export interface MailboxUser {
  /** The directory id, or the IdP's name for a user the directory does not list. */
  id: string;
  name: string;
  /** Lower-cased, the primary first; empty when the user owns no mailbox. */
  addresses: string[];
  groups: string[];
}

/** Claims that name a user by an identifier the user cannot choose: the directory id. */
const ID_CLAIMS = ['cognito:username', 'username', 'sub'] as const;
/**
 * Claims holding addresses a federated IdP asserts (Cognito prefixes mapped attributes with
 * `custom:`). The attribute must not be writable by the user's own app client.
 */
const ADDRESS_CLAIMS = ['addresses', 'custom:addresses'] as const;

const text = (v: unknown): string | undefined =>
  typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;

function claimList(v: unknown): string[] {
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  if (typeof v !== 'string') return [];
  return v
    .replace(/^\[|\]$/g, '')
    .split(/[\s,]+/)
    .map((s) => s.replace(/^"|"$/g, ''))
    .filter(Boolean);
}

/**
 * The directory entry of the signed-in user. Matched by an id the user cannot change
 * (`cognito:username`, `username`, `sub`), then by `email` (unless the token says it is not
 * verified) or Entra's `upn`, as the entry's id or one of its addresses. `preferred_username`
 * is never used: Microsoft documents it as mutable, not for authorisation.
 */
export function directoryEntryFor(
  directory: Directory,
  claims: Record<string, unknown>,
): DirectoryUser | undefined {
  for (const claim of ID_CLAIMS) {
    const id = text(claims[claim]);
    const entry = id === undefined ? undefined : directory.byId(id);
    if (entry) return entry;
  }
  const verified = claims.email_verified !== false && claims.email_verified !== 'false';
  for (const value of [verified ? text(claims.email) : undefined, text(claims.upn)]) {
    if (value === undefined) continue;
    const entry = directory.byId(value) ?? directory.byAddress(value);
    if (entry) return entry;
  }
  return undefined;
}

/**
 * Who the signed-in user is and which addresses are theirs: the directory entry's addresses,
 * plus those a federated IdP asserts in an `addresses` claim, never anything else. A claimed
 * address is kept only if it is a well-formed address on an accepted domain that the directory
 * does not give to someone else.
 * @param claims verified token claims (the API Gateway JWT authorizer's, or the local provider's)
 */
export function resolveMailboxUser(
  directory: Directory,
  claims: Record<string, unknown>,
  options: { domains?: readonly string[] } = {},
): MailboxUser {
  const entry = directoryEntryFor(directory, claims);
  const addresses = [...(entry?.addresses ?? [])];
  for (const claim of ADDRESS_CLAIMS) {
    for (const raw of claimList(claims[claim])) {
      const parsed = emailAddress.safeParse(raw);
      if (!parsed.success) continue;
      const address = parsed.data;
      const domain = address.slice(address.lastIndexOf('@') + 1);
      if (options.domains && !options.domains.includes(domain)) continue;
      const owner = directory.byAddress(address);
      if (owner && owner !== entry) continue;
      if (!addresses.includes(address)) addresses.push(address);
    }
  }
  const id =
    entry?.id ??
    [claims['cognito:username'], claims.username, claims.email, claims.upn, claims.sub]
      .map(text)
      .find((v) => v !== undefined)
      ?.toLowerCase() ??
    '';
  const groups = new Set([...(entry?.groups ?? []), ...claimList(claims['cognito:groups'] ?? claims.groups)]);
  return {
    id,
    name: entry?.name ?? text(claims.name) ?? id,
    addresses: addresses.slice(0, MAX_ADDRESSES_PER_USER),
    groups: [...groups],
  };
}

/** The addresses whose mail the signed-in user may read (see resolveMailboxUser). */
export function addressesFor(
  directory: Directory,
  claims: Record<string, unknown>,
  options: { domains?: readonly string[] } = {},
): string[] {
  return resolveMailboxUser(directory, claims, options).addresses;
}

/** The webmail settings the directory is built from (config.webmail) and the accepted domains. */
export interface DirectorySource {
  domains: readonly string[];
  webmail: { directoryFile?: string | undefined; users?: readonly DirectoryUserInput[] | undefined };
}

/**
 * The staff directory the config names: its inline `webmail.users`, or the JSON or CSV file
 * `webmail.directoryFile`, or an empty directory (nobody has a mailbox until users are added).
 * @param readFile reads the file as text; the caller resolves a relative name (the local
 *   runtime against the config file's folder) and refuses one larger than MAX_DIRECTORY_BYTES
 * @throws ConfigError naming the file and every problem in it
 */
export async function loadDirectory(
  source: DirectorySource,
  readFile: (file: string) => Promise<string>,
): Promise<Directory> {
  const { directoryFile, users } = source.webmail;
  if (users) return parseDirectory(users, { source: 'webmail.users', domains: source.domains });
  if (directoryFile === undefined) return createDirectory([]);
  let textOf: string;
  try {
    textOf = await readFile(directoryFile);
  } catch (err) {
    throw new ConfigError(`webmail.directoryFile ${directoryFile}`, [
      `(root): cannot be read: ${(err as Error).message}`,
    ]);
  }
  return parseDirectoryText(textOf, directoryFormat(directoryFile), {
    source: `webmail.directoryFile ${directoryFile}`,
    domains: source.domains,
  });
}
