// Settings that would deploy a crash-looping or unsafe fleet fail synth with a message naming the
// setting; the image asset is built for the task's architecture; PostgreSQL targets verify the
// server against the RDS CAs unless told otherwise; the open-CIDR nag acknowledgement exists only
// where the open CIDR does, and says why it is acceptable there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { targetSchema } from '../../fargate-proxy/src/config/schema.js';
import { AirlockStack, type AirlockSettings } from '../../lib/airlock-stack.js';
import { CONTAINER_PATHS, renderTarget } from '../../lib/proxy-config.js';
import { ProxyFleet, type ProxyFleetProps } from '../../lib/proxy-fleet.js';

const TLS_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:airlock-tls-AbCdEf';
const good: AirlockSettings = {
  oidcIssuer: 'https://login.acme.internal/',
  oidcAudience: 'airlock',
  targets: [{ name: 'orders', kind: 'postgres', host: 'orders.internal', settings: { database: 'orders', user: 'airlock' } }],
};

function synthError(over: Partial<AirlockSettings>): string {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  try {
    new AirlockStack(app, 'Checked', { settings: { ...good, ...over } });
  } catch (e) {
    return (e as Error).message;
  }
  return '';
}

test('unusable or unsafe settings are synth errors naming the setting', () => {
  assert.match(synthError({ targets: [] }), /airlock:targets is empty/);
  assert.match(synthError({ targets: undefined }), /airlock:targets is empty/);
  // The value cdk.json used to ship, and any other reserved example domain. (cdk.json now names no
  // issuer: the stack then creates a Cognito user pool, test/infra/default-identity.test.ts.)
  const shipped = 'https://login.example.com/';
  assert.equal(JSON.parse(readFileSync(join(import.meta.dirname, '../../cdk.json'), 'utf8')).context['airlock:oidcIssuer'], undefined);
  assert.match(synthError({ oidcAudience: undefined }), /airlock:oidcIssuer is set but airlock:oidcAudience is not/);
  assert.match(synthError({ oidcIssuer: undefined }), /airlock:oidcAudience is set without airlock:oidcIssuer/);
  assert.match(synthError({ oidcIssuer: shipped }), /airlock:oidcIssuer .* is a placeholder/);
  assert.match(synthError({ oidcIssuer: 'https://idp.example.org/realms/x' }), /placeholder/);
  assert.match(synthError({ oidcIssuer: 'http://login.acme.internal/' }), /must be https/);
  assert.match(synthError({ internetFacing: true }), /airlock:internetFacing is true but airlock:listenerTlsSecretArn is not set/);
  assert.match(synthError({ allowedClientCidrs: ['10.0.0.0/8', '0.0.0.0/0'] }), /allowedClientCidrs includes 0\.0\.0\.0\/0 .*listenerTlsSecretArn/);
  assert.match(synthError({ allowedClientCidrs: ['::/0'] }), /::\/0/);
  assert.match(synthError({ objectLockDays: 30 } as Partial<AirlockSettings>), /objectLockDays is gone.*auditRetentionDays/);
  // Every problem at once, so one synth tells the operator everything.
  const all = synthError({ targets: [], oidcIssuer: shipped, internetFacing: true });
  assert.equal(all.split('\n').filter((l) => l.startsWith('  - ')).length, 3, all);
  // With TLS, the same exposure is accepted.
  assert.equal(synthError({ internetFacing: true, allowedClientCidrs: ['0.0.0.0/0'], listenerTlsSecretArn: TLS_ARN }), '');
});

function fleetStack(over: Partial<ProxyFleetProps>, tls: boolean) {
  const outdir = mkdtempSync(join(tmpdir(), 'airlock-fleet-'));
  const app = new App({ outdir });
  const stack = new Stack(app, 'Fleet', { env: { account: '123456789012', region: 'eu-west-1' } });
  const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', {
    vpcId: 'vpc-0123456789abcdef0', vpcCidrBlock: '10.0.0.0/16', availabilityZones: ['eu-west-1a'],
    privateSubnetIds: ['subnet-0123456789abcdef0'], publicSubnetIds: ['subnet-0123456789abcdef1'],
  });
  const fleet = new ProxyFleet(stack, 'Fleet', {
    vpc,
    taskSubnets: { subnets: vpc.privateSubnets },
    key: new kms.Key(stack, 'Key'),
    logRetention: logs.RetentionDays.ONE_WEEK,
    config: {},
    environment: {},
    listenerTlsSecret: tls ? secretsmanager.Secret.fromSecretCompleteArn(stack, 'Tls', TLS_ARN) : undefined,
    ...over,
  });
  return { app, stack, fleet, outdir };
}

