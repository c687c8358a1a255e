// Who may do what to the approvals table, the public decision URL's throttle, the identity claims
// every component reads, and alarms that can fire. Synthesized without bundling the Lambdas.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { expandEnv, parseConfig } from '../../fargate-proxy/src/config/load.js';
import { AirlockStack } from '../../lib/airlock-stack.js';
import { FLEET_BUDGET_ATTRIBUTES, FLEET_BUDGET_KEY_PATTERN, FLEET_TASK_KEY_PATTERNS, FLEET_UPDATE_ATTRIBUTES, REQUEST_KEY_PATTERN } from '../../lib/approval-workflow.js';
import { DynamoSlotLedger } from '../../fargate-proxy/src/adapters/aws/session-slot-ledger.js';
import { DynamoBudgetLedger } from '../../fargate-proxy/src/adapters/aws/budget-dynamo-ledger.js';
import { fleetUsageKey } from '../../core/task/lease.js';
import { TASK_TOKEN_ENV, TASK_TOKEN_SIGNER_ACTIONS } from '../../lib/task-token-key.js';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoApprovalStore } from '../../fargate-proxy/src/adapters/aws/approval-dynamo-store.js';
import { flattenIntrinsics } from './synth-airlock.js';

let t: Template;
let json: { Resources: Record<string, { Type: string; Properties: any }> };
before(() => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new AirlockStack(app, 'Least', {
    settings: {
      oidcIssuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123',
      oidcAudience: 'airlock',
      principalClaim: 'username',
      groupsClaim: 'cognito:groups',
      jwksUri: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123/.well-known/jwks.json',
      targets: [{ name: 'orders', kind: 'postgres', host: 'orders.internal', settings: { database: 'orders', user: 'airlock' } }],
    },
  });
  t = Template.fromStack(stack);
  json = t.toJSON() as typeof json;
});

const roleId = (prefix: string) => Object.keys(json.Resources).find((id) => id.startsWith(prefix) && json.Resources[id]!.Type === 'AWS::IAM::Role')!;
const approvalsTable = () => Object.keys(json.Resources).find((id) => id.startsWith('Approvals') && json.Resources[id]!.Type === 'AWS::DynamoDB::Table')!;
function statementsOn(role: string, resource: string): any[] {
  return Object.values(json.Resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((x: any) => x.Ref === role))
    .flatMap((p) => p.Properties.PolicyDocument.Statement)
    .filter((s: any) => JSON.stringify(s.Resource).includes(`"${resource}"`));
}
const actions = (sts: any[]) => sts.flatMap((s) => [s.Action].flat()).sort();

