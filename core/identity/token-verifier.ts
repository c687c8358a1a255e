import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTVerifyGetKey, type ProtectedHeaderParameters } from 'jose';
import type { Principal } from '../model.js';
import { TokenRejectedError, type TokenRejectionCode } from './errors.js';
import { createJwksKeySource } from './jwks-key-source.js';
import { withIdentityDefaults, type IdentityOptions } from './options.js';
import { checkAudienceClaim, checkRequiredClaimValues, principalFromClaims } from './principal-claims.js';

export interface TokenVerifier {
  /** Resolves to the principal of a valid token; rejects with TokenRejectedError otherwise. */
  verify(token: string): Promise<Principal>;
}

export type TokenVerifierOptions = Pick<IdentityOptions, 'issuer' | 'audience'> & Partial<IdentityOptions>;

// Three base64url segments; the signature may be empty only so that `alg: none` gets its own code.
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
// RFC 9068 access tokens say `at+jwt`; many issuers still say `JWT`, and some (Cognito) say nothing.
const ACCEPTED_TYP = new Set(['at+jwt', 'jwt']);
const ASYMMETRIC = new Set(['RS256', 'ES256', 'EdDSA']);

function normalizedTyp(typ: string): string {
  return typ.toLowerCase().replace(/^application\//, '');
}

function readHeader(token: string): ProtectedHeaderParameters {
  try {
    return decodeProtectedHeader(token);
  } catch {
    throw new TokenRejectedError('malformed', { detail: 'header' });
  }
}

function unverifiedIssuer(token: string): unknown {
  try {
    return decodeJwt(token).iss;
  } catch {
    throw new TokenRejectedError('malformed', { detail: 'payload' });
  }
}

/** Translates jose's failures into our codes; anything unrecognised is treated as malformed. */
function rejectionFor(err: unknown): TokenRejectedError {
  if (err instanceof TokenRejectedError) return err;
  if (err instanceof errors.JWTExpired) return new TokenRejectedError('expired');
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.reason === 'missing') return new TokenRejectedError('missing_claim', { detail: `claim "${err.claim}"` });
    const byClaim: Record<string, TokenRejectionCode> = { iss: 'wrong_issuer', aud: 'wrong_audience', nbf: 'not_yet_valid' };
    return new TokenRejectedError(byClaim[err.claim] ?? 'malformed', { detail: `claim "${err.claim}"` });
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return new TokenRejectedError('bad_signature');
  if (err instanceof errors.JWKSNoMatchingKey) return new TokenRejectedError('unknown_key');
  if (err instanceof errors.JWKSMultipleMatchingKeys) return new TokenRejectedError('bad_signature');
  if (err instanceof errors.JOSEAlgNotAllowed) return new TokenRejectedError('alg_not_allowed');
  return new TokenRejectedError('malformed');
}

/**
 * Verifies access tokens of one issuer. Cheap checks that need no key (size, shape, algorithm,
 * critical headers, issuer) run first, so garbage and foreign tokens never cause a JWKS fetch.
 */
export function createTokenVerifier(input: TokenVerifierOptions, keySource?: JWTVerifyGetKey): TokenVerifier {
  const opts = withIdentityDefaults(input);
  const algorithms = opts.algorithms.filter((alg) => ASYMMETRIC.has(alg));
  if (algorithms.length === 0) throw new Error('identity: no allowed asymmetric algorithm configured');
  const byAud = opts.audienceClaim === 'aud';
  const accepted = [opts.audience].flat();
  if (accepted.length === 0 || accepted.some((a) => a.length === 0)) throw new Error('identity: an empty audience would accept any token');
  const getKey =
    keySource ??
    createJwksKeySource({
      issuer: opts.issuer,
      jwksUri: opts.jwksUri,
      refetchMinIntervalMs: opts.jwksRefetchMinIntervalMs ?? 30_000,
    });

  return {
    async verify(token: string): Promise<Principal> {
      if (typeof token !== 'string') throw new TokenRejectedError('malformed');
      // Every character of a compact JWS is one byte, so length bounds bytes before anything is parsed.
      if (token.length > opts.maxTokenBytes) throw new TokenRejectedError('too_large');
      if (!COMPACT_JWS.test(token)) throw new TokenRejectedError('malformed');

      const header = readHeader(token);
      if (typeof header.alg !== 'string' || !algorithms.includes(header.alg as never)) {
        throw new TokenRejectedError('alg_not_allowed');
      }
      // No extension we understand changes how an access token is read, so any `crit` is refused.
      if (header.crit !== undefined) throw new TokenRejectedError('unsupported_crit');
      if (header.typ !== undefined && (typeof header.typ !== 'string' || !ACCEPTED_TYP.has(normalizedTyp(header.typ)))) {
        throw new TokenRejectedError('malformed', { detail: 'typ' });
      }
      const iss = unverifiedIssuer(token);
      if (iss === undefined) throw new TokenRejectedError('missing_claim', { detail: 'claim "iss"' });
      if (iss !== opts.issuer) throw new TokenRejectedError('wrong_issuer');

      let payload;
      try {
        ({ payload } = await jwtVerify(token, getKey, {
          algorithms,
          issuer: opts.issuer,
          // jose checks `aud`; another audience claim is checked below, on the verified payload.
          ...(byAud ? { audience: opts.audience } : {}),
          clockTolerance: opts.clockSkewSeconds,
          requiredClaims: ['exp'],
        }));
      } catch (err) {
        throw rejectionFor(err);
      }
      if (!byAud) checkAudienceClaim(payload, opts.audienceClaim, accepted);
      checkRequiredClaimValues(payload, opts.requiredClaimValues);
      return principalFromClaims(payload, opts);
    },
  };
}
