import { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/**
 * Two zones keep the functions running when one zone fails; the single NAT gateway is the one address
 * the primary and AWS's port-25 unblock know, so it is not duplicated (a second would be a second IP).
 */
const AVAILABILITY_ZONES = 2;

/** AWS APIs (Secrets Manager, SNS, Lambda, KMS; S3 and DynamoDB through their gateway endpoints) use HTTPS. */
export const HTTPS_PORT = 443;

export interface DeliveryNetworkProps {
  /**
   * An Elastic IP you already own (`eipalloc-…`), kept across redeploys.
   * @default a new Elastic IP allocated by the stack
   */
  readonly elasticIpAllocationId?: string | undefined;
  /** Days the VPC flow log is kept. */
  readonly flowLogRetention: logs.RetentionDays;
  /** The TCP ports of the routes' hosts: the only ports, with 443, the functions may connect out to. */
  readonly smtpPorts: readonly number[];
}

/**
 * `aws.delivery: port25` only. AWS blocks outbound port 25 from Lambda, so deliver, sweep and probe (its
 * SMTP check and the hand-over talk to the primary too) run in private subnets whose traffic leaves
 * through one NAT gateway with a fixed Elastic IP. The admin asks AWS to lift the port-25 limit on that
 * IP and allows it in the primary's inbound connector.
 */
export class DeliveryNetwork extends Construct {
  readonly vpc: ec2.Vpc;
  readonly securityGroup: ec2.SecurityGroup;
  /** The public address deliveries come from (the stack outputs it); unknown until deploy for an existing EIP. */
  readonly publicIp: string | undefined;
  readonly allocationId: string;

  constructor(scope: Construct, id: string, props: DeliveryNetworkProps) {
    super(scope, id);

    if (props.elasticIpAllocationId !== undefined) {
      this.allocationId = props.elasticIpAllocationId;
      this.publicIp = undefined;
    } else {
      const eip = new ec2.CfnEIP(this, 'ElasticIp', {
        domain: 'vpc',
        tags: [{ key: 'Name', value: 'lifeboat-delivery' }],
      });
      // The unblocked, allow-listed address must survive a stack update that replaces the NAT gateway.
      eip.applyRemovalPolicy(RemovalPolicy.RETAIN);
      this.allocationId = eip.attrAllocationId;
      this.publicIp = eip.attrPublicIp;
    }

    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: AVAILABILITY_ZONES,
      natGateways: 1,
      natGatewayProvider: ec2.NatProvider.gateway({ eipAllocationIds: [this.allocationId] }),
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'delivery', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 24 },
      ],
      restrictDefaultSecurityGroup: true,
    });
    // Raw mail and table traffic stay on the AWS network and off the NAT gateway's per-GB charge.
    this.vpc.addGatewayEndpoint('S3', { service: ec2.GatewayVpcEndpointAwsService.S3 });
    this.vpc.addGatewayEndpoint('DynamoDb', { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB });
    this.vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(
        new logs.LogGroup(this, 'FlowLogs', { retention: props.flowLogRetention }),
      ),
      trafficType: ec2.FlowLogTrafficType.REJECT,
    });

    // Out only to the primary's SMTP ports and to AWS APIs over HTTPS; nothing in. DNS needs no rule:
    // security groups do not filter traffic to the VPC's Amazon DNS server (VPC User Guide, security
    // group rules).
    this.securityGroup = new ec2.SecurityGroup(this, 'DeliverySecurityGroup', {
      vpc: this.vpc,
      description:
        'Lifeboat deliver, sweep and probe: outbound SMTP to the primary and AWS APIs, nothing inbound',
      allowAllOutbound: false,
    });
    for (const port of [...new Set(props.smtpPorts)].sort((a, b) => a - b)) {
      this.securityGroup.addEgressRule(
        ec2.Peer.anyIpv4(),
        ec2.Port.tcp(port),
        `SMTP to the primary on ${port}`,
      );
    }
    this.securityGroup.addEgressRule(
      ec2.Peer.anyIpv4(),
      ec2.Port.tcp(HTTPS_PORT),
      'AWS APIs over HTTPS (NAT gateway, S3 and DynamoDB gateway endpoints)',
    );
  }
}
