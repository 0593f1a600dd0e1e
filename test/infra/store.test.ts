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

    it('is versioned and expires raw mail after retentionDays', () => {
      const bucket = s.template.toJSON().Resources[mailBucketId];
      expect(bucket.Properties.VersioningConfiguration).toEqual({ Status: 'Enabled' });
      expect(bucket.Properties.LifecycleConfiguration.Rules).toEqual([
        expect.objectContaining({ Prefix: 'raw/', ExpirationInDays: 400, Status: 'Enabled' }),
      ]);
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

    it('has the byState queue, byMailbox and sparse byAge indexes of the storage layout, projecting all attributes', () => {
      const gsi = (index: IndexLayout) => ({
        IndexName: index.name,
        KeySchema: [
          { AttributeName: index.pk, KeyType: 'HASH' },
          { AttributeName: index.sk, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      });
      s.template.hasResourceProperties('AWS::DynamoDB::Table', {
        GlobalSecondaryIndexes: [gsi(INDEXES.byState), gsi(INDEXES.byMailbox), gsi(INDEXES.byAge)],
        AttributeDefinitions: Match.arrayWith(
          ['gsi1pk', 'gsi1sk', 'gsi2pk', 'gsi2sk', 'gsi3pk', 'gsi3sk'].map((AttributeName) => ({
            AttributeName,
            AttributeType: 'S',
          })),
        ),
      });
    });

    it('keeps the index names of deployed tables (a renamed GSI is a new index, rebuilt from scratch)', () => {
      expect(INDEXES.byState).toEqual({ name: 'byState', pk: 'gsi1pk', sk: 'gsi1sk' });
      expect(INDEXES.byMailbox).toEqual({ name: 'byMailbox', pk: 'gsi2pk', sk: 'gsi2sk' });
      expect(INDEXES.byAge).toEqual({ name: 'byAge', pk: 'gsi3pk', sk: 'gsi3sk' });
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
