import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { createTokenVerifier, TokenRejectedError, type TokenVerifier } from '../../core/identity/index.js';
import {
  requestClientCredentialsToken,
  startLocalIssuer,
  type LocalIssuer,
} from '../../fargate-proxy/src/adapters/local/oidc-issuer.js';
import {
  EXPECTED_REJECTION,
  FORGE_KINDS,
  forgeToken,
  GARBAGE_TOKENS,
  loadIssuerSigningKey,
  type TestSigningKey,
} from '../support/tokens.js';

const AUDIENCE = 'urn:airlock:test';
const CLIENTS = [
  { clientId: 'agent-reader', clientSecret: 'reader-secret-value-1', groups: ['readers'] },
  { clientId: 'agent-dba', clientSecret: 'dba-secret-value-2', groups: ['dba', 'ops'] },
];

async function rejection(verifier: TokenVerifier, token: string): Promise<TokenRejectedError> {
  try {
    await verifier.verify(token);
  } catch (err) {
    assert.ok(err instanceof TokenRejectedError, `expected TokenRejectedError, got ${String(err)}`);
    return err;
  }
  assert.fail('token was accepted');
}

describe('local issuer → token verifier', () => {
  let dir: string;
  let issuer: LocalIssuer;
  let verifier: TokenVerifier;
  let key: TestSigningKey;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'airlock-identity-'));
    issuer = await startLocalIssuer({ host: '127.0.0.1', port: 0, audience: AUDIENCE, clients: CLIENTS, keyFile: join(dir, 'issuer-jwks.json') });
    // No jwksUri: the verifier discovers it from the issuer's OpenID configuration.
    verifier = createTokenVerifier({ issuer: issuer.issuer, audience: AUDIENCE });
    key = await loadIssuerSigningKey(join(dir, 'issuer-jwks.json'));
  });
  after(async () => {
    await issuer.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('client_credentials issues an RFC 9068 JWT that verifies into the client principal', async () => {
    const token = await requestClientCredentialsToken({ tokenEndpoint: issuer.tokenEndpoint, clientId: 'agent-dba', clientSecret: 'dba-secret-value-2', audience: AUDIENCE });
    assert.equal(decodeProtectedHeader(token).typ, 'at+jwt');
    assert.equal(decodeProtectedHeader(token).alg, 'ES256');
    const claims = decodeJwt(token);
    const principal = await verifier.verify(token);
    assert.deepEqual(principal, {
      id: 'agent-dba',
      groups: ['dba', 'ops'],
      issuer: issuer.issuer,
      tokenId: claims.jti,
      clientId: 'agent-dba',
      expiresAt: claims.exp,
    });
  });

  test('each client gets its own groups', async () => {
    const token = await requestClientCredentialsToken({ tokenEndpoint: issuer.tokenEndpoint, clientId: 'agent-reader', clientSecret: 'reader-secret-value-1', audience: AUDIENCE });
    const principal = await verifier.verify(token);
    assert.equal(principal.id, 'agent-reader');
    assert.deepEqual(principal.groups, ['readers']);
  });

  test('a wrong client secret gets no token, and the error does not echo the secret', async () => {
    await assert.rejects(
      requestClientCredentialsToken({ tokenEndpoint: issuer.tokenEndpoint, clientId: 'agent-dba', clientSecret: 'guessed-secret', audience: AUDIENCE }),
      (err: Error) => /invalid_client/.test(err.message) && !err.message.includes('guessed-secret'),
    );
  });

  test('a token for another audience is refused by the issuer', async () => {
    await assert.rejects(
      requestClientCredentialsToken({ tokenEndpoint: issuer.tokenEndpoint, clientId: 'agent-dba', clientSecret: 'dba-secret-value-2', audience: 'urn:elsewhere' }),
      /invalid_target/,
    );
  });

  test('the key file is private to its owner', async () => {
    const { mode } = await stat(join(dir, 'issuer-jwks.json'));
    assert.equal(mode & 0o777, 0o600);
  });

  describe('attack matrix: every forged kind gets its specific code', () => {
    for (const kind of FORGE_KINDS) {
      const expected = EXPECTED_REJECTION[kind];
      test(`${kind} → ${expected ?? 'accepted'}`, async () => {
        const token = await forgeToken(kind, { issuer: issuer.issuer, audience: AUDIENCE, signingKey: key });
        if (expected === null) {
          const principal = await verifier.verify(token);
          assert.equal(principal.id, 'test-agent');
          return;
        }
        const err = await rejection(verifier, token);
        assert.equal(err.code, expected);
        // The message is for the client: no part of the token may leak through it.
        for (const segment of token.split('.')) if (segment.length > 8) assert.ok(!err.message.includes(segment));
      });
    }
  });

  test('garbage strings are malformed', async () => {
    for (const garbage of GARBAGE_TOKENS) {
      const err = await rejection(verifier, garbage);
      assert.equal(err.code, 'malformed', `for ${JSON.stringify(garbage)}`);
    }
  });

  test('a token of exactly the byte limit is parsed; one byte more is too_large without parsing', async () => {
    const small = createTokenVerifier({ issuer: issuer.issuer, audience: AUDIENCE, maxTokenBytes: 64 });
    assert.equal((await rejection(small, 'x'.repeat(65))).code, 'too_large');
    assert.equal((await rejection(small, 'x'.repeat(64))).code, 'malformed');
  });

  test('nbf within the configured skew is accepted, beyond it is not', async () => {
    const strict = createTokenVerifier({ issuer: issuer.issuer, audience: AUDIENCE, clockSkewSeconds: 0 });
    const token = await forgeToken('nbf_within_skew', { issuer: issuer.issuer, audience: AUDIENCE, signingKey: key });
    assert.equal((await verifier.verify(token)).id, 'test-agent');
    assert.equal((await rejection(strict, token)).code, 'not_yet_valid');
  });

  test('a configured principal claim that is absent is missing_claim', async () => {
    const byEmail = createTokenVerifier({ issuer: issuer.issuer, audience: AUDIENCE, principalClaim: 'email' });
    const token = await forgeToken('valid', { issuer: issuer.issuer, audience: AUDIENCE, signingKey: key });
    assert.equal((await rejection(byEmail, token)).code, 'missing_claim');
  });
});

