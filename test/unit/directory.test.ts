import { describe, expect, it } from 'vitest';
import { parseConfig, webmailHistoryDays } from '../../lambdas/core/config.js';
import {
  addressesFor,
  createDirectory,
  type Directory,
  loadDirectory,
  MAX_ADDRESSES_PER_USER,
  parseCsv,
  parseDirectory,
  parseDirectoryText,
  resolveMailboxUser,
} from '../../lambdas/core/directory.js';
import { ConfigError } from '../../lambdas/core/errors.js';

const DOMAINS = ['example.com', 'example.net'];

function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('accepted');
}

function staff(): Directory {
  return parseDirectory(
    [
      {
        id: 'Alice',
        name: 'Alice Smith',
        addresses: ['Alice@Example.com', 'sales@example.com'],
        groups: ['staff'],
      },
      { id: 'bob', name: 'Bob Jones', addresses: ['bob@example.com'], phone: '+447700900456' },
    ],
    { source: 'test', domains: DOMAINS },
  );
}

describe('parseDirectory', () => {
  it('lower-cases ids and addresses and keeps the primary address first', () => {
    const d = staff();
    expect(d.byId('ALICE')).toEqual({
      id: 'alice',
      name: 'Alice Smith',
      addresses: ['alice@example.com', 'sales@example.com'],
      groups: ['staff'],
    });
    expect(d.byAddress('Sales@Example.COM')?.id).toBe('alice');
    expect(d.byId('bob')?.phone).toBe('+447700900456');
    expect(d.byId('carol')).toBeUndefined();
  });

  it('refuses an address owned by two users, naming both', () => {
    const problems = problemsOf(() =>
      parseDirectory(
        [
          { id: 'alice', name: 'A', addresses: ['alice@example.com', 'sales@example.com'] },
          { id: 'bob', name: 'B', addresses: ['bob@example.com', 'Sales@example.com'] },
        ],
        { source: 'test' },
      ),
    );
    expect(problems).toEqual([
      'users.1.addresses.1: sales@example.com is already an address of user 0: an address belongs to one user',
    ]);
  });

  it('reports every problem with its path in one round', () => {
    const problems = problemsOf(() =>
      parseDirectory(
        [
          { id: 'alice', name: 'A', addresses: ['not-an-address'] },
          { id: 'ALICE', name: '', addresses: [], phone: '07700 900123' },
          {
            id: 'carol',
            name: 'C',
            addresses: ['carol@elsewhere.org', 'carol@example.com', 'carol@example.com'],
          },
          { id: 'dave', name: 'D', addresses: ['dave@example.com'], shoeSize: 9 },
        ],
        { source: 'test', domains: DOMAINS },
      ),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        'users.0.addresses.0: must be an email address such as user@example.com',
        expect.stringMatching(/^users\.1\.name: /),
        'users.1.addresses: a user needs at least one address',
        'users.1.phone: must be an E.164 number such as +447700900123',
        expect.stringMatching(/^users\.3\.\(root\): .*shoeSize/),
        'users.1.id: alice is also the id of user 0',
        'users.2.addresses.0: carol@elsewhere.org is not in an accepted domain, so no mail for it can arrive',
        'users.2.addresses.2: carol@example.com is listed twice',
      ]),
    );
    expect(problems).toHaveLength(8);
  });

  it(`refuses more than ${MAX_ADDRESSES_PER_USER} addresses for one user`, () => {
    const addresses = Array.from({ length: MAX_ADDRESSES_PER_USER + 1 }, (_, i) => `a${i}@example.com`);
    expect(problemsOf(() => parseDirectory([{ id: 'a', name: 'A', addresses }], { source: 't' }))).toEqual([
      `users.0.addresses: at most ${MAX_ADDRESSES_PER_USER} addresses per user`,
    ]);
  });
});

