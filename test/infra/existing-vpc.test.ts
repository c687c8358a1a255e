// The fleet in an imported VPC: described by attributes (no lookups, so synth needs no account).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template, Match } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { AirlockNetwork } from '../../lib/network.js';
import { ProxyFleet } from '../../lib/proxy-fleet.js';

const existingVpc = {
  vpcId: 'vpc-0a1b2c3d4e5f60718',
  vpcCidrBlock: '10.20.0.0/16',
  availabilityZones: ['eu-west-1a', 'eu-west-1b'],
  privateSubnetIds: ['subnet-0a1b2c3d4e5f60711', 'subnet-0a1b2c3d4e5f60722'],
  privateSubnetRouteTableIds: ['rtb-0a1b2c3d4e5f60711', 'rtb-0a1b2c3d4e5f60722'],
};

function synth(createEndpoints: boolean): Template {
  const stack = new Stack(new App(), 'Imported');
  const key = new kms.Key(stack, 'Key');
  const network = new AirlockNetwork(stack, 'Network', {
    existingVpc,
    createEndpoints,
    key,
    logRetention: logs.RetentionDays.ONE_WEEK,
  });
  new ProxyFleet(stack, 'Fleet', {
    vpc: network.vpc,
    taskSubnets: network.taskSubnets,
    key,
    logRetention: logs.RetentionDays.ONE_WEEK,
    config: {},
    environment: {},
    idleTimeout: Duration.minutes(30),
    drainTime: Duration.minutes(5),
    allowedClientCidrs: ['10.99.0.0/16'],
    sshHostKeySecret: secretsmanager.Secret.fromSecretCompleteArn(
      stack,
      'HostKey',
      'arn:aws:secretsmanager:eu-west-1:123456789012:secret:airlock-ssh-host-key-AbCdEf',
    ),
  });
  return Template.fromStack(stack);
}

test('an imported VPC is used as given: no new VPC, tasks and NLB in its private subnets', () => {
  const t = synth(true);
  t.resourceCountIs('AWS::EC2::VPC', 0);
  t.resourceCountIs('AWS::EC2::NatGateway', 0);
  t.hasResourceProperties('AWS::ECS::Service', {
    NetworkConfiguration: {
      AwsvpcConfiguration: { AssignPublicIp: 'DISABLED', Subnets: ['subnet-0a1b2c3d4e5f60711', 'subnet-0a1b2c3d4e5f60722'] },
    },
  });
  t.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
    Scheme: 'internal',
    Subnets: ['subnet-0a1b2c3d4e5f60711', 'subnet-0a1b2c3d4e5f60722'],
  });
  t.resourceCountIs('AWS::EC2::VPCEndpoint', 7);
  t.hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcId: 'vpc-0a1b2c3d4e5f60718', VpcEndpointType: 'Interface', SubnetIds: ['subnet-0a1b2c3d4e5f60711', 'subnet-0a1b2c3d4e5f60722'] });
  t.hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcId: 'vpc-0a1b2c3d4e5f60718', VpcEndpointType: 'Gateway', RouteTableIds: ['rtb-0a1b2c3d4e5f60711', 'rtb-0a1b2c3d4e5f60722'] });
});

test('timeouts and client CIDRs are props', () => {
  const t = synth(false);
  t.resourceCountIs('AWS::EC2::VPCEndpoint', 0);
  t.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
    ListenerAttributes: Match.arrayWith([{ Key: 'tcp.idle_timeout.seconds', Value: '1800' }]),
  });
  t.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
    TargetGroupAttributes: Match.arrayWith([{ Key: 'deregistration_delay.timeout_seconds', Value: '300' }]),
  });
  // Clients meet the NLB's group; the tasks' group admits the NLB's group only.
  const groupId = (description: string) => Object.entries(t.findResources('AWS::EC2::SecurityGroup', { Properties: { GroupDescription: Match.stringLikeRegexp(description) } }))[0]![0];
  const nlbGroup = groupId('Airlock NLB');
  const taskGroup = groupId('Airlock proxy');
  const rules = Object.values(t.findResources('AWS::EC2::SecurityGroupIngress')).map((r: any) => r.Properties);
  const nlbIngress = (Object.values(t.findResources('AWS::EC2::SecurityGroup'))
    .find((g: any) => g.Properties.GroupDescription.startsWith('Airlock NLB')) as any).Properties.SecurityGroupIngress as Array<{ CidrIp: string; FromPort: number }>;
  assert.deepEqual(nlbIngress.map((i) => i.CidrIp), nlbIngress.map(() => '10.99.0.0/16'), 'only the configured client CIDR reaches the NLB');
  assert.deepEqual(nlbIngress.map((i) => i.FromPort).sort((a, b) => a - b), [22, 5432, 8443]);
  const taskRules = rules.filter((r) => r.GroupId['Fn::GetAtt'][0] === taskGroup);
  // Tasks admit the NLB, and each other on PostgreSQL only (cancels forwarded to the session's task).
  const fromTasks = taskRules.filter((r) => r.SourceSecurityGroupId['Fn::GetAtt'][0] === taskGroup);
  assert.deepEqual(fromTasks.map((r) => [r.FromPort, r.ToPort]), [[5432, 5432]]);
  const fromNlb = taskRules.filter((r) => !fromTasks.includes(r));
  assert.ok(fromNlb.every((r) => r.SourceSecurityGroupId['Fn::GetAtt'][0] === nlbGroup), 'otherwise tasks admit the NLB only');
  assert.deepEqual(fromNlb.map((r) => r.FromPort).sort((a, b) => a - b), [2222, 5432, 8080, 9443]);
  const ingress: Array<{ CidrIp: string; FromPort: number }> = [];
  assert.deepEqual(ingress, [], 'no CIDR reaches the tasks directly');
  const egress = (Object.values(t.findResources('AWS::EC2::SecurityGroup'))
    .find((g: any) => g.Properties.GroupDescription.startsWith('Airlock proxy')) as any).Properties.SecurityGroupEgress as Array<{ CidrIp: string; FromPort: number }>;
  assert.deepEqual(egress.map((e) => [e.CidrIp, e.FromPort]), [['0.0.0.0/0', 443]], 'no targets given: HTTPS out only');
  const lb = Object.values(t.findResources('AWS::ElasticLoadBalancingV2::LoadBalancer'))[0] as any;
  assert.ok(lb.Properties.LoadBalancerAttributes.some((a: any) => a.Key === 'deletion_protection.enabled' && a.Value === 'true'), 'NLB deletion protection');
  assert.equal(lb.Properties.SecurityGroups.length, 1, 'the NLB has a security group from creation (it cannot get one later)');
});
