// A proxy task larger than one vCPU runs one gateway process per vCPU (`processes`), and the
// sessions scaling target, tracked over the processes' own ActiveSessions lines, is per process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { ProxyFleet } from '../../lib/proxy-fleet.js';

function synth(size: { cpu?: number; memoryLimitMiB?: number; sessionsPerTask?: number }) {
  const stack = new Stack(new App(), 'Sized');
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0, subnetConfiguration: [{ name: 'private', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
  new ProxyFleet(stack, 'Fleet', {
    vpc,
    taskSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
    key: new kms.Key(stack, 'Key'),
    logRetention: logs.RetentionDays.ONE_WEEK,
    config: { logLevel: 'info' },
    environment: {},
    ...size,
  });
  const template = Template.fromStack(stack).toJSON() as { Resources: Record<string, { Type: string; Properties: any }> };
  const of = (type: string) => Object.values(template.Resources).filter((r) => r.Type === type);
  const task = of('AWS::ECS::TaskDefinition')[0]!.Properties;
  const env = task.ContainerDefinitions[0].Environment as { Name: string; Value: unknown }[];
  const config = JSON.stringify(env.find((e) => e.Name === 'AIRLOCK_CONFIG')!.Value);
  const sessions = of('AWS::ApplicationAutoScaling::ScalingPolicy')
    .map((p) => p.Properties.TargetTrackingScalingPolicyConfiguration)
    .find((c) => c.CustomizedMetricSpecification?.MetricName === 'ActiveSessions');
  return { cpu: task.Cpu, memory: task.Memory, config, sessionsTarget: sessions.TargetValue as number };
}

test('a 1-vCPU task runs one process, as before: no processes key, 200 sessions per task', () => {
  const t = synth({});
  assert.equal(t.cpu, '1024');
  assert.equal(t.memory, '2048');
  assert.doesNotMatch(t.config, /processes/);
  assert.equal(t.sessionsTarget, 200);
});

test('a 4-vCPU task runs four processes, with 2 GiB each and the sessions target per process', () => {
  const t = synth({ cpu: 4096 });
  assert.equal(t.cpu, '4096');
  assert.equal(t.memory, '8192');
  assert.match(t.config, /\\"processes\\":4/);
  assert.equal(t.sessionsTarget, 50);
});