describe('parseDirectoryText', () => {
  it('reads JSON as a list or as an object with users', () => {
    const list = '[{"id":"alice","name":"Alice","addresses":["alice@example.com"]}]';
    expect(parseDirectoryText(list, 'json', { source: 'f' }).byId('alice')?.name).toBe('Alice');
    const wrapped = `{"users":${list}}`;
    expect(parseDirectoryText(wrapped, 'json', { source: 'f' }).users).toHaveLength(1);
    expect(problemsOf(() => parseDirectoryText('{"users":', 'json', { source: 'f' }))[0]).toMatch(
      /^\(root\): not valid JSON/,
    );
  });

  it('reads CSV with quoted cells and several addresses per cell, reporting problems by line', () => {
    const csv = [
      'id,name,addresses,groups,phone',
      'alice,"Smith, Alice",alice@example.com;sales@example.com,staff finance,+447700900123',
      '',
      'bob,"Bob ""the builder"" Jones",bob@example.com,,',
    ].join('\r\n');
    const d = parseDirectoryText(csv, 'csv', { source: 'staff.csv' });
    expect(d.byId('alice')).toEqual({
      id: 'alice',
      name: 'Smith, Alice',
      addresses: ['alice@example.com', 'sales@example.com'],
      groups: ['staff', 'finance'],
      phone: '+447700900123',
    });
    expect(d.byId('bob')?.name).toBe('Bob "the builder" Jones');

    const bad = 'id,name,addresses\nalice,Alice,alice@example.com\n\nbob,Bob,alice@example.com\n';
    const problems = problemsOf(() => parseDirectoryText(bad, 'csv', { source: 'staff.csv' }));
    expect(problems).toEqual([
      'line 4.addresses.0: alice@example.com is already an address of user 0: an address belongs to one user',
    ]);
  });

  it('names a CSV header that lacks a column or has an unknown one', () => {
    expect(problemsOf(() => parseDirectoryText('id,name,mail\n', 'csv', { source: 'f' }))).toEqual([
      'line 1: the header has no "addresses" column',
      'line 1: unknown column "mail" (column 3); expected id, name, addresses, groups, phone, personalEmail',
    ]);
  });

  it('reads a personal email column, where staff notices are emailed', () => {
    const d = parseDirectoryText(
      'id,name,addresses,personalEmail\nbob,Bob,bob@example.com,Bob.Home@Example.net\n',
      'csv',
      { source: 'f' },
    );
    expect(d.byId('bob')?.personalEmail).toBe('bob.home@example.net');
  });
});

describe('parseCsv', () => {
  it('keeps commas and newlines inside quotes', () => {
    expect(parseCsv('a,"b,c","d\ne"\nf,g,h')).toEqual([
      ['a', 'b,c', 'd\ne'],
      ['f', 'g', 'h'],
    ]);
  });
});

describe('loadDirectory', () => {
  it('reads the file the config names, by its extension', async () => {
    const files: Record<string, string> = {
      'staff.csv': 'id,name,addresses\nalice,Alice,alice@example.com\n',
    };
    const d = await loadDirectory(
      { domains: DOMAINS, webmail: { directoryFile: 'staff.csv' } },
      async (f) => files[f] as string,
    );
    expect(d.byAddress('alice@example.com')?.id).toBe('alice');
  });

  it('names a file that cannot be read', async () => {
    await expect(
      loadDirectory({ domains: DOMAINS, webmail: { directoryFile: 'missing.json' } }, async () => {
        throw new Error('ENOENT');
      }),
    ).rejects.toThrow(
      /webmail.directoryFile missing.json is invalid:\n {2}- \(root\): cannot be read: ENOENT/,
    );
  });

  it('is empty when the config names no directory', async () => {
    const d = await loadDirectory({ domains: DOMAINS, webmail: {} }, async () => '');
    expect(d.users).toEqual([]);
  });
});

