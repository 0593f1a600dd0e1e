import {
  AdminAddUserToGroupCommand,
  AdminCreateUserCommand,
  AdminListGroupsForUserCommand,
  AdminRemoveUserFromGroupCommand,
  AdminUpdateUserAttributesCommand,
  type AttributeType,
  CognitoIdentityProviderClient,
  ListGroupsCommand,
  ListUsersCommand,
  ListUsersInGroupCommand,
  type UserType,
} from '@aws-sdk/client-cognito-identity-provider';
import type { StaffAccount, StaffProvisioner } from '../ports.js';

/** The custom attribute holding a user's addresses, comma-separated (infra/aws/constructs/staff-auth.ts). */
export const ADDRESSES_ATTRIBUTE = 'custom:addresses';

/** ListUsers returns at most 60 users a page; ListGroups and ListUsersInGroup at most 60 too. */
const PAGE_LIMIT = 60;

/** The calls the provisioner makes: a real client, or a fake in tests. */
export type CognitoSend = Pick<CognitoIdentityProviderClient, 'send'>;

export interface CognitoStaffOptions {
  userPoolId: string;
  /** @default the SDK's region from the environment */
  region?: string | undefined;
  /** @default a client for `region` */
  client?: CognitoSend | undefined;
}

const attr = (user: Pick<UserType, 'Attributes'>, name: string): string | undefined =>
  user.Attributes?.find((a) => a.Name === name)?.Value;

/** Where a Cognito user stands, in the directory's terms. */
export function staffStatus(user: Pick<UserType, 'Enabled' | 'UserStatus'>): StaffAccount['status'] {
  if (user.Enabled === false) return 'disabled';
  switch (user.UserStatus) {
    case 'CONFIRMED':
      // A Cognito password is set and, the pool requiring MFA, a second factor with it.
      return 'enrolled';
    case 'EXTERNAL_PROVIDER':
      return 'federated-only';
    default:
      // FORCE_CHANGE_PASSWORD, RESET_REQUIRED, UNCONFIRMED: the first sign-in is still to come.
      return 'invited';
  }
}

function splitAddresses(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((a) => a.trim().toLowerCase())
    .filter(Boolean);
}

/**
 * `lifeboat users` against the staff user pool: lists the pool's users with their groups, and
 * creates or updates a user with AdminCreateUser / AdminUpdateUserAttributes and the group calls.
 *
 * A new user's address and phone are marked verified (the admin vouches for them), so Cognito
 * sends no verification message. The invitation (a temporary password) goes by SMS to the personal
 * phone, never by email: the work mailbox is the one that fails. A user without a phone gets no
 * invitation at all (MessageAction SUPPRESS): they sign in through the corporate IdP only, until an
 * admin adds a phone and sets a temporary password (`aws cognito-idp admin-set-user-password`).
 * Only groups that exist in the pool are synchronised (the admin group); others are left to the
 * directory.
 */
