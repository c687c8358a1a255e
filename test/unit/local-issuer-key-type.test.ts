// `identity.localIssuer.keyType`: the embedded issuer signs with the key type the configuration
// names (RS256, ES256 or EdDSA), and a key file of another type is extended, not obeyed.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeProtectedHeader } from 'jose';
import { startLocalIssuer, requestClientCredentialsToken } from '../../fargate-proxy/src/adapters/local/oidc-issuer.js';
import { createTokenVerifier } from '../../core/identity/index.js';
import { parseConfig } from '../../fargate-proxy/src/config/load.js';

const AUDIENCE = 'urn:airlock';
const CLIENTS = [{ clientId: 'agent', clientSecret: 'agent-secret-0123456789', groups: ['agents'] }];
const dir = mkdtempSync(join(tmpdir(), 'airlock-keytype-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function tokenFrom(keyFile: string, requiredAlg?: 'RS256' | 'ES256' | 'EdDSA'): Promise<{ token: string; issuer: string }> {
  const issuer = await startLocalIssuer({ host: '127.0.0.1', port: 0, audience: AUDIENCE, clients: CLIENTS, keyFile, requiredAlg });
  try {
    const token = await requestClientCredentialsToken({ tokenEndpoint: issuer.tokenEndpoint, clientId: 'agent', clientSecret: CLIENTS[0]!.clientSecret, audience: AUDIENCE });
    const verifier = createTokenVerifier({ issuer: issuer.issuer, audience: AUDIENCE, jwksUri: issuer.jwksUri, algorithms: ['RS256', 'ES256', 'EdDSA'] });
    const principal = await verifier.verify(token);
    assert.equal(principal.id, 'agent');
    return { token, issuer: issuer.issuer };
  } finally {
    await issuer.close();
  }
}

for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
  test(`keyType ${alg}: tokens are signed ${alg} and verify`, async () => {
    const { token } = await tokenFrom(join(dir, `${alg}.json`), alg);
    assert.equal(decodeProtectedHeader(token).alg, alg);
  });
}

test('a key file of another type gets a key of the configured type in front; the old key stays published', async () => {
  const keyFile = join(dir, 'switch.json');
  assert.equal(decodeProtectedHeader((await tokenFrom(keyFile)).token).alg, 'ES256', 'default for a new key');
  assert.equal(decodeProtectedHeader((await tokenFrom(keyFile)).token).alg, 'ES256', 'without keyType, the file keeps its type');
  assert.equal(decodeProtectedHeader((await tokenFrom(keyFile, 'EdDSA')).token).alg, 'EdDSA');
  const keys = (JSON.parse(readFileSync(keyFile, 'utf8')) as { keys: { alg: string }[] }).keys.map((k) => k.alg);
  assert.deepEqual(keys, ['EdDSA', 'ES256']);
});

test('keyType must be one the verifier accepts', () => {
  const raw = {
    identity: { issuer: 'http://127.0.0.1:8444', audience: AUDIENCE, algorithms: ['ES256'], localIssuer: { port: 0, keyType: 'RS256', clients: CLIENTS } },
    targets: [{ name: 'db', kind: 'postgres', host: 'h', database: 'd', user: 'u', credential: 'env:X' }],
    policy: { file: 'p.cedar' },
  };
  assert.throws(() => parseConfig(raw), /identity\.localIssuer\.keyType: RS256 is not in identity\.algorithms/);
  assert.throws(() => parseConfig({ ...raw, identity: { ...raw.identity, localIssuer: { ...raw.identity.localIssuer, keyType: 'HS256' } } }), /keyType/);
});
