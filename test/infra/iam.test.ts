import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../infra/aws/deployment-config.js';
import { list, logicalId, type Statement, type Synthesized, sesArn, synth } from './stack.js';

/** Every identity-policy statement in the template, with the logical id of its policy. */
function statements(s: Synthesized): { policy: string; statement: Statement }[] {
  return Object.entries(s.template.findResources('AWS::IAM::Policy')).flatMap(([policy, r]) =>
    (r.Properties.PolicyDocument.Statement as Statement[]).map((statement) => ({ policy, statement })),
  );
}

/** The IAM action behind each DynamoDB document-client command (a transaction needs its items' actions). */
const COMMAND_ACTIONS: Record<string, string[]> = {
  GetCommand: ['dynamodb:GetItem'],
  PutCommand: ['dynamodb:PutItem'],
  UpdateCommand: ['dynamodb:UpdateItem'],
  DeleteCommand: ['dynamodb:DeleteItem'],
  QueryCommand: ['dynamodb:Query'],
  ScanCommand: ['dynamodb:Scan'],
  BatchGetCommand: ['dynamodb:BatchGetItem'],
  BatchWriteCommand: ['dynamodb:BatchWriteItem'],
  TransactGetCommand: ['dynamodb:GetItem'],
  TransactWriteCommand: [
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
    'dynamodb:ConditionCheckItem',
  ],
};

