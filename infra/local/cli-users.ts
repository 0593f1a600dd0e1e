import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { type DirectoryUser, directoryFormat, parseDirectoryText } from '../../lambdas/core/directory.js';
import { ConfigError, LifeboatError } from '../../lambdas/core/errors.js';
import type { StaffAccount, StaffProvisioner } from '../../lambdas/ports.js';
import type { AdminCall } from './cli-api.js';
import { checkPasswordRules } from './oidc-credentials.js';

/** Where `lifeboat users` keeps staff: the local runtime (through its admin API) or a Cognito pool. */
export interface StaffTarget {
  list(): Promise<StaffAccount[]>;
  add(user: Record<string, unknown>): Promise<'created' | 'updated'>;
  import(format: 'csv' | 'json', text: string): Promise<{ created: number; updated: number }>;
  /** Unset where passwords are not Lifeboat's to set (Cognito). */
  passwd?(id: string, password: string): Promise<void>;
  /** Enrols an authenticator app (a new TOTP secret); unset where Cognito enrols it at sign-in. */
  totp?(id: string): Promise<{ id: string; secret: string; uri: string }>;
}

/** The local runtime's staff, through its admin API: the same audited actions as `POST /admin/users`. */
export function localStaffTarget(call: AdminCall): StaffTarget {
  return {
    async list() {
      return (await call('GET', '/admin/users')).users as StaffAccount[];
    },
    async add(user) {
      return (await call('POST', '/admin/users', user)).result as 'created' | 'updated';
    },
    async import(format, text) {
      return (await call('POST', '/admin/users/import', { format, text })) as {
        created: number;
        updated: number;
      };
    },
    async passwd(id, password) {
      await call('POST', `/local/users/${encodeURIComponent(id)}/password`, { password });
    },
    async totp(id) {
      return (await call('POST', `/local/users/${encodeURIComponent(id)}/totp`)) as {
        id: string;
        secret: string;
        uri: string;
      };
    },
  };
}

/**
 * A Cognito user pool's staff (`--user-pool`): the rows are checked here as the local import
 * checks them, every problem with its line, and nothing is created unless all are valid.
 */
export function poolStaffTarget(provisioner: StaffProvisioner, domains?: readonly string[]): StaffTarget {
  const check = (text: string, format: 'csv' | 'json', source: string): DirectoryUser[] => {
    try {
      return [...parseDirectoryText(text, format, { source, ...(domains ? { domains } : {}) }).users];
    } catch (err) {
      if (err instanceof ConfigError) throw new LifeboatError('VALIDATION_FAILED', err.message);
      throw err;
    }
  };
  // The SDK's errors (no credentials, no such pool, access denied) as one line, not a stack.
  const aws = async <T>(call: Promise<T>): Promise<T> => {
    try {
      return await call;
    } catch (err) {
      if (err instanceof LifeboatError) throw err;
      throw new LifeboatError('COGNITO', `user pool: ${(err as Error).name}: ${(err as Error).message}`);
    }
  };
  return {
    list: () => aws(provisioner.list()),
    add: (user) => {
      const [valid] = check(JSON.stringify([user]), 'json', 'user');
      return aws(provisioner.upsert(valid as DirectoryUser));
    },
    async import(format, text) {
      const counts = { created: 0, updated: 0 };
      for (const u of check(text, format, 'import')) counts[await aws(provisioner.upsert(u))]++;
      return counts;
    },
  };
}

export interface UsersIo {
  line(text: string): void;
  cwd: string;
  /** Reads standard input whole (--password-stdin). */
  stdin(): Promise<string>;
  /** Asks for a password on the terminal without echo; undefined when there is no terminal. */
  prompt?: ((question: string) => Promise<string>) | undefined;
}

export interface UsersOptions {
  name?: string | undefined;
  address?: string[] | undefined;
  group?: string[] | undefined;
  phone?: string | undefined;
  'password-prompt'?: boolean | undefined;
  'password-stdin'?: boolean | undefined;
  json?: boolean | undefined;
}

/** Asks twice on the terminal, without echo, until both answers match. */
export function terminalPrompt(): ((question: string) => Promise<string>) | undefined {
  if (!process.stdin.isTTY) return undefined;
  return (question) =>
    new Promise((resolve) => {
      let muted = false;
      const output = new Writable({
        write(chunk, _enc, done) {
          if (!muted) process.stdout.write(chunk);
          done();
        },
      });
      const rl = createInterface({ input: process.stdin, output, terminal: true });
      rl.question(question, (answer) => {
        rl.close();
        process.stdout.write('\n');
        resolve(answer);
      });
      muted = true;
    });
}

