/** Why a token was refused. Stable: audit records and tests match on these codes. */
export type TokenRejectionCode =
  | 'malformed'
  | 'too_large'
  | 'alg_not_allowed'
  | 'bad_signature'
  | 'expired'
  | 'not_yet_valid'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'unknown_key'
  | 'unsupported_crit'
  | 'missing_claim'
  | 'jwks_unavailable';

const MESSAGES: Record<TokenRejectionCode, string> = {
  malformed: 'access token is malformed',
  too_large: 'access token is too large',
  alg_not_allowed: 'access token signing algorithm is not allowed',
  bad_signature: 'access token signature is invalid',
  expired: 'access token has expired',
  not_yet_valid: 'access token is not valid yet',
  wrong_issuer: 'access token was issued by an untrusted issuer',
  wrong_audience: 'access token is not intended for this gateway',
  unknown_key: 'access token is signed by an unknown key',
  unsupported_crit: 'access token has an unsupported critical header',
  missing_claim: 'access token lacks a required claim',
  jwks_unavailable: 'the identity provider keys are unavailable, try again later',
};

/**
 * A refused token. The message is fixed per code and safe to send to the client: it never echoes
 * token contents, because tokens (and their signatures) are credentials.
 */
export class TokenRejectedError extends Error {
  readonly code: TokenRejectionCode;

  constructor(code: TokenRejectionCode, options?: { detail?: string }) {
    // The optional detail names a claim or a condition, never a value taken from the token.
    super(options?.detail ? `${MESSAGES[code]} (${options.detail})` : MESSAGES[code]);
    this.name = 'TokenRejectedError';
    this.code = code;
  }
}
