export { TokenRejectedError, type TokenRejectionCode } from './errors.js';
export { IDENTITY_DEFAULTS, withIdentityDefaults, type AllowedAlgorithm, type IdentityOptions } from './options.js';
export { createTokenVerifier, type TokenVerifier, type TokenVerifierOptions } from './token-verifier.js';
export { createJwksKeySource, type JwksKeySourceOptions } from './jwks-key-source.js';
export { principalFromClaims, groupsFrom, readClaim, checkAudienceClaim, checkRequiredClaimValues } from './principal-claims.js';
