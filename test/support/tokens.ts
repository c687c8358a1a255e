// Token-forging helpers for tests: each kind is one attack (or one legitimate edge case) against a
// verifier. Tokens are signed with real keys through jose, so a verifier is tested on what an
// attacker could actually send.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import {
  base64url,
  calculateJwkThumbprint,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  importJWK,
  SignJWT,
  UnsecuredJWT,
  type JWK,
  type JWTPayload,
} from 'jose';
import type { TokenRejectionCode } from '../../core/identity/index.js';

export type ForgeKind =
  | 'valid'
  | 'typ_jwt'
  | 'nbf_within_skew'
  | 'alg_none'
  | 'hs256_public_key'
  | 'expired'
  | 'not_yet_valid'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'unknown_kid'
  | 'embedded_jwk'
  | 'trusted_kid_wrong_key'
  | 'tampered'
  | 'oversized'
  | 'unknown_crit'
  | 'missing_sub'
  | 'missing_exp'
  | 'wrong_typ';

/** What a verifier with default options (30 s skew, 8 KiB limit) must answer for each kind; null = accepted. */
export const EXPECTED_REJECTION: Record<ForgeKind, TokenRejectionCode | null> = {
  valid: null,
  typ_jwt: null,
  nbf_within_skew: null,
  alg_none: 'alg_not_allowed',
  hs256_public_key: 'alg_not_allowed',
  expired: 'expired',
  not_yet_valid: 'not_yet_valid',
  wrong_issuer: 'wrong_issuer',
  wrong_audience: 'wrong_audience',
  unknown_kid: 'unknown_key',
  embedded_jwk: 'unknown_key',
  trusted_kid_wrong_key: 'bad_signature',
  tampered: 'bad_signature',
  oversized: 'too_large',
  unknown_crit: 'unsupported_crit',
  missing_sub: 'missing_claim',
  missing_exp: 'missing_claim',
  wrong_typ: 'malformed',
};

export const FORGE_KINDS = Object.keys(EXPECTED_REJECTION) as ForgeKind[];

/** Strings that are not tokens at all; each must be refused as `malformed`. */
export const GARBAGE_TOKENS: readonly string[] = [
  '',
  ' ',
  'not-a-token',
  'a.b',
  'a.b.c',
  '..',
  'a..c',
  'Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln',
  'eyJhbGciOiJFUzI1NiJ9.e30.c2ln.extra',
  `${base64url.encode('{"alg":"ES256"')}.${base64url.encode('{}')}.c2ln`,
  `${base64url.encode('{"alg":"ES256"}')}.${base64url.encode('not json')}.c2ln`,
  `${base64url.encode('{"alg":"ES256"}')}.${base64url.encode('[1,2]')}.c2ln`,
  `${base64url.encode('"just a string"')}.${base64url.encode('{}')}.c2ln`,
  'eyJhbGciOiJFUzI1NiJ9.e30.c2ln\n',
  'ëyJhbGciOiJFUzI1NiJ9.e30.c2ln',
  '\u0000\u0001\u0002',
];

export interface TestSigningKey {
  /** Private JWK with `kid` and `alg`, as found in the local issuer's key file. */
  privateJwk: JWK;
  /** Its public half, for a JWKS. */
  publicJwk: JWK;
}

export async function generateTestSigningKey(alg: 'ES256' | 'RS256' | 'EdDSA' = 'ES256'): Promise<TestSigningKey> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk);
  const privateJwk: JWK = { ...jwk, kid, alg, use: 'sig' };
  return { privateJwk, publicJwk: publicPart(privateJwk) };
}

function publicPart(jwk: JWK): JWK {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = jwk;
  return pub;
}

/** The first (signing) key of a local issuer's key file, so tests can forge tokens that issuer's JWKS accepts. */
export async function loadIssuerSigningKey(keyFile: string): Promise<TestSigningKey> {
  const { keys } = JSON.parse(await readFile(keyFile, 'utf8')) as { keys: JWK[] };
  const privateJwk = keys[0];
  if (!privateJwk?.d) throw new Error(`${keyFile} holds no private key`);
  return { privateJwk, publicJwk: publicPart(privateJwk) };
}

export interface ForgeOptions {
  issuer: string;
  audience: string;
  /** A key the verifier trusts (in its JWKS): attacks that need a trusted signature use it. */
  signingKey: TestSigningKey;
  subject?: string;
  groups?: string[];
  /** Extra or overriding claims. */
  claims?: JWTPayload;
  /** Size past which `oversized` must land; default 8192. */
  maxTokenBytes?: number;
}

const now = () => Math.floor(Date.now() / 1000);

function baseClaims(o: ForgeOptions): JWTPayload {
  return {
    iss: o.issuer,
    aud: o.audience,
    sub: o.subject ?? 'test-agent',
    client_id: o.subject ?? 'test-agent',
    groups: o.groups ?? ['test'],
    jti: randomUUID(),
    iat: now(),
    exp: now() + 600,
    ...o.claims,
  };
}

