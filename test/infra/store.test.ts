import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
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

    it('has the byState queue index and the byMailbox index, projecting all attributes', () => {
      s.template.hasResourceProperties('AWS::DynamoDB::Table', {
        GlobalSecondaryIndexes: [
          {
            IndexName: 'byState',
            KeySchema: [
              { AttributeName: 'gsi1pk', KeyType: 'HASH' },
              { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
          {
            IndexName: 'byMailbox',
            KeySchema: [
              { AttributeName: 'gsi2pk', KeyType: 'HASH' },
              { AttributeName: 'gsi2sk', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
        AttributeDefinitions: Match.arrayWith([
          { AttributeName: 'gsi1pk', AttributeType: 'S' },
          { AttributeName: 'gsi2sk', AttributeType: 'S' },
        ]),
      });
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
