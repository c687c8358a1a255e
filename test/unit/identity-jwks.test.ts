import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTokenVerifier, TokenRejectedError, type TokenVerifier } from '../../core/identity/index.js';
import { forgeToken, generateTestSigningKey, startTestJwksServer, type TestJwksServer, type TestSigningKey } from '../support/tokens.js';

const AUDIENCE = 'urn:airlock:test';

async function codeOf(verifier: TokenVerifier, token: string): Promise<string> {
  try {
    await verifier.verify(token);
    return 'accepted';
  } catch (err) {
    assert.ok(err instanceof TokenRejectedError, `expected TokenRejectedError, got ${String(err)}`);
    return err.code;
  }
}

function tokenFor(server: TestJwksServer, signingKey: TestSigningKey, subject = 'rotating-agent'): Promise<string> {
  return forgeToken('valid', { issuer: server.issuer, audience: AUDIENCE, signingKey, subject });
}

describe('JWKS fetching, rotation and rate limiting', () => {
  const servers: TestJwksServer[] = [];
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });
  async function serve(keys: TestSigningKey[], discoveryIssuer?: string): Promise<TestJwksServer> {
    const server = await startTestJwksServer(keys.map((k) => k.publicJwk), discoveryIssuer);
    servers.push(server);
    return server;
  }

  test('a rotated key is picked up once the refetch interval has passed', async () => {
    const oldKey = await generateTestSigningKey('ES256');
    const newKey = await generateTestSigningKey('RS256');
    const server = await serve([oldKey]);
    const verifier = createTokenVerifier({ issuer: server.issuer, audience: AUDIENCE, jwksUri: server.jwksUri, jwksRefetchMinIntervalMs: 1500 });

    const signedByNewKey = await tokenFor(server, newKey);
    assert.equal(await codeOf(verifier, await tokenFor(server, oldKey)), 'accepted');
    assert.equal(server.jwksFetches, 1);

    server.setKeys([oldKey.publicJwk, newKey.publicJwk]);
    // Inside the interval the cached set is trusted: the new kid is unknown and nothing is fetched.
    assert.equal(await codeOf(verifier, signedByNewKey), 'unknown_key');
    assert.equal(server.jwksFetches, 1);

    await sleep(1600);
    assert.equal(await codeOf(verifier, await tokenFor(server, newKey)), 'accepted');
    assert.equal(server.jwksFetches, 2);
    // The old key stays valid while the issuer still publishes it.
    assert.equal(await codeOf(verifier, await tokenFor(server, oldKey)), 'accepted');
    assert.equal(server.jwksFetches, 2);
  });

  test('a flood of unknown kids causes at most one fetch per interval', async () => {
    const trusted = await generateTestSigningKey('ES256');
    const server = await serve([trusted]);
    const verifier = createTokenVerifier({ issuer: server.issuer, audience: AUDIENCE, jwksUri: server.jwksUri, jwksRefetchMinIntervalMs: 1500 });
    const strangers = await Promise.all(Array.from({ length: 40 }, () => forgeToken('unknown_kid', { issuer: server.issuer, audience: AUDIENCE, signingKey: trusted })));
    assert.equal(await codeOf(verifier, await tokenFor(server, trusted)), 'accepted');
    assert.equal(server.jwksFetches, 1);

    const during = await Promise.all(strangers.map((t) => codeOf(verifier, t)));
    assert.ok(during.every((c) => c === 'unknown_key'));
    assert.equal(server.jwksFetches, 1, 'no refetch inside the interval');

    await sleep(1600);
    const afterInterval = await Promise.all(strangers.map((t) => codeOf(verifier, t)));
    assert.ok(afterInterval.every((c) => c === 'unknown_key'));
    assert.equal(server.jwksFetches, 2, 'concurrent unknown kids share one refetch');
    for (const t of strangers) assert.equal(await codeOf(verifier, t), 'unknown_key');
    assert.equal(server.jwksFetches, 2);
  });

  test('garbage, foreign-issuer and disallowed-alg tokens never reach the JWKS endpoint', async () => {
    const trusted = await generateTestSigningKey('ES256');
    const server = await serve([trusted]);
    const verifier = createTokenVerifier({ issuer: server.issuer, audience: AUDIENCE, jwksUri: server.jwksUri });
    const base = { issuer: server.issuer, audience: AUDIENCE, signingKey: trusted };
    assert.equal(await codeOf(verifier, 'garbage'), 'malformed');
    assert.equal(await codeOf(verifier, await forgeToken('wrong_issuer', base)), 'wrong_issuer');
    assert.equal(await codeOf(verifier, await forgeToken('alg_none', base)), 'alg_not_allowed');
    assert.equal(await codeOf(verifier, await forgeToken('hs256_public_key', base)), 'alg_not_allowed');
    assert.equal(await codeOf(verifier, await forgeToken('unknown_crit', base)), 'unsupported_crit');
    assert.equal(server.jwksFetches, 0);
  });

  test('an unreachable JWKS is jwks_unavailable, and failures are not retried on every token', async () => {
    const trusted = await generateTestSigningKey('ES256');
    const server = await serve([trusted]);
    server.setFailing(true);
    const verifier = createTokenVerifier({ issuer: server.issuer, audience: AUDIENCE, jwksUri: server.jwksUri, jwksRefetchMinIntervalMs: 1500 });
    const token = await tokenFor(server, trusted);
    for (let i = 0; i < 10; i += 1) assert.equal(await codeOf(verifier, token), 'jwks_unavailable');
    assert.equal(server.jwksFetches, 1);

    server.setFailing(false);
    await sleep(1600);
    assert.equal(await codeOf(verifier, token), 'accepted');
    assert.equal(server.jwksFetches, 2);
  });

  test('a closed port is jwks_unavailable', async () => {
    const trusted = await generateTestSigningKey('ES256');
    const server = await startTestJwksServer([trusted.publicJwk]);
    await server.close();
    const verifier = createTokenVerifier({ issuer: server.issuer, audience: AUDIENCE, jwksUri: server.jwksUri });
    assert.equal(await codeOf(verifier, await tokenFor(server, trusted)), 'jwks_unavailable');
  });

  test('discovery that names another issuer is not trusted', async () => {
    const trusted = await generateTestSigningKey('ES256');
    const server = await serve([trusted], 'https://impostor.example');
    const verifier = createTokenVerifier({ issuer: server.issuer, audience: AUDIENCE });
    assert.equal(await codeOf(verifier, await tokenFor(server, trusted)), 'jwks_unavailable');
    assert.equal(server.jwksFetches, 0);
  });

  test('discovery finds the JWKS when no jwksUri is configured; EdDSA keys work', async () => {
    const ed = await generateTestSigningKey('EdDSA');
    const server = await serve([ed]);
    const verifier = createTokenVerifier({ issuer: server.issuer, audience: AUDIENCE });
    assert.equal(await codeOf(verifier, await tokenFor(server, ed)), 'accepted');
    const noEd = createTokenVerifier({ issuer: server.issuer, audience: AUDIENCE, algorithms: ['RS256', 'ES256'] });
    assert.equal(await codeOf(noEd, await tokenFor(server, ed)), 'alg_not_allowed');
  });

  test('audience may be a list; any one match is enough', async () => {
    const trusted = await generateTestSigningKey('ES256');
    const server = await serve([trusted]);
    const verifier = createTokenVerifier({ issuer: server.issuer, audience: ['urn:other', AUDIENCE], jwksUri: server.jwksUri });
    assert.equal(await codeOf(verifier, await tokenFor(server, trusted)), 'accepted');
    const wrong = await forgeToken('wrong_audience', { issuer: server.issuer, audience: AUDIENCE, signingKey: trusted });
    assert.equal(await codeOf(verifier, wrong), 'wrong_audience');
  });

  test('a verifier cannot be configured to accept HMAC or none', () => {
    assert.throws(() => createTokenVerifier({ issuer: 'https://x.example', audience: AUDIENCE, algorithms: ['HS256' as never, 'none' as never] }));
  });
});