test('approvals table by role: the fleet creates requests, tasks and kill orders and reads; only the decision function writes grants', () => {
  const table = approvalsTable();
  const fleet = statementsOn(roleId('FleetTaskTaskRole'), table);
  assert.deepEqual(actions(fleet), ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:PutItem', 'dynamodb:Scan', 'dynamodb:UpdateItem', 'dynamodb:UpdateItem']);
  const leading = (s: any) => s.Condition['ForAllValues:StringLike']['dynamodb:LeadingKeys'];
  const writes = fleet.filter((x) => x.Action === 'dynamodb:PutItem' || x.Action === 'dynamodb:UpdateItem');
  for (const s of writes) assert.deepEqual(s.Condition.Null, { 'dynamodb:LeadingKeys': 'false' }, `${s.Action}: a key must be named`);
  const update = fleet.find((s) => s.Action === 'dynamodb:UpdateItem' && leading(s).includes(REQUEST_KEY_PATTERN));
  assert.deepEqual(leading(update), [REQUEST_KEY_PATTERN], 'updates: request (and held-request) keys only');
  // Fleet-wide budget counts: their own keys, the count and its expiry only.
  const budgetUpdate = fleet.find((s) => s.Action === 'dynamodb:UpdateItem' && s !== update);
  assert.deepEqual(leading(budgetUpdate), [FLEET_BUDGET_KEY_PATTERN]);
  assert.deepEqual(budgetUpdate.Condition['ForAllValues:StringEquals']['dynamodb:Attributes'], [...FLEET_BUDGET_ATTRIBUTES]);
  assert.deepEqual(update.Condition['ForAllValues:StringEquals']['dynamodb:Attributes'], [...FLEET_UPDATE_ATTRIBUTES]);
  for (const forbidden of ['reviewer', 'scope', 'scopeMinutes', 'taskToken']) assert.ok(!FLEET_UPDATE_ATTRIBUTES.includes(forbidden as never), forbidden);
  assert.deepEqual(writes.filter((s) => s.Action === 'dynamodb:PutItem').map((s) => JSON.stringify(leading(s))).sort(), [JSON.stringify([REQUEST_KEY_PATTERN]), JSON.stringify([...FLEET_TASK_KEY_PATTERNS])].sort());
  // A grant key matches none of the fleet's write patterns (IAM's ? is exactly one character, * any run).
  const likeToRegex = (p: string) => new RegExp(`^${p.replace(/[#]/g, '\\$&').replace(/\?/g, '.').replace(/\*/g, '.*')}$`);
  const grantKey = `grant#${'0'.repeat(64)}`;
  assert.ok(likeToRegex(REQUEST_KEY_PATTERN).test('0b6f8c1e-4f7a-4d2c-9a51-3e2b7d9c0a11'));
  assert.ok(likeToRegex('task#*').test('task#t-1') && likeToRegex('kill#*').test('kill#agent#1700000000000'));
  for (const p of [REQUEST_KEY_PATTERN, ...FLEET_TASK_KEY_PATTERNS, FLEET_BUDGET_KEY_PATTERN]) assert.ok(!likeToRegex(p).test(grantKey), `${p} must not match a grant key`);
  assert.ok(likeToRegex(FLEET_BUDGET_KEY_PATTERN).test('budget#task#t-1/statements') && !likeToRegex(FLEET_BUDGET_KEY_PATTERN).test('task#t-1'));

  assert.deepEqual(actions(statementsOn(roleId('ApprovalsDecisionRole'), table)), ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']);
  assert.deepEqual(actions(statementsOn(roleId('ApprovalsNotifierRole'), table)), ['dynamodb:GetItem', 'dynamodb:UpdateItem']);
  assert.deepEqual(actions(statementsOn(roleId('ApprovalsExpireRole'), table)), ['dynamodb:GetItem', 'dynamodb:UpdateItem']);
  const everyAction = Object.values(json.Resources).filter((r) => r.Type === 'AWS::IAM::Policy').flatMap((p) => p.Properties.PolicyDocument.Statement).filter((s: any) => JSON.stringify(s.Resource).includes(`"${table}"`)).flatMap((s: any) => [s.Action].flat());
  assert.ok(!everyAction.some((a: string) => /DeleteItem|BatchWrite/.test(a)), `no deletes or batch writes on approvals: ${everyAction}`);
});

test('every attribute the fleet\'s approval-store updates name is in the IAM attribute list (conditions included)', async () => {
  // Records the UpdateItem inputs the real adapter sends (claiming a held request, cancelling, noting the execution).
  const dynamo = mockClient(DynamoDBDocumentClient);
  dynamo.on(UpdateCommand).resolves({});
  const store = new DynamoApprovalStore(new DynamoDBClient({ region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } }), 'approvals');
  await store.useHeld('0b6f8c1e-4f7a-4d2c-9a51-3e2b7d9c0a11', 'a-1', Date.now());
  await store.recordExecution('0b6f8c1e-4f7a-4d2c-9a51-3e2b7d9c0a11', 'arn:aws:states:eu-west-1:1:execution:m:x');
  await store.settle('0b6f8c1e-4f7a-4d2c-9a51-3e2b7d9c0a11', { state: 'cancelled', decidedAt: Date.now(), reason: 'agent cancelled' });
  const updates = dynamo.commandCalls(UpdateCommand).map((c) => c.args[0].input as any);
  dynamo.restore();
  assert.equal(updates.length, 3);
  for (const input of updates) assertNamesWithin(input, FLEET_UPDATE_ATTRIBUTES, 'FLEET_UPDATE_ATTRIBUTES');
});

/** Every attribute an UpdateItem names: the key, the #placeholders, and bare identifiers (minus keywords and functions). */
function assertNamesWithin(input: any, allowed: readonly string[], list: string): void {
  const text = [input.UpdateExpression, input.ConditionExpression ?? ''].join(' ');
  const bare = text.replace(/[#:][A-Za-z0-9_]+/g, ' ').match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? [];
  const keywords = new Set(['SET', 'REMOVE', 'ADD', 'DELETE', 'AND', 'OR', 'NOT', 'attribute_exists', 'attribute_not_exists']);
  const names = new Set<string>([...Object.keys(input.Key), ...Object.values<string>(input.ExpressionAttributeNames ?? {}), ...bare.filter((w) => !keywords.has(w))]);
  for (const n of names) assert.ok(allowed.includes(n), `${n} (in "${text}") is not in ${list}`);
}

test('every attribute the fleet\'s budget-ledger updates name is in the budget attribute list, under a budget key', async () => {
  const dynamo = mockClient(DynamoDBDocumentClient);
  dynamo.on(UpdateCommand).resolves({});
  const ledger = new DynamoBudgetLedger(new DynamoDBClient({ region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } }), 'approvals');
  await ledger.lease('task#t-1/statements', 10, 2);
  await ledger.giveBack('task#t-1/statements', 1);
  // What tasks did (every counter, added at each poll): the same prefix, so the same grant covers it.
  await ledger.add(fleetUsageKey('t-1', 'refusals'), 3);
  const updates = dynamo.commandCalls(UpdateCommand).map((c) => c.args[0].input as any);
  dynamo.restore();
  assert.equal(updates.length, 3);
  const likeToRegex = (p: string) => new RegExp(`^${p.replace(/[#]/g, '\\$&').replace(/\*/g, '.*')}$`);
  for (const input of updates) {
    assert.ok(likeToRegex(FLEET_BUDGET_KEY_PATTERN).test(input.Key.requestId), input.Key.requestId);
    assertNamesWithin(input, FLEET_BUDGET_ATTRIBUTES, 'FLEET_BUDGET_ATTRIBUTES');
  }
});

test('every top-level attribute the fleet\'s concurrent-session slot updates name is in the budget attribute list, under a budget key', async () => {
  const dynamo = mockClient(DynamoDBDocumentClient);
  dynamo.on(UpdateCommand).resolves({});
  const ledger = new DynamoSlotLedger(new DynamoDBClient({ region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } }), 'approvals');
  const key = 'task#t-1/concurrentSessions';
  await ledger.take(key, 2, 'host/1/ab', 0, 1);
  await ledger.take(key, 2, 'host/1/ab', 1, 2);
  await ledger.give(key, 'host/1/ab', 2, 3);
  await ledger.give(key, 'host/1/ab', 1, 3);
  await ledger.beat(key, 'host/1/ab', 1, 4);
  await ledger.reclaim(key, 'host/2/cd', { n: 1, beat: 1 });
  const updates = dynamo.commandCalls(UpdateCommand).map((c) => c.args[0].input as any);
  dynamo.restore();
  assert.equal(updates.length, 7, 'the item is created once, then one update per transition');
  const likeToRegex = (p: string) => new RegExp(`^${p.replace(/[#]/g, '\\$&').replace(/\*/g, '.*')}$`);
  for (const input of updates) {
    assert.ok(likeToRegex(FLEET_BUDGET_KEY_PATTERN).test(input.Key.requestId), input.Key.requestId);
    // IAM's dynamodb:Attributes names top-level attributes: a document path counts by its first element (holders.<process>.n is `holders`).
    const text = [input.UpdateExpression, input.ConditionExpression ?? ''].join(' ');
    const firsts = [...text.matchAll(/(?<![.\w])#[A-Za-z0-9_]+/g)].map((m) => input.ExpressionAttributeNames[m[0]] as string);
    const bare = text.replace(/[#:][A-Za-z0-9_]+/g, ' ').match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? [];
    const keywords = new Set(['SET', 'REMOVE', 'AND', 'OR', 'NOT', 'attribute_exists', 'attribute_not_exists', 'if_not_exists']);
    for (const n of [...Object.keys(input.Key), ...firsts, ...bare.filter((w) => !keywords.has(w))]) assert.ok(FLEET_BUDGET_ATTRIBUTES.includes(n as never), `${n} (in "${text}") is not in FLEET_BUDGET_ATTRIBUTES`);
  }
});

test('task tokens: their own P-256 signing key; only the fleet may sign, and it may sign and read the public key only', () => {
  const keys = Object.entries(json.Resources).filter(([, r]) => r.Type === 'AWS::KMS::Key' && r.Properties.KeySpec === 'ECC_NIST_P256');
  const [id, key] = keys.find(([, r]) => JSON.stringify(r.Properties.KeyPolicy).includes('OnlyTheFleetSignsTaskTokens'))!;
  assert.equal(key.Properties.KeyUsage, 'SIGN_VERIFY');
  const deny = key.Properties.KeyPolicy.Statement.find((s: any) => s.Sid === 'OnlyTheFleetSignsTaskTokens');
  assert.deepEqual([deny.Effect, deny.Action, deny.Principal], ['Deny', 'kms:Sign', { AWS: '*' }]);
  assert.deepEqual(deny.Condition.ArnNotEquals['aws:PrincipalArn'], { 'Fn::GetAtt': [roleId('FleetTaskTaskRole'), 'Arn'] });
  const onKey = statementsOn(roleId('FleetTaskTaskRole'), id);
  assert.deepEqual(actions(onKey), [...TASK_TOKEN_SIGNER_ACTIONS].sort());
  for (const role of ['ApprovalsDecisionRole', 'ApprovalsNotifierRole', 'ApprovalsExpireRole']) assert.deepEqual(statementsOn(roleId(role), id), [], `${role} has no use for the task-token key`);
  // The proxy reads the key from its configuration: tasks.kmsKeyId expands to this key's ARN.
  const task = Object.values(json.Resources).find((r) => r.Type === 'AWS::ECS::TaskDefinition')!;
  const env = Object.fromEntries(task.Properties.ContainerDefinitions[0].Environment.map((e: any) => [e.Name, e.Value])) as Record<string, any>;
  assert.deepEqual(env[TASK_TOKEN_ENV.key], { 'Fn::GetAtt': [id, 'Arn'] });
  const flat = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, flattenIntrinsics(v)])) as Record<string, string>;
  const cfg = parseConfig(expandEnv(JSON.parse(flat.AIRLOCK_CONFIG!), [], flat), '/app');
  assert.equal(cfg.tasks.kmsKeyId, flat[TASK_TOKEN_ENV.key]);
});

test('the public decision URL is throttled by reserved concurrency', () => {
  const fn = Object.values(json.Resources).find((r) => r.Type === 'AWS::Lambda::Function' && JSON.stringify(r.Properties.Environment ?? {}).includes('REVIEWER_GROUPS'))!;
  assert.equal(fn.Properties.ReservedConcurrentExecutions, 10);
  const url = Object.values(json.Resources).find((r) => r.Type === 'AWS::Lambda::Url')!;
  assert.equal(url.Properties.AuthType, 'NONE');
});

test('principalClaim, groupsClaim and jwksUri reach the proxy and the decision Lambda', () => {
  const task = Object.values(json.Resources).find((r) => r.Type === 'AWS::ECS::TaskDefinition')!;
  const env = Object.fromEntries(task.Properties.ContainerDefinitions[0].Environment.map((e: any) => [e.Name, flattenIntrinsics(e.Value)])) as Record<string, string>;
  const cfg = parseConfig(expandEnv(JSON.parse(env.AIRLOCK_CONFIG!), [], env), '/app');
  assert.equal(cfg.identity.principalClaim, 'username');
  assert.equal(cfg.identity.groupsClaim, 'cognito:groups');
  assert.equal(cfg.identity.jwksUri, 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123/.well-known/jwks.json');
  const fn = Object.values(json.Resources).find((r) => r.Type === 'AWS::Lambda::Function' && JSON.stringify(r.Properties.Environment ?? {}).includes('REVIEWER_GROUPS'))!;
  const vars = fn.Properties.Environment.Variables;
  assert.deepEqual([vars.OIDC_PRINCIPAL_CLAIM, vars.OIDC_GROUPS_CLAIM, vars.OIDC_JWKS_URI], ['username', 'cognito:groups', cfg.identity.jwksUri]);
});

test('alarms can fire: missing audit-lag data breaches, missing tasks alarm, none on metrics the fleet never emits in AWS', () => {
  const alarms = Object.entries(json.Resources).filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm');
  const byId = (p: string) => alarms.find(([id]) => id.startsWith(`Observability${p}`))?.[1].Properties;
  assert.equal(byId('AuditLag').TreatMissingData, 'breaching');
  assert.equal(byId('TasksMissing').TreatMissingData, 'breaching');
  assert.match(JSON.stringify(byId('TasksMissing').Metrics), /RunningTaskCount/);
  assert.equal(byId('ApprovalsPending'), undefined, 'the fleet reports 0 pending in AWS (the workflow holds them): no alarm that cannot fire');
});

test('the NLB and the tasks\' health checks are liveness: any HTTP answer from /healthz', () => {
  for (const [, g] of Object.entries(json.Resources).filter(([, r]) => r.Type === 'AWS::ElasticLoadBalancingV2::TargetGroup')) {
    assert.equal(g.Properties.Matcher.HttpCode, '200-599');
    assert.equal(g.Properties.HealthCheckPath, '/healthz');
  }
  const task = Object.values(json.Resources).find((r) => r.Type === 'AWS::ECS::TaskDefinition')!;
  const check = task.Properties.ContainerDefinitions[0].HealthCheck.Command.join(' ');
  assert.ok(!check.includes('r.ok'), 'a 503 (audit store unreachable) does not fail the container check');
});

test('the notifier is retried with backoff on its own failures only; exhausted retries record why and fail the execution', () => {
  const machine = Object.values(json.Resources).find((r) => r.Type === 'AWS::StepFunctions::StateMachine')!;
  const body = machine.Properties.DefinitionString;
  const text = typeof body === 'string' ? body : (body['Fn::Join'][1] as unknown[]).map((p) => (typeof p === 'string' ? p : 'X')).join('');
  const def = JSON.parse(text);
  const notify = def.States.NotifyReviewers;
  const retry = notify.Retry.find((r: any) => r.ErrorEquals.includes('Error'));
  assert.ok(retry, 'a function error is retried');
  assert.equal(retry.BackoffRate, 2);
  assert.equal(retry.MaxAttempts, 4);
  for (const outcome of ['ApprovalDenied', 'ApprovalCancelled', 'ApprovalExpired', 'States.ALL', 'States.Timeout']) {
    assert.ok(!notify.Retry.some((r: any) => r.ErrorEquals.includes(outcome)), `${outcome} is never retried`);
  }
  const catchers = notify.Catch.map((c: any) => c.ErrorEquals.join(','));
  assert.equal(catchers.at(-1), 'States.ALL', 'the catch-all comes after the outcomes');
  const last = notify.Catch.at(-1).Next;
  assert.equal(def.States[last].Parameters.Payload.why, 'notNotified');
  assert.equal(def.States[def.States[last].Next].Type, 'Fail');
});

test('VPC endpoint policies: this account\'s principals only; the gateway endpoints reach this account\'s buckets and tables (and ECR\'s layer bucket)', () => {
  const endpoints = Object.values(json.Resources).filter((r) => r.Type === 'AWS::EC2::VPCEndpoint');
  assert.ok(endpoints.length >= 7);
  for (const e of endpoints) {
    const statements = e.Properties.PolicyDocument?.Statement as any[] | undefined;
    assert.ok(statements?.length, `${JSON.stringify(e.Properties.ServiceName)} has a policy`);
    for (const st of statements) assert.ok(st.Condition?.StringEquals?.['aws:PrincipalAccount'], 'every statement names the account');
    const gateway = e.Properties.VpcEndpointType === 'Gateway';
    if (gateway) {
      const broad = statements.find((st) => st.Resource === '*');
      assert.ok(broad.Condition.StringEquals['aws:ResourceAccount'], 'a gateway endpoint reaches this account\'s resources only');
    }
  }
  const layerBucket = endpoints.flatMap((e) => e.Properties.PolicyDocument.Statement).find((st: any) => JSON.stringify(st.Resource).includes('starport-layer-bucket'));
  assert.deepEqual(layerBucket.Action, 's3:GetObject');
});

test('the stack key\'s service statements are conditioned on this account\'s sources', () => {
  const key = Object.entries(json.Resources).find(([id, r]) => r.Type === 'AWS::KMS::Key' && id.startsWith('Key'))![1];
  const services = (key.Properties.KeyPolicy.Statement as any[]).filter((st) => st.Principal?.Service);
  assert.ok(services.length >= 2);
  for (const st of services) assert.ok(st.Condition, `${JSON.stringify(st.Principal.Service)} has a condition`);
  const cw = services.find((st) => JSON.stringify(st.Principal.Service).includes('cloudwatch'));
  assert.ok(cw.Condition.StringEquals['aws:SourceAccount']);
  assert.match(JSON.stringify(flattenIntrinsics(cw.Condition.ArnLike['aws:SourceArn'])), /:alarm:\*/);
});