/** The IAM actions of every command the DynamoDB adapter sends, read from its source, sorted. */
function dynamoActionsIssuedByAdapter(): string[] {
  const source = readFileSync(join(REPO_ROOT, 'lambdas/adapters/dynamo-store.ts'), 'utf8');
  const commands = new Set([...source.matchAll(/new (\w+Command)\(/g)].map((m) => m[1] as string));
  const actions = [...commands].flatMap((command) => {
    const mapped = COMMAND_ACTIONS[command];
    if (!mapped) throw new Error(`no IAM action known for ${command}: add it to the table grant and here`);
    return mapped;
  });
  return [...new Set(actions)].sort();
}

/** Statements AWS only accepts with Resource "*", each for a stated reason. */
const STAR_ALLOWED: Record<string, string> = {
  // Neither receipt-rule-set call has resource-level permissions.
  'ses:DescribeActiveReceiptRuleSet,ses:SetActiveReceiptRuleSet': 'activation custom resource',
  // Lambda's VPC network interfaces are created before they have ARNs; Describe* has no resource types.
  'ec2:AssignPrivateIpAddresses,ec2:CreateNetworkInterface,ec2:DeleteNetworkInterface,ec2:DescribeNetworkInterfaces,ec2:DescribeSubnets,ec2:UnassignPrivateIpAddresses':
    'Lambda VPC networking',
  // Publish with a PhoneNumber (SMS pages) has no resource ARN.
  'sns:Publish': 'SMS paging',
  // CDK's web app upload clears the distribution's cache; its policy names no distribution.
  'cloudfront:CreateInvalidation,cloudfront:GetInvalidation': 'web app upload',
};

const port25 = {
  routes: [
    {
      name: 'primary',
      domains: ['example.com', 'example.org'],
      hosts: [{ host: 'mx.example.com', port: 25 }],
      auth: {
        user: 'relay',
        secretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:lifeboat/relay-AbC123',
      },
    },
  ],
  aws: { delivery: 'port25' as const },
};

describe('IAM', () => {
  for (const [mode, overrides] of [
    ['connector', {}],
    ['port25', port25],
  ] as const) {
    it(`uses Resource "*" only where AWS requires it (${mode})`, () => {
      const s = synth(overrides);
      for (const { policy, statement } of statements(s)) {
        if (list(statement.Resource).includes('*')) {
          const actions = list(statement.Action).sort().join(',');
          expect(STAR_ALLOWED[actions], `${policy}: ${actions} on *`).toBeDefined();
        }
        for (const action of list(statement.Action)) {
          expect(action, policy).not.toMatch(/^[a-z0-9-]+:\*$/);
        }
      }
    });
  }

  it('lets only the mail path, the indexer, the webmail, the sending side and the admin API read raw mail, and only the sending side write it', () => {
    const s = synth();
    const bucketArn = { 'Fn::GetAtt': [logicalId(s.template, 'AWS::S3::Bucket', 'StoreMail'), 'Arn'] };
    const prefix = (p: string) => ({ 'Fn::Join': ['', [bucketArn, `/${p}*`]] });
    const onMail = statements(s).filter(
      ({ statement }) =>
        list(statement.Action).some((a) => a.startsWith('s3:')) &&
        JSON.stringify(statement.Resource).includes(JSON.stringify(bucketArn)),
    );
    const name = (policy: string) => policy.replace(/RoleDefaultPolicy.*/, '');
    const readersOf = (p: string) =>
      [
        ...new Set(
          onMail
            .filter(({ statement }) => JSON.stringify(statement.Resource).includes(`/${p}*`))
            .map(({ policy }) => name(policy)),
        ),
      ].sort();
    expect(readersOf('raw/')).toEqual([
      'AdminApi',
      'ContinuityProbe',
      'DeliveryDeliver',
      'DeliverySweep',
      'InboundIngest',
      'SearchIndexer',
      'SendingEvents',
      'SendingOutbound',
      'Webmail',
    ]);
    // Both functions behind the HTTP API. The admin API reads raw mail so that an admin can
    // inspect quarantined mail safely before releasing or deleting it (the quarantine preview,
    // audited as quarantine-view; the sanitised reading of the webmail, no links) and so that a
    // bounce can quote the original; it reads raw/ only, and none of the webmail's prefixes.
    expect(readersOf('raw/').filter((p) => /^(AdminApi|Webmail)/.test(p))).toEqual(['AdminApi', 'Webmail']);
    expect(readersOf('index/')).toEqual(['SearchIndexer', 'Webmail']);
    expect(readersOf('attachments/')).toEqual(['Webmail']);
    expect(readersOf('outgoing/')).toEqual(['SendingEvents', 'SendingOutbound', 'Webmail']);
    expect(readersOf('uploads/')).toEqual(['Webmail']);
    expect(readersOf('packs/')).toEqual(['DeliverySweep']);
    // Raw mail is SES's to write, and the sending side's for the mail Lifeboat writes itself (a
    // colleague's copy, a sent copy, a bounce notice), taken in as inbound mail; the probe writes a
    // running drill's probe messages, below raw/drill- only.
    // The outbound function deletes a sent draft's body (s3:DeleteObject on drafts/ only).
    // The sweep packs raw mail past the history window: it puts packs/ and deletes the packed originals.
    const writable = (policy: string) =>
      policy.startsWith('DeliverySweep')
        ? [prefix('packs/'), prefix('raw/')]
        : policy.startsWith('SendingOutbound')
          ? [prefix('raw/'), prefix('drafts/')]
          : policy.startsWith('Sending')
            ? [prefix('raw/')]
            : policy.startsWith('ContinuityProbe')
              ? [prefix('index/'), prefix('attachments/'), prefix('raw/drill-')]
              : policy.startsWith('Webmail')
                ? [
                    prefix('index/'),
                    prefix('attachments/'),
                    prefix('drafts/'),
                    prefix('uploads/'),
                    prefix('outgoing/'),
                  ]
                : [prefix('index/'), prefix('attachments/')];
    for (const { policy, statement } of onMail) {
      const writes = list(statement.Action).some((a) => /^s3:(Put|Delete|Abort)/.test(a));
      if (writes) {
        for (const resource of list(statement.Resource)) {
          expect(writable(policy), policy).toContainEqual(resource);
        }
      } else {
        expect(
          list(statement.Action).every((a) => /^s3:(Get|List)/.test(a)),
          policy,
        ).toBe(true);
      }
    }
  });

  it('lets each function make exactly the DynamoDB calls the adapter issues, on the table and its indexes', () => {
    const s = synth();
    const issued = dynamoActionsIssuedByAdapter();
    expect(issued).toContain('dynamodb:UpdateItem');
    const tableArn = { 'Fn::GetAtt': [logicalId(s.template, 'AWS::DynamoDB::Table', 'StoreTable'), 'Arn'] };
    const dynamo = statements(s).filter(({ statement }) =>
      list(statement.Action).some((a) => a.startsWith('dynamodb:')),
    );
    expect(dynamo.map(({ policy }) => policy.replace(/RoleDefaultPolicy.*/, '')).sort()).toEqual([
      'AdminApi',
      'ContinuityProbe',
      'DeliveryDeliver',
      'DeliverySweep',
      'InboundIngest',
      'SearchIndexer',
      'SendingEvents',
      'SendingOutbound',
      'Webmail',
    ]);
    for (const { policy, statement } of dynamo) {
      expect([...list(statement.Action)].sort(), policy).toEqual(issued);
      expect(statement.Resource, policy).toEqual([tableArn, { 'Fn::Join': ['', [tableArn, '/index/*']] }]);
    }
  });

  it('grants read of exactly the SMTP AUTH secrets the routes name, to deliver, sweep and the probe only', () => {
    const s = synth({
      routes: [
        {
          name: 'com',
          domains: ['example.com'],
          hosts: [{ host: 'mail.example.com', port: 587 }],
          auth: { user: 'a', secretId: 'lifeboat/com-smtp' },
        },
        {
          name: 'org',
          domains: ['example.org'],
          hosts: [{ host: 'mail.example.org', port: 465 }],
          auth: {
            user: 'b',
            secretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:lifeboat/org-smtp-AbC123',
          },
        },
      ],
    });
    const secretStatements = statements(s).filter(({ statement }) =>
      list(statement.Action).includes('secretsmanager:GetSecretValue'),
    );
    expect(secretStatements.map(({ policy }) => policy.replace(/RoleDefaultPolicy.*/, '')).sort()).toEqual([
      'ContinuityProbe',
      'DeliveryDeliver',
      'DeliverySweep',
    ]);
    for (const { statement } of secretStatements) {
      expect(list(statement.Resource)).toHaveLength(2);
      expect(statement.Resource).toEqual(
        expect.arrayContaining([
          {
            'Fn::Join': [
              '',
              [
                'arn:',
                { Ref: 'AWS::Partition' },
                ':secretsmanager:',
                { Ref: 'AWS::Region' },
                ':',
                { Ref: 'AWS::AccountId' },
                ':secret:lifeboat/com-smtp-??????',
              ],
            ],
          },
          'arn:aws:secretsmanager:eu-west-1:123456789012:secret:lifeboat/org-smtp-AbC123',
        ]),
      );
    }
  });

  it('gives ingest invoke on deliver and nothing on secrets', () => {
    const s = synth();
    const deliverArn = {
      'Fn::GetAtt': [logicalId(s.template, 'AWS::Lambda::Function', 'DeliveryDeliverFunction'), 'Arn'],
    };
    const ingest = statements(s).filter(({ policy }) => policy.startsWith('InboundIngestRole'));
    expect(
      ingest.find(({ statement }) => statement.Action === 'lambda:InvokeFunction')?.statement.Resource,
    ).toEqual([deliverArn, { 'Fn::Join': ['', [deliverArn, ':*']] }]);
    expect(
      ingest.some(({ statement }) => list(statement.Action).some((a) => a.startsWith('secretsmanager:'))),
    ).toBe(false);
  });

  it('attaches no AWS managed policy to a Lifeboat function role', () => {
    const s = synth(port25);
    for (const [id, role] of Object.entries(s.template.findResources('AWS::IAM::Role'))) {
      if (/^(Inbound|Delivery|Continuity|AdminApi|Search|Webmail)/.test(id)) {
        expect(role.Properties.ManagedPolicyArns, id).toBeUndefined();
      }
    }
  });

  describe('the probe and the admin API', () => {
    const getAtt = (s: Synthesized, type: string, prefix: string) => ({
      'Fn::GetAtt': [logicalId(s.template, type, prefix), 'Arn'],
    });
    const of = (s: Synthesized, prefix: string) =>
      statements(s).filter(({ policy }) => policy.startsWith(prefix));

    it('name only their table, bucket, key, route secret, admin topic, log group and failure queue', () => {
      const s = synth();
      const table = getAtt(s, 'AWS::DynamoDB::Table', 'StoreTable');
      const bucket = getAtt(s, 'AWS::S3::Bucket', 'StoreMail');
      const shared = [
        table,
        { 'Fn::Join': ['', [table, '/index/*']] },
        bucket,
        { 'Fn::Join': ['', [bucket, '/raw/*']] },
        getAtt(s, 'AWS::KMS::Key', 'StoreKey'),
        { Ref: logicalId(s.template, 'AWS::SNS::Topic', 'ContinuityAdminEmail') },
        getAtt(s, 'AWS::SQS::Queue', 'MonitoringFailedInvocations'),
      ];
      const secret = {
        'Fn::Join': [
          '',
          [
            'arn:',
            { Ref: 'AWS::Partition' },
            ':secretsmanager:',
            { Ref: 'AWS::Region' },
            ':',
            { Ref: 'AWS::AccountId' },
            ':secret:lifeboat/primary-smtp-??????',
          ],
        ],
      };
      for (const [prefix, own] of [
        [
          'ContinuityProbe',
          [
            getAtt(s, 'AWS::Logs::LogGroup', 'ContinuityProbeLogs'),
            secret,
            // A drill's probe messages, stored as received mail.
            { 'Fn::Join': ['', [bucket, '/raw/drill-*']] },
            // The queue its later tick of each run comes from (its event source mapping).
            getAtt(s, 'AWS::SQS::Queue', 'ContinuityRoundTick1'),
          ],
        ],
        [
          'AdminApi',
          [
            getAtt(s, 'AWS::Logs::LogGroup', 'AdminApiLogs'),
            // Staff notices by email, from the identity of the first accepted domain.
            sesArn('identity/example.com'),
          ],
        ],
      ] as const) {
        const found = of(s, prefix);
        expect(found.length, prefix).toBeGreaterThan(0);
        const allowed = [...shared, ...own];
        for (const { policy, statement } of found) {
          for (const resource of list(statement.Resource)) {
            if (resource === '*') expect(statement.Action, policy).toBe('sns:Publish');
            else expect(allowed, `${policy}: ${JSON.stringify(resource)}`).toContainEqual(resource);
          }
        }
      }
      expect(
        of(s, 'AdminApi').some(({ statement }) =>
          list(statement.Action).some((a) => /^(secretsmanager|ec2|lambda):/.test(a)),
        ),
      ).toBe(false);
    });

    it('may send SMS only by sns:Publish in the stack’s region, in a policy of its own', () => {
      const s = synth();
      const sms = statements(s).filter(
        ({ statement }) =>
          list(statement.Resource).includes('*') && list(statement.Action).includes('sns:Publish'),
      );
      expect(sms.map(({ policy }) => policy.replace(/[0-9A-F]{8}$/, '')).sort()).toEqual([
        'AdminApiSmsPaging',
        'ContinuityProbeSmsPaging',
      ]);
      for (const { statement } of sms) {
        expect(statement).toMatchObject({
          Effect: 'Allow',
          Action: 'sns:Publish',
          Condition: { StringEquals: { 'aws:RequestedRegion': { Ref: 'AWS::Region' } } },
        });
      }
    });

    it('may not send SMS at all when no admin or staff phone is configured', () => {
      const s = synth({ continuity: { paging: { adminPhones: [] }, staff: { phones: [] } } });
      expect(
        Object.keys(s.template.findResources('AWS::IAM::Policy')).filter((id) => id.includes('Sms')),
      ).toEqual([]);
      expect(
        statements(s).some(
          ({ statement }) =>
            list(statement.Action).includes('sns:Publish') && list(statement.Resource).includes('*'),
        ),
      ).toBe(false);
    });
  });
});
