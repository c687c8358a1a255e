import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expandEnv, parseConfig } from '../../fargate-proxy/src/config/load.js';
import { AUDIT_ENV, AUDIT_WRITER_KEY_ACTIONS, AUDIT_WRITER_OBJECT_ACTIONS, AUDIT_WRITER_TABLE_ACTIONS } from '../../lib/audit-store.js';
import { APPROVAL_ENV, WORKFLOW_ERRORS } from '../../lib/approval-workflow.js';
import { POLICY_LAYOUT } from '../../lib/policy-service.js';
import { PROXY_METRICS } from '../../lib/proxy-fleet.js';
import { flattenIntrinsics, missingHandlers, resourcesOfType, synthAirlock, type SynthResult } from './synth-airlock.js';

const require = createRequire(import.meta.url);
const aslValidator = require('asl-validator') as (def: unknown) => { isValid: boolean; errorsText: (sep?: string) => string };

const stub = fileURLToPath(new URL('./fixtures/stub-handler.ts', import.meta.url));
const useStubs = process.env.AIRLOCK_INFRA_STUBS === '1';
const missing = missingHandlers().filter((p) => !(useStubs && p.includes('approval-')));
const skip = missing.length > 0 ? `handler(s) not written yet: ${missing.join(', ')}` : false;

let r: SynthResult;
const resources = (type: string) => resourcesOfType(r.template, type);
const one = (type: string) => {
  const found = resources(type);
  assert.equal(found.length, 1, `exactly one ${type}`);
  return found[0]![1];
};

before(() => {
  if (skip) return;
  r = synthAirlock({
    oidcIssuer: 'https://login.acme.internal/',
    oidcAudience: 'airlock',
    reviewerGroups: ['dba'],
    reviewerEmails: ['oncall@example.com'],
    slackSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:airlock-slack-AbCdEf',
    listenerTlsSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:airlock-tls-AbCdEf',
    sshHostKeySecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:airlock-ssh-host-key-AbCdEf',
    targets: [
      { name: 'orders', kind: 'postgres', host: 'orders.internal', settings: { database: 'orders', user: 'airlock' } },
      {
        name: 'billing',
        kind: 'postgres',
        host: 'billing.internal',
        settings: { database: 'billing', user: 'airlock' },
        secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:billing-db-AbCdEf',
      },
      {
        name: 'web-1',
        kind: 'ssh',
        host: 'web-1.internal',
        settings: { user: 'ops', hostKeys: ['SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU'], credentialType: 'privateKey' },
        secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:web-1-ssh-key-AbCdEf',
      },
      { name: 'billing-api', kind: 'http', host: 'billing.internal', settings: { credential: { type: 'header', header: 'X-Api-Key' } }, secretJsonKey: 'apiKey' },
    ],
    approvalHandlerEntries: useStubs ? { notifier: stub, decision: stub, expire: stub } : undefined,
  });
});
after(() => {
  if (r) rmSync(r.outdir, { recursive: true, force: true });
});

test('cdk-nag AwsSolutions leaves no unacknowledged finding', { skip }, () => {
  const listed = r.violations.map((v) => `${v.ruleName} (${v.severity}) ${v.paths.join(', ')}: ${v.description}`);
  assert.deepEqual(listed, [], `unacknowledged findings:\n${listed.join('\n')}`);
  assert.equal(r.synthError, undefined);
});

test('NLB: TCP listeners for PostgreSQL, SSH, HTTPS (HTTP targets) and the console with a long idle timeout', { skip }, () => {
  const listeners = resources('AWS::ElasticLoadBalancingV2::Listener').map(([, l]) => l.Properties);
  assert.deepEqual(listeners.map((l) => l.Port).sort((a, b) => a - b), [22, 443, 5432, 8443]);
  for (const l of listeners) {
    assert.equal(l.Protocol, 'TCP');
    const idle = l.ListenerAttributes.find((a: any) => a.Key === 'tcp.idle_timeout.seconds');
    assert.equal(idle?.Value, '3600', 'a statement held for approval must survive a quiet hour');
  }
  const lb = one('AWS::ElasticLoadBalancingV2::LoadBalancer').Properties;
  assert.equal(lb.Scheme, 'internal');
});

