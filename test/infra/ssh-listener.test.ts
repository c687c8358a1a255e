// SSH in the deployment: the listener exists only with a host key, and SSH targets are checked
// against the proxy's own schema at synth. The full stack with the key is in airlock-stack.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { expandEnv, parseConfig } from '../../fargate-proxy/src/config/load.js';
import { AirlockStack } from '../../lib/airlock-stack.js';
import { renderProxyConfig } from '../../lib/proxy-config.js';
import { TargetRegistry, type TargetRegistration } from '../../lib/target-registry.js';

const HOST_KEY_PIN = 'SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU';
const sshTarget = (over: Partial<TargetRegistration> = {}, settings: Record<string, unknown> = {}): TargetRegistration => ({
  name: 'web-1',
  kind: 'ssh',
  host: 'web-1.internal',
  ...over,
  settings: { user: 'ops', hostKeys: [HOST_KEY_PIN], ...settings },
});

function registry(targets: TargetRegistration[]): { stack: Stack; registry: TargetRegistry } {
  const stack = new Stack(new App(), 'Registry');
  return { stack, registry: new TargetRegistry(stack, 'Targets', { targets, key: new kms.Key(stack, 'Key') }) };
}

test('without a host key secret: a warning, no SSH listener in the config, no SSH port anywhere', () => {
  // Lambda bundling is skipped: this test is about the fleet, not the handlers.
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new AirlockStack(app, 'NoSsh', {
    settings: {
      oidcIssuer: 'https://login.acme.internal/',
      oidcAudience: 'airlock',
      targets: [sshTarget()],
    },
  });
  Annotations.fromStack(stack).hasWarning('*', Match.stringLikeRegexp('airlock:sshHostKeySecretArn.*web-1.*unreachable'));

  const t = Template.fromStack(stack);
  const listeners = Object.values(t.findResources('AWS::ElasticLoadBalancingV2::Listener')).map((l: any) => l.Properties.Port);
  assert.deepEqual(listeners.sort((a, b) => a - b), [5432, 8443]);
  const groups = Object.values(t.findResources('AWS::ElasticLoadBalancingV2::TargetGroup')).map((g: any) => g.Properties.Port);
  assert.deepEqual(groups.sort((a, b) => a - b), [5432, 9443]);
  const [task] = Object.values(t.findResources('AWS::ECS::TaskDefinition')) as any[];
  const container = task.Properties.ContainerDefinitions[0];
  assert.ok(!container.PortMappings.some((p: any) => p.ContainerPort === 2222));
  assert.ok(!(container.Secrets ?? []).some((s: any) => s.Name === 'AIRLOCK_SSH_HOST_KEY'));
  assert.ok(!container.Command.join(' ').includes('host_key'));
  const ingress = Object.values(t.findResources('AWS::EC2::SecurityGroup'))
    .flatMap((sg: any) => sg.Properties.SecurityGroupIngress ?? [])
    .map((i: any) => i.FromPort);
  assert.ok(!ingress.includes(2222), 'nothing is opened for a listener that does not exist');

  const config = container.Environment.find((e: any) => e.Name === 'AIRLOCK_CONFIG').Value;
  assert.equal(typeof config, 'object', 'the config holds tokens (resolved at deploy)');
  assert.ok(!JSON.stringify(config).includes('hostKeyFiles'));
});

test('the rendered SSH listener and target are what the proxy accepts', () => {
  const { registry: reg } = registry([sshTarget({ port: 2200, secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:web-1-AbCdEf' }, { credentialType: 'password' })]);
  const raw = renderProxyConfig({
    identity: { issuer: 'https://login.acme.internal/', audience: 'airlock' },
    reviewerGroups: ['dba'],
    approvalTimeout: Duration.minutes(15),
    targets: reg.targets,
    policyFile: '/app/policies/production-example.cedar',
    tls: false,
    ssh: true,
  });
  const env = {
    AIRLOCK_POLICY_BUCKET: 'b', AIRLOCK_POLICY_CURRENT_KEY: 'k', AIRLOCK_METRICS_NAMESPACE: 'Airlock',
    AIRLOCK_AUDIT_TABLE: 't', AIRLOCK_AUDIT_BUCKET: 'b', AIRLOCK_AUDIT_KMS_KEY: 'arn:aws:kms:eu-west-1:123456789012:key/x',
    AIRLOCK_AUDIT_SIGNING_KEY: 'arn:aws:kms:eu-west-1:123456789012:key/s',
    AIRLOCK_APPROVALS_TABLE: 'a', AIRLOCK_APPROVAL_STATE_MACHINE_ARN: 'arn:aws:states:eu-west-1:123456789012:stateMachine:m',
    AIRLOCK_REVIEW_BASE_URL: 'https://review.example.com/', AIRLOCK_FLEET_TABLE: 'f', AIRLOCK_TASK_TOKEN_KEY: 'arn:aws:kms:eu-west-1:123456789012:key/t',
  };
  const cfg = parseConfig(expandEnv(raw, [], env), '/app');
  assert.equal(cfg.listeners.ssh?.port, 2222);
  // Without the listeners' certificate (a closed network): the console is plain HTTP on the port the
  // NLB's 8443 forwards to, as postgres gets allowPlaintext; health is plain on 8080 either way.
  assert.deepEqual(cfg.listeners.console, { host: '0.0.0.0', port: 9443 });
  assert.deepEqual(cfg.listeners.health, { host: '0.0.0.0', port: 8080 });
  assert.equal(cfg.listeners.postgres?.allowPlaintext, true);
  assert.deepEqual(cfg.listeners.ssh?.hostKeyFiles, ['/etc/airlock/ssh/host_key']);
  const [target] = cfg.targets;
  assert.ok(target?.kind === 'ssh');
  assert.equal(target.port, 2200);
  assert.equal(target.credentialType, 'password');
  assert.equal(target.credential, 'aws-secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:web-1-AbCdEf');
});

test('an SSH target without pinned host keys, or with an unknown setting, fails synth naming the key', () => {
  assert.throws(() => registry([sshTarget({}, { hostKeys: [] })]), /target "web-1" \(ssh\).*hostKeys/);
  assert.throws(() => registry([{ name: 'web-2', kind: 'ssh', host: 'web-2.internal', settings: { user: 'ops' } }]), /target "web-2".*hostKeys/);
  assert.throws(() => registry([sshTarget({}, { credentialType: 'certificate' })]), /credentialType/);
  assert.throws(() => registry([sshTarget({}, { hostkeys: [HOST_KEY_PIN] })]), /web-1.*hostkeys/);
});

test('the fleet may read the SSH targets\' secrets and no other', () => {
  const { stack, registry: reg } = registry([
    sshTarget(),
    sshTarget({ name: 'web-2', secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:web-2-key-AbCdEf' }),
  ]);
  const role = new iam.Role(stack, 'TaskRole', { assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com') });
  reg.grantReadCredentials(role);
  const t = Template.fromStack(stack);
  const statements = Object.values(t.findResources('AWS::IAM::Policy')).flatMap((p: any) => p.Properties.PolicyDocument.Statement);
  const secretResources = statements
    .filter((s: any) => [s.Action].flat().includes('secretsmanager:GetSecretValue'))
    .flatMap((s: any) => [s.Resource].flat());
  const created = Object.entries(t.findResources('AWS::SecretsManager::Secret', { Properties: { Name: 'airlock/targets/web-1' } }));
  assert.equal(created.length, 1, 'a secret is created for a target registered without one');
  assert.deepEqual(secretResources, [{ Ref: created[0]![0] }, 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:web-2-key-AbCdEf']);
});
