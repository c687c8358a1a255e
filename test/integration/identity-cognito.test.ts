// Cognito-shaped tokens (no `aud`; `client_id`, `scope`, `token_use`) from a local stand-in user pool
// served over HTTP: the verifier's audience-claim option keeps verification strict, the gateway
// opens a psql session with a client-credentials token fetched as docs/deploy.md shows, and the
// approval Lambda's reviewer check reads the same claims.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTokenVerifier, TokenRejectedError, type TokenVerifier } from '../../core/identity/index.js';
import { oidcReviewerVerifier } from '../../lambdas/shared/reviewer-token.js';
import { startCognitoStandIn, type CognitoStandIn } from '../support/cognito-issuer.js';
import { startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { psql, startTestGateway, type TestGateway } from '../support/gateway.js';

const AGENTS = { clientId: 'agentclient0000000000000001', clientSecret: 'agent-client-secret-0123456789', allowedScopes: ['airlock/agents'] };
const REVIEW = { clientId: 'reviewclient000000000000002', clientSecret: 'review-client-secret-012345678', allowedScopes: [] as string[] };
const OTHER_APP = { clientId: 'otherapp000000000000000003', clientSecret: 'other-app-secret-0123456789012', allowedScopes: ['other/read'] };
const COGNITO_IDENTITY = {
  audience: [AGENTS.clientId, REVIEW.clientId],
  audienceClaim: 'client_id',
  requiredClaimValues: { token_use: 'access' },
  groupsClaim: ['cognito:groups', 'scope'],
};

let pool: CognitoStandIn;
before(async () => {
  pool = await startCognitoStandIn([AGENTS, REVIEW, OTHER_APP]);
});
after(async () => {
  await pool?.close();
});

/** As `curl -u id:secret -d grant_type=client_credentials -d scope=… <domain>/oauth2/token`. */
async function clientCredentials(client: { clientId: string; clientSecret: string }, scope?: string): Promise<string> {
  const response = await fetch(pool.tokenEndpoint, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...(scope ? { scope } : {}) }),
  });
  assert.equal(response.status, 200);
  return ((await response.json()) as { access_token: string }).access_token;
}

async function codeOf(verifier: TokenVerifier, token: string): Promise<string> {
  try {
    await verifier.verify(token);
    return 'accepted';
  } catch (err) {
    assert.ok(err instanceof TokenRejectedError, String(err));
    return err.code;
  }
}

describe('the verifier with audienceClaim', () => {
  test('client_id: the agents\' and reviewers\' app clients pass; ID tokens, other app clients and aud-less defaults do not', async () => {
    const verifier = createTokenVerifier({ issuer: pool.issuer, ...COGNITO_IDENTITY });
    const agentToken = await clientCredentials(AGENTS, 'airlock/agents');
    const agent = await verifier.verify(agentToken);
    assert.equal(agent.id, AGENTS.clientId);
    assert.deepEqual(agent.groups, ['airlock/agents']);
    assert.equal(agent.clientId, AGENTS.clientId);

    const reviewer = await verifier.verify(await pool.userAccessToken({ clientId: REVIEW.clientId, username: 'alice', groups: ['reviewers'] }));
    assert.deepEqual(reviewer.groups, ['reviewers', 'openid', 'email']);

    // The same pool's ID token names the same client, in `aud`: it has no `client_id`, and is no access token.
    assert.equal(await codeOf(verifier, await pool.idToken({ clientId: AGENTS.clientId, username: 'alice', groups: ['reviewers'] })), 'missing_claim');
    const byAudOnly = createTokenVerifier({ issuer: pool.issuer, audience: AGENTS.clientId, requiredClaimValues: { token_use: 'access' } });
    assert.equal(await codeOf(byAudOnly, await pool.idToken({ clientId: AGENTS.clientId, username: 'alice' })), 'wrong_audience');
    // An access token of another app client of the same pool.
    assert.equal(await codeOf(verifier, await clientCredentials(OTHER_APP)), 'wrong_audience');

    // Without the option, the default (`aud`) refuses every Cognito access token: strict by default.
    const byAud = createTokenVerifier({ issuer: pool.issuer, audience: AGENTS.clientId });
    assert.equal(await codeOf(byAud, agentToken), 'missing_claim');
  });

  test('scope: only tokens granted the resource server\'s scope pass', async () => {
    const verifier = createTokenVerifier({ issuer: pool.issuer, audience: 'airlock/agents', audienceClaim: 'scope', requiredClaimValues: { token_use: 'access' } });
    assert.equal(await codeOf(verifier, await clientCredentials(AGENTS, 'airlock/agents')), 'accepted');
    assert.equal(await codeOf(verifier, await pool.userAccessToken({ clientId: REVIEW.clientId, username: 'bob' })), 'wrong_audience');
    assert.equal(await codeOf(verifier, await clientCredentials(OTHER_APP)), 'wrong_audience');
  });

  test('an empty audience is a configuration error, not an open door', () => {
    assert.throws(() => createTokenVerifier({ issuer: pool.issuer, audience: [], audienceClaim: 'client_id' }), /empty audience/);
    assert.throws(() => createTokenVerifier({ issuer: pool.issuer, audience: '', audienceClaim: 'client_id' }), /empty audience/);
  });
});

test('the approval Lambda\'s reviewer check reads the same claims', async () => {
  const verify = oidcReviewerVerifier({ issuer: pool.issuer, audience: COGNITO_IDENTITY.audience, audienceClaim: 'client_id', requiredClaimValues: { token_use: 'access' }, groupsClaim: ['cognito:groups', 'scope'], principalClaim: 'username' });
  const reviewer = await verify(await pool.userAccessToken({ clientId: REVIEW.clientId, username: 'alice', groups: ['reviewers'] }));
  assert.equal(reviewer.id, 'alice');
  assert.ok(reviewer.groups.includes('reviewers'));
  await assert.rejects(verify(await pool.idToken({ clientId: REVIEW.clientId, username: 'alice', groups: ['reviewers'] })), TokenRejectedError);
});

describe('through the gateway', () => {
  let server: RunningPostgres;
  let gw: TestGateway;
  before(async () => {
    server = await startPostgres();
    gw = await startTestGateway(server, {
      policy: `@id("cognito-agents")\npermit (principal in Airlock::Group::"airlock/agents", action in [Airlock::Action::"connect", Airlock::Action::"read"], resource);\n`,
      config: (raw) => {
        raw.identity = { issuer: pool.issuer, ...COGNITO_IDENTITY };
      },
    });
  });
  after(async () => {
    await gw?.stop();
    await server?.stop();
  });

  test('a client-credentials token from the pool opens a psql session; an ID token does not', async () => {
    const ok = await psql(gw.conninfo(), ['-tAc', 'SELECT 40 + 2'], { token: await clientCredentials(AGENTS, 'airlock/agents') });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout.trim(), '42');
    const id = await psql(gw.conninfo(), ['-tAc', 'SELECT 1'], { token: await pool.idToken({ clientId: AGENTS.clientId, username: 'alice' }) });
    assert.notEqual(id.code, 0);
    assert.match(id.stderr, /lacks a required claim/);
  });
});