test('target groups drain for 15 minutes and health-check GET /healthz on 8080', { skip }, () => {
  const groups = resources('AWS::ElasticLoadBalancingV2::TargetGroup').map(([, g]) => g.Properties);
  assert.deepEqual(groups.map((g) => g.Port).sort((a, b) => a - b), [2222, 5432, 8443, 9443]);
  for (const g of groups) {
    assert.equal(g.HealthCheckProtocol, 'HTTP');
    assert.equal(g.HealthCheckPort, '8080');
    assert.equal(g.HealthCheckPath, '/healthz');
    const attrs = Object.fromEntries(g.TargetGroupAttributes.map((a: any) => [a.Key, a.Value]));
    assert.equal(attrs['deregistration_delay.timeout_seconds'], '900');
  }
});

test('HTTPS: NLB 443 forwards to the HTTP engine on 8443 and NLB 8443 to the console on 9443, both TLS; health stays plain on 8080', { skip }, () => {
  const container = one('AWS::ECS::TaskDefinition').Properties.ContainerDefinitions[0];
  const env = Object.fromEntries(container.Environment.map((e: any) => [e.Name, flattenIntrinsics(e.Value)])) as Record<string, string>;
  const cfg = parseConfig(expandEnv(JSON.parse(env.AIRLOCK_CONFIG!), [], env), '/app');
  const service = one('AWS::ECS::Service').Properties;
  const groupBehind = (nlbPort: number) => {
    const found = resources('AWS::ElasticLoadBalancingV2::Listener').filter(([, l]) => l.Properties.Port === nlbPort);
    assert.equal(found.length, 1);
    const tgRef = found[0]![1].Properties.DefaultActions[0].TargetGroupArn.Ref as string;
    const group = r.template.Resources[tgRef].Properties;
    assert.deepEqual([group.Protocol, group.TargetType], ['TCP', 'ip']);
    assert.deepEqual([group.HealthCheckProtocol, group.HealthCheckPort, group.HealthCheckPath], ['HTTP', '8080', '/healthz']);
    const binding = service.LoadBalancers.find((lb: any) => lb.TargetGroupArn.Ref === tgRef);
    assert.equal(binding.ContainerPort, group.Port, 'the service registers its tasks on the group\'s port');
    assert.ok(container.PortMappings.some((p: any) => p.ContainerPort === group.Port && p.Protocol === 'tcp'));
    return group;
  };
  const http = groupBehind(443);
  assert.equal(cfg.listeners.http?.port, http.Port, 'the HTTP engine listens where NLB 443 forwards');
  assert.ok(cfg.listeners.http?.tls, 'HTTPS for agents');
  assert.equal(cfg.listeners.http?.allowPlaintext, false);
  const api = cfg.targets.find((t) => t.name === 'billing-api')!;
  assert.ok(api.kind === 'http');
  assert.equal(api.baseUrl, 'https://billing.internal/');
  assert.ok(api.credential.type === 'header' && api.credential.header === 'X-Api-Key');
  assert.match(api.credential.secret, /^aws-secretsmanager:.+#apiKey$/, 'the API key from the target\'s secret, never inline');
  const group = groupBehind(8443);
  assert.equal(group.Port, 9443);
  assert.match(container.HealthCheck.Command.join(' '), /http:\/\/127\.0\.0\.1:8080\/healthz/, 'the container health check uses the plain health listener');
  // What listens there: the rendered configuration the task starts with.
  assert.equal(cfg.listeners.console?.port, group.Port);
  assert.ok(cfg.listeners.console?.tls, 'HTTPS, not plain HTTP, on the port the NLB calls HTTPS');
  assert.equal(String(cfg.listeners.health?.port), group.HealthCheckPort);
  // Clients reach 443 and 8443 from the allowed CIDRs, like the other agent-facing ports.
  const ingress = resources('AWS::EC2::SecurityGroupIngress').map(([, i]) => i.Properties);
  for (const port of [8443, 9443]) {
    assert.ok(ingress.some((i: any) => i.FromPort === port && i.ToPort === port && i.SourceSecurityGroupId), `the task security group admits ${port} from the NLB`);
  }
  const nlbIngress = resources('AWS::EC2::SecurityGroup').flatMap(([, sg]) => (sg.Properties.GroupDescription.startsWith('Airlock NLB') ? sg.Properties.SecurityGroupIngress : []));
  assert.ok(nlbIngress.some((i: any) => i.FromPort === 443), 'clients reach the NLB on 443');
  assert.ok(nlbIngress.some((i: any) => i.FromPort === 8443), 'reviewers reach the console on 8443');
  // Reviewers are pointed at things that answer: the console over HTTPS, review links at the decision endpoint.
  const outputs = r.template.Outputs as Record<string, any>;
  const consoleOut = flattenIntrinsics(outputs.ConsoleUrl.Value) as string;
  assert.match(consoleOut, /^https:\/\/[^/:]+:8443\/$/);
  const decisionOut = Object.entries(outputs).find(([k]) => k.startsWith('ApprovalsDecisionEndpoint'))![1];
  assert.equal(env[APPROVAL_ENV.reviewBaseUrl], flattenIntrinsics(decisionOut.Value), 'review links (<base>review/<id>) go to the decision Lambda, which serves them');
  // Operators read the fleet's trail with `airlock ... --table --bucket`: the outputs name what the tasks write to.
  assert.equal(flattenIntrinsics(outputs.AuditTable.Value), env[AUDIT_ENV.table]);
  assert.equal(flattenIntrinsics(outputs.AuditBucket.Value), env[AUDIT_ENV.bucket]);
});

test('Fargate task: read-only root, non-root user, no public IP, graceful stop', { skip }, () => {
  const task = one('AWS::ECS::TaskDefinition').Properties;
  const [container] = task.ContainerDefinitions;
  assert.equal(container.ReadonlyRootFilesystem, true);
  assert.equal(container.User, '10001:10001');
  assert.equal(container.StopTimeout, 120);
  assert.deepEqual(container.PortMappings.map((p: any) => p.ContainerPort).sort((a: number, b: number) => a - b), [2222, 5432, 8080, 8443, 9443]);
  assert.match(container.HealthCheck.Command.join(' '), /\/healthz/);
  assert.ok(container.LogConfiguration.LogDriver === 'awslogs');
  const service = one('AWS::ECS::Service').Properties;
  assert.equal(service.NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp, 'DISABLED');
  assert.equal(service.DeploymentConfiguration.MinimumHealthyPercent, 100);
});

test('the rendered proxy configuration, expanded from the container environment, is accepted by the proxy', { skip }, () => {
  const task = one('AWS::ECS::TaskDefinition').Properties;
  const env = Object.fromEntries(task.ContainerDefinitions[0].Environment.map((e: any) => [e.Name, flattenIntrinsics(e.Value)])) as Record<string, string>;
  for (const name of [...Object.values(AUDIT_ENV), ...Object.values(APPROVAL_ENV)]) assert.ok(env[name], `${name} is set`);
  assert.ok(env.AIRLOCK_POLICY_BUCKET);
  const raw = JSON.parse(env.AIRLOCK_CONFIG!);
  // What the proxy does at start-up: every ${env:NAME} must be set on the container.
  const cfg = parseConfig(expandEnv(raw, [], env), '/app');
  assert.deepEqual(cfg.targets.map((t) => t.name), ['orders', 'billing', 'web-1', 'billing-api']);
  assert.match(cfg.targets[1]!.credential as string, /^aws-secretsmanager:arn:aws:secretsmanager:.*billing-db/);
  assert.ok(!/password|BEGIN [A-Z ]*PRIVATE KEY/i.test(env.AIRLOCK_CONFIG!), 'references only, no secret values');
  assert.deepEqual(cfg.listeners.postgres!.tls, { certFile: '/etc/airlock/tls/tls.crt', keyFile: '/etc/airlock/tls/tls.key' });
  assert.equal(cfg.listeners.postgres!.allowPlaintext, false);
  assert.deepEqual(
    cfg.listeners.console,
    { host: '0.0.0.0', port: 9443, tls: { certFile: '/etc/airlock/tls/tls.crt', keyFile: '/etc/airlock/tls/tls.key' } },
    'the console behind the NLB\'s 8443, HTTPS with the certificate the entrypoint writes',
  );
  assert.deepEqual(cfg.listeners.health, { host: '0.0.0.0', port: 8080 }, 'the plain health endpoint the NLB and the container check');
  assert.deepEqual(
    { ...cfg.listeners.ssh, authTimeoutMs: undefined, maxLineBytes: undefined },
    { host: '0.0.0.0', port: 2222, hostKeyFiles: ['/etc/airlock/ssh/host_key'], authTimeoutMs: undefined, maxLineBytes: undefined },
    'SSH listens on the port the NLB forwards 22 to, with the key the entrypoint writes',
  );
  const ssh = cfg.targets[2]!;
  assert.ok(ssh.kind === 'ssh');
  assert.equal(ssh.user, 'ops');
  assert.equal(ssh.port, 22);
  assert.equal(ssh.credentialType, 'privateKey');
  assert.deepEqual(ssh.hostKeys, ['SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU']);
  assert.equal(ssh.credential, 'aws-secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:web-1-ssh-key-AbCdEf');

  const logicalId = (prefix: string, type: string) => resources(type).find(([id]) => id.startsWith(prefix))![0];
  assert.equal(cfg.audit.ack, 'store');
  const { kmsKeyId, signingKeyId, ...store } = cfg.audit.store!;
  assert.deepEqual(store, {
    kind: 'aws',
    table: `ref-${logicalId('AuditTrail', 'AWS::DynamoDB::Table')}`,
    bucket: `ref-${logicalId('AuditRecordings', 'AWS::S3::Bucket')}`,
    retentionDays: 365,
  });
  assert.ok(signingKeyId?.includes(logicalId('AuditDigestSigningKey', 'AWS::KMS::Key')), 'digests are signed by the stack\'s KMS signing key');
  assert.equal(flattenIntrinsics((r.template.Outputs as any).AuditSigningKey.Value), signingKeyId, 'the output verify --signing-key takes');
  assert.ok(kmsKeyId?.startsWith('arn:') && kmsKeyId.includes(logicalId('Key', 'AWS::KMS::Key')), 'objects are encrypted with the stack key (its ARN)');
  assert.equal(cfg.approvals.backend, 'stepfunctions');
  assert.deepEqual(cfg.approvals.stepFunctions, {
    tableName: `ref-${logicalId('Approvals', 'AWS::DynamoDB::Table')}`,
    stateMachineArn: `ref-${logicalId('ApprovalsStateMachine', 'AWS::StepFunctions::StateMachine')}`,
    reviewBaseUrl: `https://${logicalId('', 'AWS::Lambda::Url')}.lambda-url.eu-west-1.on.aws/`,
  });
  assert.equal(cfg.approvals.timeoutSeconds, 900);
  assert.deepEqual(cfg.approvals.reviewerGroups, ['dba']);
  // Hot reload from the policy Lambda's bucket, at the key it writes the pointer to.
  assert.deepEqual(cfg.policy.s3, { bucket: `ref-${logicalId('PolicyBundles', 'AWS::S3::Bucket')}`, currentKey: POLICY_LAYOUT.currentKey, pollSeconds: 15 });
  assert.deepEqual(cfg.metrics, { enabled: true, intervalSeconds: 60, namespace: PROXY_METRICS.namespace });
  const secrets = task.ContainerDefinitions[0].Secrets.map((x: any) => [x.Name, flattenIntrinsics(x.ValueFrom)]);
  assert.deepEqual(secrets.map(([n]: string[]) => n).sort(), ['AIRLOCK_SSH_HOST_KEY', 'AIRLOCK_TLS_CERT', 'AIRLOCK_TLS_KEY']);
  const secretFrom = Object.fromEntries(secrets) as Record<string, string>;
  assert.ok(secretFrom.AIRLOCK_TLS_CERT!.includes('airlock-tls-AbCdEf') && secretFrom.AIRLOCK_TLS_KEY!.includes('airlock-tls-AbCdEf'), 'the TLS key arrives as an ECS secret, not in the environment');
  assert.equal(secretFrom.AIRLOCK_SSH_HOST_KEY, 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:airlock-ssh-host-key-AbCdEf', 'the whole secret is the host key');
  assert.ok(!env.AIRLOCK_SSH_HOST_KEY, 'the host key is not plain environment');
  // The entrypoint puts the key where the listener reads it, owner-only, and drops it from the environment.
  const entrypoint = task.ContainerDefinitions[0].Command.join(' ') as string;
  assert.ok(entrypoint.includes(`(umask 077 && printf '%s' "$AIRLOCK_SSH_HOST_KEY" > /etc/airlock/ssh/host_key)`), entrypoint);
  assert.ok(entrypoint.indexOf('host_key') < entrypoint.indexOf('exec env'), 'written before the gateway starts');
  assert.match(entrypoint, /exec env [^&]*-u AIRLOCK_SSH_HOST_KEY /);
  const executionRoleId = flattenIntrinsics(task.ExecutionRoleArn) as string;
  const hostKeyReaders = resources('AWS::IAM::Policy').filter(([, p]) =>
    p.Properties.PolicyDocument.Statement.some((st: any) => JSON.stringify(st.Resource).includes('airlock-ssh-host-key-AbCdEf')),
  );
  assert.equal(hostKeyReaders.length, 1, 'only one role reads the host key');
  assert.ok(executionRoleId.includes(hostKeyReaders[0]![1].Properties.Roles[0].Ref), 'the execution role, which injects ECS secrets');
});

test('autoscaling tracks CPU and active sessions per task', { skip }, () => {
  const policies = resources('AWS::ApplicationAutoScaling::ScalingPolicy').map(([, p]) => p.Properties.TargetTrackingScalingPolicyConfiguration);
  assert.equal(policies.length, 2);
  assert.ok(policies.some((p) => p.PredefinedMetricSpecification?.PredefinedMetricType === 'ECSServiceAverageCPUUtilization'));
  assert.ok(policies.some((p) => p.CustomizedMetricSpecification?.MetricName === 'ActiveSessions' && p.TargetValue === 200));
});

test('the fleet may read exactly the registered targets\' secrets', { skip }, () => {
  const taskRoleId = Object.entries(r.template.Resources).find(
    ([id, res]: [string, any]) => res.Type === 'AWS::IAM::Role' && id.startsWith('FleetTaskTaskRole'),
  )![0];
  const statements = resources('AWS::IAM::Policy')
    .filter(([, p]) => p.Properties.Roles.some((role: any) => role.Ref === taskRoleId))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
  const secretResources = statements
    .filter((s: any) => [s.Action].flat().includes('secretsmanager:GetSecretValue'))
    .flatMap((s: any) => [s.Resource].flat());
  assert.equal(secretResources.length, 4, 'orders, billing, web-1 and billing-api');
  const created = resources('AWS::SecretsManager::Secret').find(([, s]) => s.Properties.Name === 'airlock/targets/orders')!;
  assert.ok(secretResources.some((res: any) => res.Ref === created[0]));
  assert.ok(secretResources.includes('arn:aws:secretsmanager:eu-west-1:123456789012:secret:billing-db-AbCdEf'));
  assert.ok(secretResources.includes('arn:aws:secretsmanager:eu-west-1:123456789012:secret:web-1-ssh-key-AbCdEf'));
  assert.ok(!JSON.stringify(statements).includes('airlock-ssh-host-key'), 'the gateway\'s host key is for the execution role only');
  const auditIds = Object.keys(r.template.Resources).filter((id) => /^Audit(Trail|Recordings)[0-9A-F]{8}$/.test(id));
  assert.equal(auditIds.length, 2);
  for (const s of statements) {
    const actions = [s.Action].flat() as string[];
    assert.ok(!actions.some((a) => a === '*' || a.endsWith(':*')), `no service-wide action: ${actions}`);
    if (actions.some((a) => a.startsWith('secretsmanager:'))) assert.notEqual(s.Resource, '*');
    const onAudit = auditIds.some((id) => JSON.stringify(s.Resource).includes(`"${id}"`));
    if (onAudit) {
      assert.ok(!actions.some((a) => /Delete/.test(a)), `the proxy cannot erase audit: ${actions}`);
    }
  }
});

test('audit store: CMK encryption, PITR, TTL and indexes; buckets TLS-only, versioned, logged', { skip }, () => {
  const keys = resources('AWS::KMS::Key');
  assert.deepEqual(keys.map(([id]) => id.replace(/[0-9A-F]{8}$/, '')).sort(), ['AuditDigestSigningKey', 'Key', 'TaskTokensKey'], 'the stack key, the digest signing key and the task-token key');
  const stackKey = keys.find(([id]) => /^Key[0-9A-F]{8}$/.test(id))!;
  assert.equal(stackKey[1].Properties.EnableKeyRotation, true);
  assert.equal(keys.find(([id]) => id.startsWith('AuditDigestSigningKey'))![1].Properties.KeySpec, 'ECC_NIST_P256');
  const tables = resources('AWS::DynamoDB::Table').map(([, t]) => t.Properties);
  assert.equal(tables.length, 3, 'one audit table (single-table design), the approvals table and the fleet registry');
  for (const t of tables) {
    assert.equal(t.SSESpecification.SSEType, 'KMS');
    assert.ok(t.SSESpecification.KMSMasterKeyId);
    assert.equal(t.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled, true);
  }
  const keysOf = (t: any) => t.KeySchema.map((k: any) => `${k.AttributeName}:${k.KeyType}`).join(',');
  const trail = tables.find((t) => keysOf(t) === 'pk:HASH,sk:RANGE');
  assert.ok(trail, 'audit: pk/sk');
  assert.deepEqual(trail.TimeToLiveSpecification, { AttributeName: 'expiresAt', Enabled: true });
  assert.equal(trail.DeletionProtectionEnabled, true);
  assert.deepEqual(trail.GlobalSecondaryIndexes.map((g: any) => g.IndexName).sort(), ['byDay', 'byPrincipal', 'byTarget']);
  const approvals = tables.find((t) => keysOf(t) === 'requestId:HASH');
  assert.ok(approvals, 'approvals: PK requestId');
  assert.deepEqual(approvals.TimeToLiveSpecification, { AttributeName: 'ttl', Enabled: true });

  const buckets = resources('AWS::S3::Bucket');
  const policies = resources('AWS::S3::BucketPolicy');
  for (const [id, b] of buckets) {
    const p = b.Properties;
    assert.equal(p.VersioningConfiguration.Status, 'Enabled', id);
    assert.ok(p.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm, id);
    assert.ok(p.LoggingConfiguration || id.startsWith('AccessLogs'), `${id} has access logs`);
    const policy = policies.find(([, bp]) => bp.Properties.Bucket.Ref === id);
    const tlsOnly = policy?.[1].Properties.PolicyDocument.Statement.some(
      (s: any) => s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false',
    );
    assert.ok(tlsOnly, `${id} refuses plain HTTP`);
  }
  const kmsBuckets = buckets.filter(([, b]) => b.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm === 'aws:kms');
  assert.equal(kmsBuckets.length, 2, 'recordings and policy bundles use the customer-managed key');
});

test('the task role gets exactly the audit adapter\'s calls: no delete, update, scan or index access', { skip }, () => {
  const taskRoleId = Object.entries(r.template.Resources).find(
    ([id, res]: [string, any]) => res.Type === 'AWS::IAM::Role' && id.startsWith('FleetTaskTaskRole'),
  )![0];
  const statements = resources('AWS::IAM::Policy')
    .filter(([, p]) => p.Properties.Roles.some((role: any) => role.Ref === taskRoleId))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
  const idOf = (type: string, prefix: string) => resources(type).find(([id]) => id.startsWith(prefix))![0];
  const tableId = idOf('AWS::DynamoDB::Table', 'AuditTrail');
  const bucketId = idOf('AWS::S3::Bucket', 'AuditRecordings');
  const keyId = idOf('AWS::KMS::Key', 'Key');
  const actionsOn = (id: string) =>
    statements.filter((st: any) => JSON.stringify(st.Resource).includes(`"${id}"`)).flatMap((st: any) => [st.Action].flat()).sort();
  assert.deepEqual(actionsOn(tableId), [...AUDIT_WRITER_TABLE_ACTIONS].sort());
  const tableStatements = statements.filter((st: any) => JSON.stringify(st.Resource).includes(`"${tableId}"`));
  assert.deepEqual(tableStatements.map((st: any) => st.Resource), [{ 'Fn::GetAtt': [tableId, 'Arn'] }], 'the base table only: the write path never queries an index');
  assert.deepEqual(actionsOn(bucketId), [...AUDIT_WRITER_OBJECT_ACTIONS].sort(), 'objects take the bucket\'s default lock: no PutObjectRetention');
  const keyActions = actionsOn(keyId);
  for (const a of AUDIT_WRITER_KEY_ACTIONS) assert.ok(keyActions.includes(a), `${a} on the stack key`);
  assert.ok(statements.some((st: any) => [st.Action].flat().includes('states:StopExecution')), 'a cancelled approval stops its workflow');
});

test('approval workflow: Standard, wait-for-task-token with a timeout, expiry and denial paths, valid ASL', { skip }, () => {
  const machine = one('AWS::StepFunctions::StateMachine').Properties;
  assert.equal(machine.StateMachineType, 'STANDARD');
  assert.equal(machine.TracingConfiguration.Enabled, true);
  const definition = JSON.parse(flattenIntrinsics(machine.DefinitionString) as string);
  const notify = definition.States.NotifyReviewers;
  assert.match(notify.Resource, /^arn:aws:states:::lambda:invoke\.waitForTaskToken$/);
  assert.equal(notify.TimeoutSeconds, 900);
  assert.equal(notify.Parameters.Payload['taskToken.$'], '$$.Task.Token');
  assert.equal(notify.Parameters.Payload['requestId.$'], '$.requestId');
  const catchFor = (error: string) => notify.Catch.find((c: any) => c.ErrorEquals.includes(error))?.Next;
  assert.equal(catchFor('States.Timeout'), 'ExpireRequest');
  assert.equal(catchFor('States.HeartbeatTimeout'), 'ExpireRequest');
  for (const error of Object.values(WORKFLOW_ERRORS)) assert.equal(definition.States[catchFor(error)].Type, 'Succeed', error);
  assert.equal(definition.States.ExpireRequest.Parameters.Payload['requestId.$'], '$.requestId');
  assert.ok(definition.TimeoutSeconds > notify.TimeoutSeconds, 'the expiry path has time to run');

  const result = aslValidator(definition);
  assert.ok(result.isValid, result.errorsText('\n'));

  const taskResponse = resources('AWS::IAM::Policy').find(([, p]) =>
    p.Properties.PolicyDocument.Statement.some((s: any) => [s.Action].flat().includes('states:SendTaskSuccess')),
  )!;
  assert.equal(taskResponse[1].Properties.Roles.length, 2, 'decision and notifier may return task tokens');
  const machineId = resources('AWS::StepFunctions::StateMachine')[0]![0];
  assert.deepEqual(taskResponse[1].Properties.PolicyDocument.Statement[0].Resource, { Ref: machineId }, 'on this state machine only');
  assert.ok(one('AWS::Lambda::Url').Properties.AuthType === 'NONE');
  for (const [id, topic] of resources('AWS::SNS::Topic')) assert.ok(topic.Properties.KmsMasterKeyId, id);
  const slackReaders = resources('AWS::IAM::Policy').filter(([, p]) =>
    p.Properties.PolicyDocument.Statement.some((s: any) => JSON.stringify(s.Resource).includes('airlock-slack-AbCdEf')),
  );
  assert.equal(slackReaders.length, 2, 'only the notifier and the decision function read the Slack secret');
});

test('Lambdas: bundled locally, latest Node runtime, arm64, own encrypted log groups', { skip }, () => {
  const fns = resources('AWS::Lambda::Function').map(([, f]) => f.Properties);
  assert.equal(fns.length, 4);
  for (const f of fns) {
    assert.equal(f.Runtime, 'nodejs24.x');
    assert.deepEqual(f.Architectures, ['arm64']);
    assert.ok(f.LoggingConfig.LogGroup);
    assert.ok(f.KmsKeyArn, 'environment encrypted with the stack key');
  }
  const roles = resources('AWS::IAM::Role').map(([, role]) => role.Properties);
  assert.ok(roles.every((role) => !role.ManagedPolicyArns), 'no managed policies (AWSLambdaBasicExecutionRole grants every log group)');
});

test('the bundled policy Lambda loads Cedar and validates a policy set', { skip }, async () => {
  const fn = resources('AWS::Lambda::Function').find(([id]) => id.startsWith('PolicyHandler'))![1];
  const assetDir = join(r.outdir, `asset.${String(fn.Properties.Code.S3Key).replace(/\.zip$/, '')}`);
  assert.ok(existsSync(join(assetDir, 'cedar_wasm_bg.wasm')), readdirSync(assetDir).join(','));
  // The Lambda runtime provides the AWS SDK (kept out of the bundle); give the bundle just that.
  mkdirSync(join(assetDir, 'node_modules'));
  symlinkSync(fileURLToPath(new URL('../../node_modules/@aws-sdk', import.meta.url)), join(assetDir, 'node_modules/@aws-sdk'));
  process.env.AIRLOCK_POLICY_BUCKET = 'unused-for-check';
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  const bundle = await import(join(assetDir, 'index.mjs'));
  const policies = readFileSync(new URL('../../policies/demo.cedar', import.meta.url), 'utf8');
  const ok = await bundle.handler({ action: 'check', policies });
  assert.equal(ok.ok, true, JSON.stringify(ok));
  const bad = await bundle.handler({ action: 'check', policies: 'permit(principal, action == Airlock::Action::"nope", resource);' });
  assert.equal(bad.ok, false);
});

test('observability: dashboard, alarms on audit lag, missing tasks and health, sent to a topic', { skip }, () => {
  one('AWS::CloudWatch::Dashboard');
  const alarms = resources('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
  assert.ok(alarms.some((a) => a.MetricName === 'AuditLagMs' && a.Namespace === 'Airlock'), 'AuditLagMs');
  assert.ok(!alarms.some((a) => a.MetricName === 'ApprovalsPending'), 'not on a metric that is always 0 in AWS');
  assert.ok(alarms.every((a) => a.AlarmActions?.length === 1));
});

test('network: new VPC with flow logs, endpoints for the services the fleet uses', { skip }, () => {
  one('AWS::EC2::VPC');
  one('AWS::EC2::FlowLog');
  const endpoints = resources('AWS::EC2::VPCEndpoint').map(([, e]) => JSON.stringify(flattenIntrinsics(e.Properties.ServiceName)));
  for (const svc of ['secretsmanager', 'states', 'dynamodb', 's3', 'ecr.api', 'ecr.dkr', 'logs']) {
    assert.ok(endpoints.some((e) => e.endsWith(`.${svc}"`)), `${svc} endpoint in ${endpoints}`);
  }
});
