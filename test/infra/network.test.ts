import { beforeAll, describe, expect, it } from 'vitest';
import { type Synthesized, synth } from './stack.js';

const port25Routes = [
  {
    name: 'primary',
    domains: ['example.com', 'example.org'],
    hosts: [{ host: 'example-com.mail.protection.outlook.com', port: 25 }],
    tls: 'starttls-required' as const,
  },
];

const functionsInVpc = (s: Synthesized) =>
  Object.entries(s.template.findResources('AWS::Lambda::Function'))
    .filter(([, fn]) => fn.Properties.VpcConfig !== undefined)
    .map(([id]) => id.replace(/Function[0-9A-F]{8}$/, ''))
    .sort();

describe('Delivery networking', () => {
  describe("aws.delivery 'port25'", () => {
    let s: Synthesized;
    beforeAll(() => {
      s = synth({ routes: port25Routes, aws: { delivery: 'port25' } });
    });

    it('creates a VPC with one NAT gateway on an Elastic IP the stack allocates and outputs', () => {
      s.template.resourceCountIs('AWS::EC2::VPC', 1);
      s.template.resourceCountIs('AWS::EC2::NatGateway', 1);
      const eips = s.template.findResources('AWS::EC2::EIP');
      const [eipId, eip] = Object.entries(eips)[0]!;
      expect(Object.keys(eips)).toHaveLength(1);
      expect(eip).toMatchObject({ DeletionPolicy: 'Retain', Properties: { Domain: 'vpc' } });
      s.template.hasResourceProperties('AWS::EC2::NatGateway', {
        AllocationId: { 'Fn::GetAtt': [eipId, 'AllocationId'] },
      });
      s.template.hasOutput('DeliveryElasticIp', { Value: { 'Fn::GetAtt': [eipId, 'PublicIp'] } });
    });

    it('puts deliver and sweep in private subnets, and leaves ingest outside', () => {
      expect(functionsInVpc(s)).toEqual(['DeliveryDeliver', 'DeliverySweep']);
    });

    it('keeps S3 and DynamoDB traffic off the NAT gateway and logs rejected flows', () => {
      s.template.resourceCountIs('AWS::EC2::VPCEndpoint', 2);
      s.template.resourceCountIs('AWS::EC2::FlowLog', 1);
    });

    it('reuses an Elastic IP named by aws.elasticIpAllocationId instead of allocating one', () => {
      const reused = synth({
        routes: port25Routes,
        aws: { delivery: 'port25', elasticIpAllocationId: 'eipalloc-0123456789abcdef0' },
      });
      reused.template.resourceCountIs('AWS::EC2::EIP', 0);
      reused.template.hasResourceProperties('AWS::EC2::NatGateway', {
        AllocationId: 'eipalloc-0123456789abcdef0',
      });
    });
  });

  describe("aws.delivery 'connector'", () => {
    it('creates no VPC, NAT gateway or Elastic IP, and no function runs in a VPC', () => {
      const s = synth();
      for (const type of ['AWS::EC2::VPC', 'AWS::EC2::NatGateway', 'AWS::EC2::EIP', 'AWS::EC2::Subnet']) {
        s.template.resourceCountIs(type, 0);
      }
      expect(functionsInVpc(s)).toEqual([]);
      expect(Object.keys(s.template.findOutputs('*'))).not.toContain('DeliveryElasticIp');
    });
  });
});
