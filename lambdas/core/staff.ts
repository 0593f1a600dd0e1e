import * as z from 'zod';
import type { Clock, ContinuityStore, StaffAccount, StaffProvisioner } from '../ports.js';
import type { LifeboatConfig } from './config.js';
import { type DirectoryUser, directoryUserSchema, parseDirectory, parseDirectoryText } from './directory.js';
import { ConfigError, ValidationError } from './errors.js';

/** What managing staff needs: where they are kept, the audit log, the accepted domains. */
export interface StaffDeps {
  staff: StaffProvisioner & {
    /** All or nothing, where the provisioner can (the local directory file). */
    upsertMany?(users: DirectoryUser[]): Promise<{ created: number; updated: number }>;
  };
  continuity: Pick<ContinuityStore, 'appendAudit'>;
  clock: Clock;
  config: Pick<LifeboatConfig, 'domains'>;
}

/** `POST /admin/users/import`: a directory file's text and how it is written. */
export const importBodySchema = z.strictObject({
  format: z.enum(['csv', 'json']),
  text: z.string().min(1, 'the file is empty'),
});

/** Every member of staff and how they can sign in. */
export function listStaff(deps: Pick<StaffDeps, 'staff'>): Promise<StaffAccount[]> {
  return deps.staff.list();
}

async function audit(deps: StaffDeps, actor: string, action: string, detail: string): Promise<void> {
  await deps.continuity.appendAudit({
    at: deps.clock.now().toISOString(),
    actor,
    action,
    detail,
    eventId: null,
  });
}

/**
 * Adds a member of staff or updates their name, addresses, groups and phone; audited as
 * `staff-add` with the id only (addresses and phones are personal data the audit log does not need).
 * @throws ValidationError listing every problem with the user
 */
export async function addStaff(
  deps: StaffDeps,
  input: unknown,
  actor: string,
): Promise<{ result: 'created' | 'updated'; user: DirectoryUser }> {
  let user: DirectoryUser;
  try {
    user = parseDirectory([input], {
      source: 'user',
      domains: deps.config.domains,
      where: () => 'user',
    }).users[0] as DirectoryUser;
  } catch (err) {
    if (err instanceof ConfigError) throw new ValidationError('user', err.problems);
    throw err;
  }
  const result = await deps.staff.upsert(user);
  await audit(deps, actor, 'staff-add', `${user.id} ${result}`);
  return { result, user };
}

/**
 * Imports a directory file (the columns of `webmail.directoryFile`): every row is checked first,
 * and one problem anywhere imports nothing, each problem named with its CSV line or JSON path.
 * Audited as `staff-import` with the counts.
 * @throws ValidationError listing every problem
 */
export async function importStaff(
  deps: StaffDeps,
  body: z.infer<typeof importBodySchema>,
  actor: string,
): Promise<{ created: number; updated: number }> {
  let users: DirectoryUser[];
  try {
    users = [
      ...parseDirectoryText(body.text, body.format, { source: 'import', domains: deps.config.domains }).users,
    ];
  } catch (err) {
    if (err instanceof ConfigError) throw new ValidationError('import', err.problems);
    throw err;
  }
  let counts: { created: number; updated: number };
  if (deps.staff.upsertMany) counts = await deps.staff.upsertMany(users);
  else {
    counts = { created: 0, updated: 0 };
    for (const u of users) counts[(await deps.staff.upsert(u)) === 'created' ? 'created' : 'updated']++;
  }
  await audit(
    deps,
    actor,
    'staff-import',
    `${users.length} users: ${counts.created} created, ${counts.updated} updated`,
  );
  return counts;
}

/** Accepts a directory user's fields as the API receives them (groups optional). */
export const staffInputSchema = directoryUserSchema;