async function readPassword(opts: UsersOptions, io: UsersIo): Promise<string> {
  if (opts['password-stdin']) return (await io.stdin()).replace(/\r?\n$/, '');
  if (!io.prompt) {
    throw new LifeboatError(
      'USAGE',
      'no terminal to ask for the password on: pipe it in with --password-stdin',
    );
  }
  const first = await io.prompt('New password: ');
  const again = await io.prompt('Again: ');
  if (first !== again)
    throw new LifeboatError('PASSWORD_MISMATCH', 'the two passwords differ; nothing was changed');
  return first;
}

function table(users: StaffAccount[]): string[] {
  const rows = [
    ['ID', 'NAME', 'STATUS', 'PHONE', 'ADDRESSES'],
    ...users.map((u) => [u.id, u.name, u.status, u.phone ?? '-', u.addresses.join(', ')]),
  ];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

/**
 * `lifeboat users [list] | add <id> … | import <file> | passwd <id>`: who may sign in to the
 * webmail. Locally through the runtime's admin API (audited like every admin action); with
 * `--user-pool`, the Cognito pool.
 * @returns the exit status
 */
export async function usersCommand(
  positionals: string[],
  opts: UsersOptions,
  target: StaffTarget,
  io: UsersIo,
): Promise<number> {
  const [sub = 'list', ...args] = positionals;
  if (sub === 'list') {
    const users = await target.list();
    if (opts.json) io.line(JSON.stringify(users, null, 2));
    else if (users.length === 0)
      io.line('no staff yet: add one with `npx lifeboat users add <id> --name … --address …`');
    else for (const l of table(users)) io.line(l);
    return 0;
  }
  if (sub === 'add') {
    const [id] = args;
    if (!id || args.length > 1)
      throw new LifeboatError('USAGE', 'users add needs one id: users add <id> --name NAME --address ADDR');
    if (!opts.name) throw new LifeboatError('USAGE', 'users add needs --name');
    if (!opts.address?.length)
      throw new LifeboatError('USAGE', 'users add needs at least one --address (the primary first)');
    const wantsPassword = opts['password-prompt'] || opts['password-stdin'];
    // Read before anything changes: a mistyped password must not leave a user half made.
    const password = wantsPassword ? await readPassword(opts, io) : undefined;
    if (password !== undefined) checkPasswordRules(password);
    if (password !== undefined && !target.passwd) {
      throw new LifeboatError(
        'USAGE',
        'passwords of the user pool are set by Cognito (the invitation), not here',
      );
    }
    const result = await target.add({
      id,
      name: opts.name,
      addresses: opts.address,
      groups: opts.group ?? [],
      ...(opts.phone ? { phone: opts.phone } : {}),
    });
    if (password !== undefined) await target.passwd?.(id, password);
    io.line(`${id} ${result}${password !== undefined ? ', password set' : ''}`);
    return 0;
  }
  if (sub === 'import') {
    const [file] = args;
    if (!file || args.length > 1)
      throw new LifeboatError('USAGE', 'users import needs one file: users import <file.csv|file.json>');
    const full = path.resolve(io.cwd, file);
    let text: string;
    try {
      text = await readFile(full, 'utf8');
    } catch (err) {
      throw new LifeboatError('FILE_UNREADABLE', `${full} cannot be read: ${(err as Error).message}`);
    }
    const { created, updated } = await target.import(directoryFormat(file), text);
    io.line(`imported ${created + updated} users from ${file}: ${created} created, ${updated} updated`);
    return 0;
  }
  if (sub === 'passwd') {
    const [id] = args;
    if (!id || args.length > 1)
      throw new LifeboatError('USAGE', 'users passwd needs one id: users passwd <id>');
    if (!target.passwd) {
      throw new LifeboatError(
        'USAGE',
        'passwords of the user pool are set by Cognito: aws cognito-idp admin-set-user-password, or the invitation',
      );
    }
    await target.passwd(id, await readPassword({ ...opts, 'password-prompt': !opts['password-stdin'] }, io));
    io.line(`password of ${id} set`);
    return 0;
  }
  if (sub === 'totp') {
    const [id] = args;
    if (!id || args.length > 1) throw new LifeboatError('USAGE', 'users totp needs one id: users totp <id>');
    if (!target.totp) {
      throw new LifeboatError(
        'USAGE',
        'in the user pool each user adds an authenticator app at sign-in (Cognito asks for it, MFA being required)',
      );
    }
    const t = await target.totp(id);
    if (opts.json) io.line(JSON.stringify(t, null, 2));
    else {
      io.line(`authenticator for ${t.id} (any earlier one no longer works):`);
      io.line(`  ${t.uri}`);
      io.line(`  secret ${t.secret}   (type it into the app if it cannot read the link or a QR code of it)`);
      io.line('From now on the sign-in asks for the 6-digit code after the password.');
    }
    return 0;
  }
  throw new LifeboatError('USAGE', `unknown users command ${sub}: list, add, import, passwd or totp`);
}
