// With no issuer configured, the stack creates a Cognito user pool: a resource server, a
// client-credentials app client for agents, a browser (code + PKCE) client for reviewers and the
// reviewer group. The rendered proxy configuration and the decision Lambda's environment are then fed
// to the real verifiers against a Cognito-shaped local pool: agents' tokens pass, ID tokens do not.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expandEnv, parseConfig } from '../../fargate-proxy/src/config/load.js';
import { createTokenVerifier, TokenRejectedError } from '../../core/identity/index.js';
import { oidcReviewerVerifier } from '../../lambdas/shared/reviewer-token.js';
import { AirlockStack } from '../../lib/airlock-stack.js';
import { CONSOLE_SIGN_IN_CLIENT_ENV } from '../../lib/proxy-config.js';
import { AGENT_SCOPE, REVIEW_SCOPE, REVIEWER_CLIENT_NAME, REVIEWER_SIGN_IN_SCOPE } from '../../lib/default-identity.js';
import { startCognitoStandIn, type CognitoStandIn } from '../support/cognito-issuer.js';
import { flattenIntrinsics, synthAirlock } from './synth-airlock.js';

let outdir: string;
let json: { Resources: Record<string, { Type: string; Properties: any }> };
let violations: string[] = [];
let pool: CognitoStandIn;
const AGENTS = { clientId: 'agents0000000000000000000001', clientSecret: 'agents-secret-0123456789abcdef', allowedScopes: [AGENT_SCOPE] };