async function sign(claims: JWTPayload, key: JWK, header: Record<string, unknown> = {}, crit?: Record<string, boolean>): Promise<string> {
  const alg = key.alg ?? 'ES256';
  const jwt = new SignJWT(claims).setProtectedHeader({ alg, kid: key.kid, typ: 'at+jwt', ...header });
  return jwt.sign(await importJWK(key, alg), crit ? { crit } : undefined);
}

/** Forges one token of the given kind, signed (where a signature is wanted) with `signingKey`. */
export async function forgeToken(kind: ForgeKind, o: ForgeOptions): Promise<string> {
  const key = o.signingKey.privateJwk;
  const claims = baseClaims(o);
  switch (kind) {
    case 'valid':
      return sign(claims, key);
    case 'typ_jwt':
      return sign(claims, key, { typ: 'JWT' });
    case 'wrong_typ':
      return sign(claims, key, { typ: 'dpop+jwt' });
    case 'nbf_within_skew':
      return sign({ ...claims, nbf: now() + 10 }, key);
    case 'alg_none':
      return new UnsecuredJWT(claims).encode();
    case 'hs256_public_key': {
      // The classic key-confusion attack: HMAC keyed with the issuer's *public* key, as PEM.
      const publicKey = await importJWK(o.signingKey.publicJwk, key.alg ?? 'ES256');
      const secret = new TextEncoder().encode(await exportSPKI(publicKey as Parameters<typeof exportSPKI>[0]));
      return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: key.kid, typ: 'at+jwt' }).sign(secret);
    }
    case 'expired':
      return sign({ ...claims, iat: now() - 7200, exp: now() - 3600 }, key);
    case 'not_yet_valid':
      return sign({ ...claims, nbf: now() + 3600 }, key);
    case 'wrong_issuer':
      return sign({ ...claims, iss: 'https://attacker.example' }, key);
    case 'wrong_audience':
      return sign({ ...claims, aud: 'urn:some-other-service' }, key);
    case 'unknown_kid': {
      const stranger = await generateTestSigningKey(key.alg === 'RS256' ? 'RS256' : 'ES256');
      return sign(claims, stranger.privateJwk);
    }
    case 'embedded_jwk': {
      // Header-supplied keys (jwk/jku) must never be trusted: only the issuer's JWKS counts.
      const stranger = await generateTestSigningKey('ES256');
      return sign(claims, stranger.privateJwk, { jwk: stranger.publicJwk, jku: 'https://attacker.example/jwks' });
    }
    case 'trusted_kid_wrong_key': {
      const stranger = await generateTestSigningKey(key.alg === 'RS256' ? 'RS256' : 'ES256');
      return sign(claims, { ...stranger.privateJwk, kid: key.kid });
    }
    case 'tampered': {
      // Privilege escalation by editing the payload and keeping the original signature.
      const [header, , signature] = (await sign(claims, key)).split('.');
      const payload = base64url.encode(JSON.stringify({ ...claims, groups: ['admin', 'dba'] }));
      return `${header}.${payload}.${signature}`;
    }
    case 'oversized':
      return sign({ ...claims, padding: 'x'.repeat(o.maxTokenBytes ?? 8192) }, key);
    case 'unknown_crit':
      return sign(claims, key, { crit: ['x-airlock-test'], 'x-airlock-test': true }, { 'x-airlock-test': true });
    case 'missing_sub': {
      const { sub: _sub, ...rest } = claims;
      return sign(rest, key);
    }
    case 'missing_exp': {
      const { exp: _exp, ...rest } = claims;
      return sign(rest, key);
    }
  }
}

export interface TestJwksServer {
  /** `http://127.0.0.1:PORT`; also served as the issuer of a discovery document. */
  issuer: string;
  jwksUri: string;
  /** Requests served at the JWKS path so far. */
  readonly jwksFetches: number;
  setKeys(keys: JWK[]): void;
  /** While true, the JWKS path answers 500. */
  setFailing(failing: boolean): void;
  close(): Promise<void>;
}

/** A real HTTP JWKS (and discovery) endpoint whose keys a test can rotate and whose hits it can count. */
export async function startTestJwksServer(keys: JWK[], discoveryIssuer?: string): Promise<TestJwksServer> {
  let current = keys;
  let failing = false;
  let fetches = 0;
  let issuer = '';
  const server = createServer((req, res) => {
    if (req.url === '/jwks') {
      fetches += 1;
      res.statusCode = failing ? 500 : 200;
      res.setHeader('content-type', 'application/json');
      res.end(failing ? '{}' : JSON.stringify({ keys: current.map(publicPart) }));
    } else if (req.url === '/.well-known/openid-configuration') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ issuer: discoveryIssuer ?? issuer, jwks_uri: `${issuer}/jwks` }));
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    get jwksFetches() {
      return fetches;
    },
    setKeys: (next) => {
      current = next;
    },
    setFailing: (value) => {
      failing = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
