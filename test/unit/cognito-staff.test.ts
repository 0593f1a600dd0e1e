import {
  AdminAddUserToGroupCommand,
  AdminCreateUserCommand,
  AdminListGroupsForUserCommand,
  AdminRemoveUserFromGroupCommand,
  AdminUpdateUserAttributesCommand,
  CognitoIdentityProviderClient,
  ListGroupsCommand,
  ListUsersCommand,
  ListUsersInGroupCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { createCognitoStaffProvisioner, staffStatus } from '../../lambdas/adapters/cognito-staff.js';

const cognito = mockClient(CognitoIdentityProviderClient);
const POOL = 'eu-west-1_Abc123';

function provisioner() {
  return createCognitoStaffProvisioner({
    userPoolId: POOL,
    client: new CognitoIdentityProviderClient({ region: 'eu-west-1' }),
  });
}

const attrs = (o: Record<string, string>) => Object.entries(o).map(([Name, Value]) => ({ Name, Value }));

beforeEach(() => {
  cognito.reset();
  cognito.on(ListGroupsCommand).resolves({ Groups: [{ GroupName: 'lifeboat-admins' }] });
});

describe('createCognitoStaffProvisioner list', () => {
  it('lists every page of users with their addresses, phone, admin group and status', async () => {
    cognito
      .on(ListUsersCommand, { UserPoolId: POOL, PaginationToken: undefined })
      .resolves({
        Users: [
          {
            Username: 'uuid-bob',
            UserStatus: 'FORCE_CHANGE_PASSWORD',
            Enabled: true,
            Attributes: attrs({ email: 'bob@example.com', 'custom:addresses': 'bob@example.com' }),
          },
        ],
        PaginationToken: 'page-2',
      })
      .on(ListUsersCommand, { UserPoolId: POOL, PaginationToken: 'page-2' })
      .resolves({
        Users: [
          {
            Username: 'uuid-alice',
            UserStatus: 'CONFIRMED',
            Enabled: true,
            Attributes: attrs({
              email: 'Alice@Example.com',
              name: 'Alice Ng',
              'custom:addresses': 'alice@example.com, sales@example.com',
              phone_number: '+447700900123',
            }),
          },
        ],
      });
    cognito
      .on(ListUsersInGroupCommand, { GroupName: 'lifeboat-admins' })
      .resolves({ Users: [{ Username: 'uuid-alice' }] });

    expect(await provisioner().list()).toEqual([
      {
        id: 'alice@example.com',
        name: 'Alice Ng',
        addresses: ['alice@example.com', 'sales@example.com'],
        groups: ['lifeboat-admins'],
        phone: '+447700900123',
        status: 'enrolled',
      },
      {
        id: 'bob@example.com',
        name: 'bob@example.com',
        addresses: ['bob@example.com'],
        groups: [],
        phone: undefined,
        status: 'invited',
      },
    ]);
  });
});

describe('staffStatus', () => {
  it('maps Cognito user states to the directory’s', () => {
    expect(staffStatus({ Enabled: true, UserStatus: 'CONFIRMED' })).toBe('enrolled');
    expect(staffStatus({ Enabled: true, UserStatus: 'FORCE_CHANGE_PASSWORD' })).toBe('invited');
    expect(staffStatus({ Enabled: true, UserStatus: 'RESET_REQUIRED' })).toBe('invited');
    expect(staffStatus({ Enabled: true, UserStatus: 'EXTERNAL_PROVIDER' })).toBe('federated-only');
    expect(staffStatus({ Enabled: false, UserStatus: 'CONFIRMED' })).toBe('disabled');
  });
});

describe('createCognitoStaffProvisioner upsert', () => {
  it('creates a new user with verified address and phone, invites by SMS only, and adds the admin group', async () => {
    cognito.on(ListUsersCommand).resolves({ Users: [] });
    cognito.on(AdminCreateUserCommand).resolves({ User: { Username: 'uuid-carol' } });

    const outcome = await provisioner().upsert({
      id: 'Carol@example.com',
      name: 'Carol',
      addresses: ['carol@example.com'],
      groups: ['lifeboat-admins', 'sales'],
      phone: '+447700900456',
    });

    expect(outcome).toBe('created');
    const create = cognito.commandCalls(AdminCreateUserCommand)[0]?.args[0].input;
    expect(create?.Username).toBe('carol@example.com');
    expect(create?.DesiredDeliveryMediums).toEqual(['SMS']);
    expect(create?.MessageAction).toBeUndefined();
    expect(create?.UserAttributes).toEqual(
      expect.arrayContaining(
        attrs({
          email: 'carol@example.com',
          email_verified: 'true',
          'custom:addresses': 'carol@example.com',
          phone_number: '+447700900456',
          phone_number_verified: 'true',
        }),
      ),
    );
    // Only groups the pool has: 'sales' is the directory's business.
    expect(cognito.commandCalls(AdminAddUserToGroupCommand).map((c) => c.args[0].input)).toEqual([
      { UserPoolId: POOL, Username: 'uuid-carol', GroupName: 'lifeboat-admins' },
    ]);
  });

  it('sends no invitation at all to a user without a phone: never by email', async () => {
    cognito.on(ListUsersCommand).resolves({ Users: [] });
    cognito.on(AdminCreateUserCommand).resolves({ User: { Username: 'uuid-dan' } });

    await provisioner().upsert({
      id: 'dan@example.com',
      name: 'Dan',
      addresses: ['dan@example.com'],
      groups: [],
    });

    const create = cognito.commandCalls(AdminCreateUserCommand)[0]?.args[0].input;
    expect(create?.MessageAction).toBe('SUPPRESS');
    expect(create?.DesiredDeliveryMediums).toBeUndefined();
  });

  it('updates an existing user’s attributes and removes a group no longer listed, never recreating them', async () => {
    cognito.on(ListUsersCommand).resolves({
      Users: [
        { Username: 'Corporate_alice', UserStatus: 'EXTERNAL_PROVIDER' },
        { Username: 'uuid-alice', UserStatus: 'CONFIRMED' },
      ],
    });
    cognito.on(AdminListGroupsForUserCommand).resolves({ Groups: [{ GroupName: 'lifeboat-admins' }] });

    const outcome = await provisioner().upsert({
      id: 'alice@example.com',
      name: 'Alice',
      addresses: ['alice@example.com', 'Help@Example.com'],
      groups: [],
    });

    expect(outcome).toBe('updated');
    expect(cognito.commandCalls(AdminCreateUserCommand)).toHaveLength(0);
    const update = cognito.commandCalls(AdminUpdateUserAttributesCommand)[0]?.args[0].input;
    expect(update?.Username).toBe('uuid-alice');
    expect(update?.UserAttributes).toContainEqual({
      Name: 'custom:addresses',
      Value: 'alice@example.com,help@example.com',
    });
    expect(cognito.commandCalls(AdminRemoveUserFromGroupCommand).map((c) => c.args[0].input)).toEqual([
      { UserPoolId: POOL, Username: 'uuid-alice', GroupName: 'lifeboat-admins' },
    ]);
  });
});