before(async () => {
  outdir = mkdtempSync(join(tmpdir(), 'airlock-cognito-'));
  const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
  new AirlockStack(app, 'Cognito', {
    env: { account: '123456789012', region: 'eu-west-1' },
    settings: { targets: [{ name: 'orders', kind: 'postgres', host: 'orders.internal', settings: { database: 'orders', user: 'airlock' } }] },
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  try {
    app.synth();
  } catch {
    /* findings are read from the report below */
  }
  const report = join(outdir, 'validation-report.json');
  if (existsSync(report)) {
    violations = JSON.parse(readFileSync(report, 'utf8')).pluginReports.flatMap((p: any) =>
      p.violations.map((v: any) => `${v.ruleName}: ${v.violatingConstructs.map((c: any) => c.constructPath).join(', ')}`),
    );
  }
  json = JSON.parse(readFileSync(join(outdir, 'Cognito.template.json'), 'utf8'));
  pool = await startCognitoStandIn([AGENTS, { clientId: 'other0000000000000000000002', clientSecret: 'other-secret-0123456789abcdefg', allowedScopes: [] }]);
});
after(async () => {
  rmSync(outdir, { recursive: true, force: true });
  await pool?.close();
});

const ofType = (type: string) => Object.values(json.Resources).filter((r) => r.Type === type).map((r) => r.Properties);

test('cdk-nag stays clean with the default user pool', () => {
  assert.deepEqual(violations, []);
});

test('a user pool with MFA and no self sign-up, a resource server, an agents\' and a reviewers\' client, the reviewer group', () => {
  const [userPool] = ofType('AWS::Cognito::UserPool');
  assert.equal(userPool.MfaConfiguration, 'ON');
  assert.equal(userPool.AdminCreateUserConfig.AllowAdminCreateUserOnly, true);
  const [server] = ofType('AWS::Cognito::UserPoolResourceServer');
  const serverId = Object.keys(json.Resources).find((id) => json.Resources[id]!.Type === 'AWS::Cognito::UserPoolResourceServer');
  assert.equal(server.Identifier, 'airlock');
  assert.deepEqual(server.Scopes.map((s: any) => s.ScopeName).sort(), ['agents', 'review']);
  const clients = ofType('AWS::Cognito::UserPoolClient');
  const agents = clients.find((c) => c.ClientName === 'airlock-agents');
  assert.equal(agents.GenerateSecret, true);
  assert.deepEqual(agents.AllowedOAuthFlows, ['client_credentials']);
  // `<resource server identifier>/agents`; the identifier is a Ref to the resource server.
  assert.deepEqual(flattenIntrinsics(agents.AllowedOAuthScopes), [`ref-${serverId}/agents`]);
  const reviewers = clients.find((c) => c.ClientName === 'airlock-reviewers');
  assert.ok(!reviewers.GenerateSecret, 'a browser client holds no secret');
  assert.deepEqual(reviewers.AllowedOAuthFlows, ['code']);
  assert.ok((flattenIntrinsics(reviewers.AllowedOAuthScopes) as string[]).includes(`ref-${serverId}/review`));
  assert.match(String(flattenIntrinsics(reviewers.CallbackURLs[0])), /lambda-url.*\/signin$/);
  const [group] = ofType('AWS::Cognito::UserPoolGroup');
  assert.equal(group.GroupName, 'reviewers');
  assert.equal(ofType('AWS::Cognito::UserPoolDomain').length, 1, 'a domain: /oauth2/token for agents, /oauth2/authorize for reviewers');
});

test('the review page signs reviewers in with the reviewers\' client: its callback is the decision URL\'s /signin, found by name in this pool', () => {
  const clients = ofType('AWS::Cognito::UserPoolClient');
  const reviewers = clients.find((c) => c.ClientName === REVIEWER_CLIENT_NAME);
  const urlId = Object.keys(json.Resources).find((id) => json.Resources[id]!.Type === 'AWS::Lambda::Url')!;
  // The callback is `<Function URL>signin` (the URL ends with '/'): the path the decision handler serves.
  assert.deepEqual(reviewers.CallbackURLs, [{ 'Fn::Join': ['', [{ 'Fn::GetAtt': [urlId, 'FunctionUrl'] }, 'signin']] }]);
  const decisionFnId = json.Resources[urlId]!.Properties.TargetFunctionArn['Fn::GetAtt'][0];
  const vars = json.Resources[decisionFnId]!.Properties.Environment.Variables;
  const poolId = Object.keys(json.Resources).find((id) => json.Resources[id]!.Type === 'AWS::Cognito::UserPool')!;
  assert.deepEqual(vars.COGNITO_USER_POOL_ID, { Ref: poolId });
  assert.equal(vars.REVIEWER_CLIENT_NAME, REVIEWER_CLIENT_NAME);
  assert.equal(vars.REVIEWER_SIGN_IN_SCOPE, REVIEWER_SIGN_IN_SCOPE);
  assert.ok(!('REVIEWER_CLIENT_ID' in vars) && !('REVIEW_BASE_URL' in vars), 'naming the client or the URL here would be a dependency cycle');
  const roleId = json.Resources[decisionFnId]!.Properties.Role['Fn::GetAtt'][0];
  const statements = Object.values(json.Resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((x: any) => x.Ref === roleId))
    .flatMap((p) => p.Properties.PolicyDocument.Statement)
    .filter((st: any) => [st.Action].flat().some((a: string) => a.startsWith('cognito-idp:')));
  assert.deepEqual(statements.map((st: any) => [st.Action, st.Resource]), [['cognito-idp:ListUserPoolClients', { 'Fn::GetAtt': [poolId, 'Arn'] }]]);
});

test('the rendered proxy identity accepts an agent\'s client-credentials token, not an ID token or another client\'s', async () => {
  const [task] = ofType('AWS::ECS::TaskDefinition');
  const env = Object.fromEntries(task.ContainerDefinitions[0].Environment.map((e: any) => [e.Name, flattenIntrinsics(e.Value)])) as Record<string, string>;
  const cfg = parseConfig(expandEnv(JSON.parse(env.AIRLOCK_CONFIG!), [], env), '/app');
  assert.match(String(cfg.identity.issuer), /^https:\/\/cognito-idp\.eu-west-1\.amazonaws\.com\//);
  // The same settings, pointed at the local pool.
  const verifier = createTokenVerifier({ ...cfg.identity, issuer: pool.issuer, jwksUri: undefined });
  const token = await (
    await fetch(pool.tokenEndpoint, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${AGENTS.clientId}:${AGENTS.clientSecret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: AGENT_SCOPE }),
    })
  ).json() as { access_token: string };
  const agent = await verifier.verify(token.access_token);
  assert.deepEqual(agent.groups, [AGENT_SCOPE]);
  await assert.rejects(verifier.verify(await pool.idToken({ clientId: AGENTS.clientId, username: 'alice' })), TokenRejectedError);
  await assert.rejects(verifier.verify(await pool.userAccessToken({ clientId: 'x', username: 'mallory', scope: 'openid' })), { code: 'wrong_audience' });

  // The decision Lambda: reviewers only (scope airlock/review), groups from cognito:groups.
  const fn = Object.values(json.Resources).find((r) => r.Type === 'AWS::Lambda::Function' && JSON.stringify(r.Properties.Environment ?? {}).includes('REVIEWER_GROUPS'))!;
  const vars = fn.Properties.Environment.Variables;
  assert.equal(vars.OIDC_AUDIENCE, REVIEW_SCOPE);
  const reviewer = oidcReviewerVerifier({
    issuer: pool.issuer,
    audience: vars.OIDC_AUDIENCE.split(','),
    audienceClaim: vars.OIDC_AUDIENCE_CLAIM,
    requiredClaimValues: JSON.parse(vars.OIDC_REQUIRED_CLAIMS),
    groupsClaim: vars.OIDC_GROUPS_CLAIM.split(','),
  });
  const alice = await reviewer(await pool.userAccessToken({ clientId: 'reviewers', username: 'alice', groups: ['reviewers'], scope: `openid email ${REVIEW_SCOPE}` }));
  assert.ok(alice.groups.includes('reviewers'));
  await assert.rejects(reviewer(token.access_token), { code: 'wrong_audience' }, 'an agent\'s token decides nothing');
});

test('with listener TLS the console signs reviewers in too: the reviewers\' client returns them to <consoleUrl>/signin, and the proxy is told the client', () => {
  const ORDERS = { name: 'orders', kind: 'postgres' as const, host: 'orders.internal', settings: { database: 'orders', user: 'airlock' } };
  const TLS = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:airlock-tls-AbCdEf';
  const consoleOf = (settings: Parameters<typeof synthAirlock>[0], name: string) => {
    const r = synthAirlock(settings, name);
    try {
      assert.equal(r.synthError, undefined);
      const resources = Object.entries(r.template.Resources as Record<string, { Type: string; Properties: any }>);
      const [clientId, client] = resources.find(([, x]) => x.Type === 'AWS::Cognito::UserPoolClient' && x.Properties.ClientName === REVIEWER_CLIENT_NAME)!;
      const container = resources.find(([, x]) => x.Type === 'AWS::ECS::TaskDefinition')![1].Properties.ContainerDefinitions[0];
      const raw = Object.fromEntries(container.Environment.map((e: any) => [e.Name, e.Value])) as Record<string, unknown>;
      const env = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, String(flattenIntrinsics(v))])) as Record<string, string>;
      const cfg = parseConfig(expandEnv(JSON.parse(env.AIRLOCK_CONFIG!), [], env), '/app');
      return { callbacks: client.Properties.CallbackURLs.map(flattenIntrinsics) as string[], clientRef: raw[CONSOLE_SIGN_IN_CLIENT_ENV], clientId, signIn: cfg.listeners.console?.signIn };
    } finally {
      rmSync(r.outdir, { recursive: true, force: true });
    }
  };
  const named = consoleOf({ targets: [ORDERS], listenerTlsSecretArn: TLS, consoleUrl: 'https://airlock.example.com:8443/' }, 'ConsoleNamed');
  assert.equal(named.callbacks.length, 2);
  assert.match(named.callbacks[0]!, /lambda-url.*\/signin$/, 'the review page keeps its callback');
  assert.equal(named.callbacks[1], 'https://airlock.example.com:8443/signin');
  assert.deepEqual(named.clientRef, { Ref: named.clientId }, 'the task reads the client id from its environment');
  assert.deepEqual(named.signIn, { clientId: `ref-${named.clientId}`, scope: REVIEWER_SIGN_IN_SCOPE });

  // Without a console URL, the NLB's own name on 8443.
  const byNlb = consoleOf({ targets: [ORDERS], listenerTlsSecretArn: TLS }, 'ConsoleNlb');
  assert.match(byNlb.callbacks[1]!, /^https:\/\/Fleet\S*-DNSName:8443\/signin$/);

  // Plain HTTP: no browser sign-in at the console (an issuer returns browsers only to HTTPS).
  const plain = consoleOf({ targets: [ORDERS] }, 'ConsolePlain');
  assert.equal(plain.callbacks.length, 1);
  assert.equal(plain.clientRef, undefined);
  assert.equal(plain.signIn, undefined);
});