test('the proxy image asset is built for linux/arm64, the task\'s platform', () => {
  const { app, outdir } = fleetStack({}, true);
  app.synth();
  const assets = JSON.parse(readFileSync(join(outdir, 'Fleet.assets.json'), 'utf8'));
  const images = Object.values(assets.dockerImages) as Array<{ source: { platform?: string } }>;
  assert.equal(images.length, 1);
  assert.equal(images[0]!.source.platform, 'linux/arm64');
  const template = JSON.parse(readFileSync(join(outdir, 'Fleet.template.json'), 'utf8'));
  const task = Object.values(template.Resources).find((r: any) => r.Type === 'AWS::ECS::TaskDefinition') as any;
  assert.equal(task.Properties.RuntimePlatform.CpuArchitecture, 'ARM64');
  rmSync(outdir, { recursive: true, force: true });
});

test('ProxyFleet itself refuses an open client CIDR or an Internet-facing NLB without TLS', () => {
  assert.throws(() => fleetStack({ allowedClientCidrs: ['0.0.0.0/0'] }, false), /tokens would cross the Internet in clear/);
  assert.throws(() => fleetStack({ internetFacing: true }, false), /internetFacing: true needs listenerTlsSecretArn/);
});

test('the open-CIDR nag acknowledgement is given only with an open CIDR, and says so', () => {
  const ec23 = (f: ProxyFleet) =>
    f.loadBalancerSecurityGroup.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) => Object.entries(m.data as Record<string, string>))
      .filter(([id]) => id.endsWith('AwsSolutions-EC23'))
      .map(([, reason]) => reason)
      .join(' ');
  const open = fleetStack({ allowedClientCidrs: ['0.0.0.0/0'], internetFacing: true }, true).fleet;
  const closed = fleetStack({ allowedClientCidrs: ['10.99.0.0/16'] }, true).fleet;
  assert.match(ec23(open), /Open to any address by explicit choice/);
  assert.doesNotMatch(ec23(closed), /explicit choice/);
  assert.match(ec23(closed), /configured client CIDRs/);
  // The tasks' own group admits nothing from the Internet: only the NLB's group.
  const stack = Stack.of(open);
  const taskIngress = stack.resolve((open.securityGroup.node.defaultChild as ec2.CfnSecurityGroup).securityGroupIngress) ?? [];
  assert.deepEqual(taskIngress, [], 'task ingress rules are separate resources referencing the NLB group');
});

test('PostgreSQL targets verify-full against the shipped RDS CAs by default; disable is an explicit, warned choice', () => {
  const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf';
  const parse = (settings: Record<string, unknown>) =>
    targetSchema.parse(renderTarget({ name: 'orders', kind: 'postgres', host: 'orders.abc.eu-west-1.rds.amazonaws.com', settings: { database: 'orders', user: 'airlock', ...settings } }, arn));
  const t = parse({});
  assert.ok(t.kind === 'postgres');
  assert.deepEqual(t.tls, { mode: 'verify-full', caFile: CONTAINER_PATHS.rdsCaBundle });
  const own = parse({ tls: { mode: 'verify-full', caFile: '/app/certs/own.pem', serverName: 'db' } });
  assert.ok(own.kind === 'postgres');
  assert.deepEqual(own.tls, { mode: 'verify-full', caFile: '/app/certs/own.pem', serverName: 'db' });
  const off = parse({ tls: { mode: 'disable' } });
  assert.ok(off.kind === 'postgres');
  assert.equal(off.tls.mode, 'disable');

  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new AirlockStack(app, 'Plain', {
    settings: { ...good, targets: [{ name: 'legacy', kind: 'postgres', host: 'legacy.internal', settings: { database: 'l', user: 'a', tls: { mode: 'disable' } } }] },
  });
  Annotations.fromStack(stack).hasWarning('*', Match.stringLikeRegexp('legacy: upstream TLS is disabled'));
});

test('a kubernetes target on EKS renders the Kubernetes engine\'s shape with an EKS credential and no secret reference', () => {
  const rendered = renderTarget(
    { name: 'prod-eu', kind: 'kubernetes' as never, host: 'ABCD.gr7.eu-west-1.eks.amazonaws.com', settings: { clusterName: 'prod-eu', roleArn: 'arn:aws:iam::123456789012:role/airlock-eks', caFile: '/app/certs/prod-eu-ca.pem' } },
    'arn:aws:secretsmanager:eu-west-1:123456789012:secret:unused',
  );
  assert.deepEqual(rendered, {
    name: 'prod-eu',
    kind: 'kubernetes',
    environment: 'production',
    tags: {},
    server: 'https://ABCD.gr7.eu-west-1.eks.amazonaws.com',
    caFile: '/app/certs/prod-eu-ca.pem',
    credential: { type: 'eks', clusterName: 'prod-eu', roleArn: 'arn:aws:iam::123456789012:role/airlock-eks' },
  });
  // The proxy takes what the stack renders: the Kubernetes engine's target schema accepts it.
  const parsed = targetSchema.parse(rendered);
  assert.equal(parsed.kind === 'kubernetes' && parsed.credential.type, 'eks');
});
