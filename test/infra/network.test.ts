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

    it('puts deliver, sweep and the probe in private subnets, and leaves ingest and the admin API outside', () => {
      expect(functionsInVpc(s)).toEqual(['ContinuityProbe', 'DeliveryDeliver', 'DeliverySweep']);
    });

    it('gives the probe the subnets and security group of deliver, so it reaches the primary from the same address', () => {
      const vpcConfig = (prefix: string) =>
        Object.entries(s.template.findResources('AWS::Lambda::Function')).find(([id]) =>
          id.startsWith(prefix),
        )?.[1].Properties.VpcConfig;
      expect(vpcConfig('ContinuityProbeFunction')).toEqual(vpcConfig('DeliveryDeliverFunction'));
      expect(vpcConfig('ContinuityProbeFunction').SubnetIds).toHaveLength(2);
    });

    it('keeps S3 and DynamoDB traffic off the NAT gateway and logs rejected flows', () => {
      s.template.resourceCountIs('AWS::EC2::VPCEndpoint', 2);
      s.template.resourceCountIs('AWS::EC2::FlowLog', 1);
    });

    it('lets the functions connect out only to the routes’ SMTP ports and to 443, and accepts nothing inbound', () => {
      const groups = Object.values(s.template.findResources('AWS::EC2::SecurityGroup')).filter((g) =>
        String(g.Properties.GroupDescription).startsWith('Lifeboat deliver'),
      );
      expect(groups).toHaveLength(1);
      const group = groups[0]!.Properties;
      expect(group.SecurityGroupIngress).toBeUndefined();
      expect(
        group.SecurityGroupEgress.map(
          (r: { IpProtocol: string; FromPort: number; ToPort: number; CidrIp: string }) => [
            r.IpProtocol,
            r.FromPort,
            r.ToPort,
            r.CidrIp,
          ],
        ),
      ).toEqual([
        ['tcp', 25, 25, '0.0.0.0/0'],
        ['tcp', 443, 443, '0.0.0.0/0'],
      ]);
    });

    it('opens each SMTP port the routes name once, whatever the number of hosts on it', () => {
      const twoPorts = synth({
        routes: [
          {
            name: 'primary',
            domains: ['example.com'],
            hosts: [
              { host: 'mx1.example.com', port: 25 },
              { host: 'mx2.example.com', port: 25 },
            ],
          },
          {
            name: 'other',
            domains: ['example.org'],
            hosts: [{ host: 'smtp.example.org', port: 587 }],
          },
        ],
        aws: { delivery: 'port25' },
      });
      const group = Object.values(twoPorts.template.findResources('AWS::EC2::SecurityGroup')).find((g) =>
        String(g.Properties.GroupDescription).startsWith('Lifeboat deliver'),
      )!.Properties;
      expect(group.SecurityGroupEgress.map((r: { FromPort: number }) => r.FromPort)).toEqual([25, 587, 443]);
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