export function createCognitoStaffProvisioner(options: CognitoStaffOptions): StaffProvisioner {
  const client: CognitoSend = options.client ?? new CognitoIdentityProviderClient({ region: options.region });
  const UserPoolId = options.userPoolId;

  async function poolGroups(): Promise<string[]> {
    const names: string[] = [];
    let NextToken: string | undefined;
    do {
      const page = await client.send(new ListGroupsCommand({ UserPoolId, Limit: PAGE_LIMIT, NextToken }));
      for (const g of page.Groups ?? []) if (g.GroupName) names.push(g.GroupName);
      NextToken = page.NextToken;
    } while (NextToken);
    return names;
  }

  async function findByEmail(email: string): Promise<UserType | undefined> {
    const page = await client.send(
      new ListUsersCommand({ UserPoolId, Filter: `email = "${email.replace(/["\\]/g, '')}"`, Limit: 2 }),
    );
    // A federated profile (`<provider>_<id>`) can share the address; the Cognito user is the one to manage.
    return (page.Users ?? []).find((u) => u.UserStatus !== 'EXTERNAL_PROVIDER');
  }

  return {
    async list() {
      const groupsOf = new Map<string, string[]>();
      for (const GroupName of await poolGroups()) {
        let NextToken: string | undefined;
        do {
          const page = await client.send(
            new ListUsersInGroupCommand({ UserPoolId, GroupName, Limit: PAGE_LIMIT, NextToken }),
          );
          for (const u of page.Users ?? []) {
            if (!u.Username) continue;
            groupsOf.set(u.Username, [...(groupsOf.get(u.Username) ?? []), GroupName]);
          }
          NextToken = page.NextToken;
        } while (NextToken);
      }
      const accounts: StaffAccount[] = [];
      let PaginationToken: string | undefined;
      do {
        const page = await client.send(
          new ListUsersCommand({ UserPoolId, Limit: PAGE_LIMIT, PaginationToken }),
        );
        for (const user of page.Users ?? []) {
          const email = attr(user, 'email')?.toLowerCase();
          const id = email ?? user.Username ?? '';
          const phone = attr(user, 'phone_number');
          accounts.push({
            id,
            name: attr(user, 'name') ?? id,
            addresses: splitAddresses(attr(user, ADDRESSES_ATTRIBUTE)),
            groups: groupsOf.get(user.Username ?? '') ?? [],
            phone,
            status: staffStatus(user),
          });
        }
        PaginationToken = page.PaginationToken;
      } while (PaginationToken);
      return accounts.sort((a, b) => a.id.localeCompare(b.id));
    },

    async upsert(user) {
      const email = user.id.trim().toLowerCase();
      const attributes: AttributeType[] = [
        { Name: 'name', Value: user.name },
        { Name: ADDRESSES_ATTRIBUTE, Value: user.addresses.map((a) => a.toLowerCase()).join(',') },
      ];
      if (user.phone) {
        attributes.push(
          { Name: 'phone_number', Value: user.phone },
          { Name: 'phone_number_verified', Value: 'true' },
        );
      }
      const existing = await findByEmail(email);
      let username: string;
      let outcome: 'created' | 'updated';
      if (existing?.Username) {
        username = existing.Username;
        await client.send(
          new AdminUpdateUserAttributesCommand({
            UserPoolId,
            Username: username,
            UserAttributes: attributes,
          }),
        );
        outcome = 'updated';
      } else {
        const created = await client.send(
          new AdminCreateUserCommand({
            UserPoolId,
            Username: email,
            UserAttributes: [
              { Name: 'email', Value: email },
              { Name: 'email_verified', Value: 'true' },
              ...attributes,
            ],
            ...(user.phone ? { DesiredDeliveryMediums: ['SMS'] } : { MessageAction: 'SUPPRESS' }),
          }),
        );
        username = created.User?.Username ?? email;
        outcome = 'created';
      }
      const inPool = new Set(await poolGroups());
      const wanted = new Set(user.groups.filter((g) => inPool.has(g)));
      const current = new Set<string>();
      if (outcome === 'updated') {
        let NextToken: string | undefined;
        do {
          const page = await client.send(
            new AdminListGroupsForUserCommand({
              UserPoolId,
              Username: username,
              Limit: PAGE_LIMIT,
              NextToken,
            }),
          );
          for (const g of page.Groups ?? []) if (g.GroupName) current.add(g.GroupName);
          NextToken = page.NextToken;
        } while (NextToken);
      }
      for (const GroupName of wanted) {
        if (!current.has(GroupName)) {
          await client.send(new AdminAddUserToGroupCommand({ UserPoolId, Username: username, GroupName }));
        }
      }
      for (const GroupName of current) {
        if (!wanted.has(GroupName)) {
          await client.send(
            new AdminRemoveUserFromGroupCommand({ UserPoolId, Username: username, GroupName }),
          );
        }
      }
      return outcome;
    },
  };
}
