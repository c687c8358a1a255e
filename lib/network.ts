import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledge } from './nag-acknowledgements.js';

/** An existing VPC, described by attributes so synth never looks anything up in the account. */
export interface ExistingVpcAttributes {
  vpcId: string;
  vpcCidrBlock: string;
  availabilityZones: string[];
  /** Subnets with egress (NAT or endpoints) where the proxy tasks and the internal NLB live. */
  privateSubnetIds: string[];
  /** Route tables of those subnets (same order); needed for the S3 and DynamoDB gateway endpoints. */
  privateSubnetRouteTableIds?: string[];
  /** Needed only for an internet-facing NLB. */
  publicSubnetIds?: string[];
}

export interface AirlockNetworkProps {
  /** Import this VPC instead of creating one. */
  existingVpc?: ExistingVpcAttributes;
  /** For a new VPC: NAT gateways (the proxy reaches the IdP's JWKS and non-AWS targets through them). Default 1. */
  natGateways?: number;
  /** For a new VPC: how many AZs. Default 2. */
  maxAzs?: number;
  /** Create the interface/gateway endpoints (turn off when the imported VPC already has them). Default true. */
  createEndpoints?: boolean;
  key: kms.IKey;
  logRetention: logs.RetentionDays;
}

/**
 * Where the fleet runs: a new VPC (flow-logged) or an imported one, plus private endpoints so
 * credentials, approvals, audit and images never leave the AWS network.
 */
export class AirlockNetwork extends Construct {
  readonly vpc: ec2.IVpc;
  readonly taskSubnets: ec2.SubnetSelection = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };

  constructor(scope: Construct, id: string, props: AirlockNetworkProps) {
    super(scope, id);

    if (props.existingVpc) {
      const a = props.existingVpc;
      this.vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
        vpcId: a.vpcId,
        vpcCidrBlock: a.vpcCidrBlock,
        availabilityZones: a.availabilityZones,
        privateSubnetIds: a.privateSubnetIds,
        privateSubnetRouteTableIds: a.privateSubnetRouteTableIds,
        publicSubnetIds: a.publicSubnetIds,
      });
    } else {
      const vpc = new ec2.Vpc(this, 'Vpc', {
        maxAzs: props.maxAzs ?? 2,
        natGateways: props.natGateways ?? 1,
        subnetConfiguration: [
          { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: false },
          { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
        ],
      });
      vpc.addFlowLog('FlowLogs', {
        destination: ec2.FlowLogDestination.toCloudWatchLogs(
          new logs.LogGroup(this, 'FlowLogGroup', {
            retention: props.logRetention,
            encryptionKey: props.key,
            removalPolicy: RemovalPolicy.RETAIN,
          }),
        ),
        trafficType: ec2.FlowLogTrafficType.REJECT,
      });
      this.vpc = vpc;
    }

    if ((props.createEndpoints ?? true) && props.existingVpc && !props.existingVpc.privateSubnetRouteTableIds) {
      throw new Error('existingVpc.privateSubnetRouteTableIds is required to add the S3 and DynamoDB gateway endpoints (or set createEndpoints: false)');
    }
    if (props.createEndpoints ?? true) {
      this.addEndpoints();
    }
  }

  private addEndpoints(): void {
    const subnets = this.taskSubnets;
    const stack = Stack.of(this);
    // Endpoint policies: only this account's principals, and through the gateway endpoints only this
    // account's buckets and tables, so a stolen task credential cannot carry data to another account
    // over them. ECR image layers live in an AWS-owned bucket per region, which Fargate pulls through S3.
    const ownPrincipals = { StringEquals: { 'aws:PrincipalAccount': stack.account } };
    const ownAccount = { StringEquals: { 'aws:PrincipalAccount': stack.account, 'aws:ResourceAccount': stack.account } };
    const s3 = this.vpc.addGatewayEndpoint('S3', { service: ec2.GatewayVpcEndpointAwsService.S3, subnets: [subnets] });
    s3.addToPolicy(new iam.PolicyStatement({ principals: [new iam.AnyPrincipal()], actions: ['s3:*'], resources: ['*'], conditions: ownAccount }));
    s3.addToPolicy(
      new iam.PolicyStatement({
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:GetObject'],
        resources: [`arn:${stack.partition}:s3:::prod-${stack.region}-starport-layer-bucket/*`],
        conditions: ownPrincipals,
      }),
    );
    const dynamo = this.vpc.addGatewayEndpoint('DynamoDb', {
      service: ec2.GatewayVpcEndpointAwsService.DYNAMODB,
      subnets: [subnets],
    });
    dynamo.addToPolicy(new iam.PolicyStatement({ principals: [new iam.AnyPrincipal()], actions: ['dynamodb:*'], resources: ['*'], conditions: ownAccount }));
    const interfaces: Record<string, ec2.InterfaceVpcEndpointAwsService> = {
      SecretsManager: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
      StepFunctions: ec2.InterfaceVpcEndpointAwsService.STEP_FUNCTIONS,
      EcrApi: ec2.InterfaceVpcEndpointAwsService.ECR,
      EcrDocker: ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
      Logs: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
    };
    for (const [name, service] of Object.entries(interfaces)) {
      // `open` lets anything in the VPC CIDR reach the endpoint on 443: endpoint policies and IAM still decide.
      const endpoint = this.vpc.addInterfaceEndpoint(name, { service, subnets, privateDnsEnabled: true, open: true });
      endpoint.addToPolicy(new iam.PolicyStatement({ principals: [new iam.AnyPrincipal()], actions: ['*'], resources: ['*'], conditions: ownPrincipals }));
      acknowledge(
        endpoint,
        'AwsSolutions-EC23',
        'Endpoint ingress is HTTPS from the VPC CIDR only (an intrinsic cdk-nag cannot evaluate)',
      );
    }
  }
}