describe('local issuer persistence and algorithms', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'airlock-identity-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('tokens issued before a restart still verify after it (same key file, same port)', async () => {
    const keyFile = join(dir, 'keys.json');
    const first = await startLocalIssuer({ host: '127.0.0.1', port: 0, audience: AUDIENCE, clients: CLIENTS, keyFile });
    const token = await requestClientCredentialsToken({ tokenEndpoint: first.tokenEndpoint, clientId: 'agent-reader', clientSecret: 'reader-secret-value-1', audience: AUDIENCE });
    const port = Number(new URL(first.issuer).port);
    await first.close();
    const second = await startLocalIssuer({ host: '127.0.0.1', port, audience: AUDIENCE, clients: CLIENTS, keyFile });
    try {
      assert.equal(second.issuer, first.issuer);
      const principal = await createTokenVerifier({ issuer: second.issuer, audience: AUDIENCE }).verify(token);
      assert.equal(principal.id, 'agent-reader');
    } finally {
      await second.close();
    }
  });

  test('an RS256 issuer works end to end, and its tokens are refused by an ES256-only verifier', async () => {
    const rsa = await startLocalIssuer({ host: '127.0.0.1', port: 0, audience: AUDIENCE, clients: CLIENTS, signingAlg: 'RS256', accessTokenTtlSeconds: 120 });
    try {
      const token = await requestClientCredentialsToken({ tokenEndpoint: rsa.tokenEndpoint, clientId: 'agent-dba', clientSecret: 'dba-secret-value-2', audience: AUDIENCE });
      assert.equal(decodeProtectedHeader(token).alg, 'RS256');
      const claims = decodeJwt(token);
      assert.equal((claims.exp ?? 0) - (claims.iat ?? 0), 120);
      const principal = await createTokenVerifier({ issuer: rsa.issuer, audience: AUDIENCE, jwksUri: rsa.jwksUri }).verify(token);
      assert.deepEqual(principal.groups, ['dba', 'ops']);
      const esOnly = createTokenVerifier({ issuer: rsa.issuer, audience: AUDIENCE, algorithms: ['ES256'] });
      assert.equal((await rejection(esOnly, token)).code, 'alg_not_allowed');
    } finally {
      await rsa.close();
    }
  });

  test('a non-URI audience is refused at start', async () => {
    await assert.rejects(startLocalIssuer({ host: '127.0.0.1', port: 0, audience: 'airlock', clients: CLIENTS }), /absolute URI/);
  });
});