describe('resolveMailboxUser', () => {
  it('finds the user by the IdP username and gives the directory addresses, primary first', () => {
    expect(resolveMailboxUser(staff(), { 'cognito:username': 'alice', sub: 'x' })).toEqual({
      id: 'alice',
      name: 'Alice Smith',
      addresses: ['alice@example.com', 'sales@example.com'],
      groups: ['staff'],
    });
  });

  it('finds the user by a verified email, as the id or as one of the addresses', () => {
    expect(addressesFor(staff(), { sub: 'opaque', email: 'Sales@example.com' })).toEqual([
      'alice@example.com',
      'sales@example.com',
    ]);
    expect(addressesFor(staff(), { sub: 'opaque', upn: 'bob@example.com' })).toEqual(['bob@example.com']);
  });

  it('ignores an email the token says is unverified, and preferred_username always', () => {
    expect(addressesFor(staff(), { sub: 'u1', email: 'alice@example.com', email_verified: false })).toEqual(
      [],
    );
    expect(addressesFor(staff(), { sub: 'u1', email: 'alice@example.com', email_verified: 'false' })).toEqual(
      [],
    );
    expect(addressesFor(staff(), { sub: 'u1', preferred_username: 'alice@example.com' })).toEqual([]);
  });

  it('adds addresses a federated IdP asserts, only on accepted domains and never another user’s', () => {
    const claims = {
      username: 'bob',
      'custom:addresses': 'bob.jones@example.net,ALICE@example.com, bob@elsewhere.org, junk',
    };
    expect(addressesFor(staff(), claims, { domains: DOMAINS })).toEqual([
      'bob@example.com',
      'bob.jones@example.net',
    ]);
    const federated = resolveMailboxUser(
      createDirectory([]),
      { sub: 'f-1', email: 'carol@example.com', addresses: ['carol@example.com'], name: 'Carol' },
      { domains: DOMAINS },
    );
    expect(federated).toEqual({
      id: 'carol@example.com',
      name: 'Carol',
      addresses: ['carol@example.com'],
      groups: [],
    });
  });

  it('gives no address to a signed-in user the directory does not list and no claim vouches for', () => {
    const user = resolveMailboxUser(staff(), { sub: 'stranger', email: 'stranger@example.com' });
    expect(user.addresses).toEqual([]);
    expect(user.id).toBe('stranger@example.com');
  });
});

describe('config: webmail', () => {
  const base = {
    domains: ['example.com'],
    routes: [{ name: 'r', domains: ['example.com'], hosts: [{ host: 'h' }] }],
  };

  it('defaults to 30 days of history and five-minute links, capped by the records kept', () => {
    const c = parseConfig(base);
    expect(c.webmail).toEqual({
      historyDays: 30,
      linkTtlSeconds: 300,
      send: { maxRecipients: 50, messagesPerHour: 60, recipientsPerDay: 500, undoSeconds: 10 },
    });
    expect(webmailHistoryDays(c)).toBe(30);
    expect(webmailHistoryDays(parseConfig({ ...base, historyDays: 10, queue: { lifetimeHours: 120 } }))).toBe(
      10,
    );
  });

  it('validates inline users and their addresses across users, with paths', () => {
    const problems = problemsOf(() =>
      parseConfig({
        ...base,
        webmail: {
          users: [
            { id: 'a', name: 'A', addresses: ['a@example.com'] },
            { id: 'b', name: 'B', addresses: ['A@example.com', 'b@other.org'] },
          ],
          linkTtlSeconds: 86_400,
        },
      }),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        'webmail.linkTtlSeconds: Too big: expected number to be <=3600',
        'webmail.users.1.addresses.0: a@example.com is already an address of user 0: an address belongs to one user',
        'webmail.users.1.addresses.1: b@other.org is not in an accepted domain, so no mail for it can arrive',
      ]),
    );
  });

  it('refuses a directory given both inline and as a file', () => {
    const problems = problemsOf(() =>
      parseConfig({
        ...base,
        webmail: {
          directoryFile: 'staff.csv',
          users: [{ id: 'a', name: 'A', addresses: ['a@example.com'] }],
        },
      }),
    );
    expect(problems).toEqual([
      'webmail.users: give the directory once: webmail.users or webmail.directoryFile, not both',
    ]);
  });
});
