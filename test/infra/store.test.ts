import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { INDEXES, type IndexLayout } from '../../lambdas/storage-layout.js';
import { logicalId, type Synthesized, synth } from './stack.js';

describe('Store', () => {
  let s: Synthesized;
  let keyId: string;
  let mailBucketId: string;
  beforeAll(() => {
    s = synth({ retentionDays: 400 });
    keyId = logicalId(s.template, 'AWS::KMS::Key', 'StoreKey');
    mailBucketId = logicalId(s.template, 'AWS::S3::Bucket', 'StoreMail');
  });

  describe('mail bucket', () => {
    it('encrypts raw mail with SSE-KMS under the customer-managed key', () => {
      s.template.hasResourceProperties('AWS::S3::Bucket', {
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [
            {
              BucketKeyEnabled: true,
              ServerSideEncryptionByDefault: {
                SSEAlgorithm: 'aws:kms',
                KMSMasterKeyID: { 'Fn::GetAtt': [keyId, 'Arn'] },
              },
            },
          ],
        },
      });
    });

    it('blocks every kind of public access', () => {
      const bucket = s.template.toJSON().Resources[mailBucketId];
      expect(bucket.Properties.PublicAccessBlockConfiguration).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
    });

    it('denies any request not made over TLS', () => {
      s.template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: mailBucketId },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Principal: { AWS: '*' },
              Action: 's3:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
    });

    it('is versioned, expires raw mail after retentionDays and moves what the packer left to Glacier Instant Retrieval once its packing days are over, expires packs when their newest mail reaches retentionDays', () => {
      const bucket = s.template.toJSON().Resources[mailBucketId];
      expect(bucket.Properties.VersioningConfiguration).toEqual({ Status: 'Enabled' });
      expect(bucket.Properties.LifecycleConfiguration.Rules).toEqual([
        expect.objectContaining({
          Prefix: 'raw/',
          ExpirationInDays: 400,
          Status: 'Enabled',
          NoncurrentVersionExpiration: { NoncurrentDays: 30 },
          // 30 days of history, then the packer's three days.
          Transitions: [{ StorageClass: 'GLACIER_IR', TransitionInDays: 33 }],
        }),
        // Packed a day past the 30-day window: 370 days later its newest mail is 400 days old.
        expect.objectContaining({
          Prefix: 'packs/',
          ExpirationInDays: 370,
          NoncurrentVersionExpiration: { NoncurrentDays: 1 },
          Status: 'Enabled',
        }),
        // Attachments extracted for a presigned download link: a day, then gone.
        expect.objectContaining({
          Prefix: 'index/',
          NoncurrentVersionExpiration: { NoncurrentDays: 1 },
          Status: 'Enabled',
        }),
        // A signed upload's file: a day, then gone; draft bodies and messages as sent go with their records.
        expect.objectContaining({ Prefix: 'uploads/', ExpirationInDays: 1, Status: 'Enabled' }),
        expect.objectContaining({ Prefix: 'drafts/', ExpirationInDays: 30, Status: 'Enabled' }),
        expect.objectContaining({ Prefix: 'outgoing/', ExpirationInDays: 30, Status: 'Enabled' }),
        expect.objectContaining({ Prefix: 'attachments/', ExpirationInDays: 1, Status: 'Enabled' }),
      ]);
    });

    it('moves only objects of 128 KB or more, which Glacier IR does not bill above their size', () => {
      const bucket = s.template.toJSON().Resources[mailBucketId];
      expect(bucket.Properties.LifecycleConfiguration.TransitionDefaultMinimumObjectSize).toBe(
        'all_storage_classes_128K',
      );
    });

    it('moves raw mail the packer left when its packing days past historyDays are over, and expires packs by historyDays', () => {
      const later = synth({ retentionDays: 400, historyDays: 60 });
      const rules = later.template.toJSON().Resources[mailBucketId].Properties.LifecycleConfiguration.Rules;
      expect(rules[0].Transitions).toEqual([{ StorageClass: 'GLACIER_IR', TransitionInDays: 63 }]);
      expect(rules[1]).toMatchObject({ Prefix: 'packs/', ExpirationInDays: 340 });
    });

    it('has no pack rule when raw mail lives no longer than its records', () => {
      const same = synth({ retentionDays: 30, historyDays: 30 });
      const rules = same.template.toJSON().Resources[mailBucketId].Properties.LifecycleConfiguration.Rules;
      expect(rules.map((r: { Prefix: string }) => r.Prefix)).not.toContain('packs/');
    });

    it('keeps raw mail in Standard when it would leave Glacier IR before the 90 days Glacier IR bills', () => {
      const short = synth({ retentionDays: 100, historyDays: 30 });
      const rules = short.template.toJSON().Resources[mailBucketId].Properties.LifecycleConfiguration.Rules;
      expect(rules[0]).toMatchObject({ ExpirationInDays: 100 });
      expect(rules[0].Transitions).toBeUndefined();
    });

    it('logs access to a separate bucket', () => {
      const bucket = s.template.toJSON().Resources[mailBucketId];
      expect(bucket.Properties.LoggingConfiguration.DestinationBucketName).toEqual({
        Ref: logicalId(s.template, 'AWS::S3::Bucket', 'StoreAccessLogs'),
      });
    });
  });

  describe('table', () => {
    it('is on-demand with point-in-time recovery, KMS encryption and the expiresAt TTL', () => {
      s.template.hasResourceProperties('AWS::DynamoDB::Table', {
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: {
          SSEEnabled: true,
          SSEType: 'KMS',
          KMSMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] },
        },
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        DeletionProtectionEnabled: true,
      });
    });

    it('has the byState queue and sparse byAge indexes with whole records, and byMailbox with keys only, written once per delivery', () => {
      const gsi = (index: IndexLayout, ProjectionType: string) => ({
        IndexName: index.name,
        KeySchema: [
          { AttributeName: index.pk, KeyType: 'HASH' },
          { AttributeName: index.sk, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType },
      });
      s.template.hasResourceProperties('AWS::DynamoDB::Table', {
        GlobalSecondaryIndexes: [
          gsi(INDEXES.byState, 'ALL'),
          gsi(INDEXES.byMailbox, 'KEYS_ONLY'),
          gsi(INDEXES.byAge, 'ALL'),
        ],
        AttributeDefinitions: Match.arrayWith(
          ['gsi1pk', 'gsi1sk', 'gsi2pk', 'gsi2sk', 'gsi3pk', 'gsi3sk'].map((AttributeName) => ({
            AttributeName,
            AttributeType: 'S',
          })),
        ),
      });
    });

    it('keeps the index names of deployed tables (a renamed GSI is a new index, rebuilt from scratch)', () => {
      expect(INDEXES.byState).toMatchObject({ name: 'byState', pk: 'gsi1pk', sk: 'gsi1sk' });
      expect(INDEXES.byMailbox).toMatchObject({ name: 'byMailbox', pk: 'gsi2pk', sk: 'gsi2sk' });
      expect(INDEXES.byAge).toMatchObject({ name: 'byAge', pk: 'gsi3pk', sk: 'gsi3sk' });
    });
  });

  it('retains the bucket, the table and the key when the stack is deleted', () => {
    const resources = s.template.toJSON().Resources;
    for (const id of [mailBucketId, keyId, logicalId(s.template, 'AWS::DynamoDB::Table', 'StoreTable')]) {
      expect(resources[id], id).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    }
  });

  it('rotates the customer-managed key', () => {
    expect(s.template.toJSON().Resources[keyId].Properties.EnableKeyRotation).toBe(true);
  });
});
