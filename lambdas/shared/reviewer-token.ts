// Verifies a reviewer's OIDC access token with the proxy's own verifier (core/identity): the same
// issuer, audience, algorithm and claim rules decide who is a reviewer in the Lambda and in the fleet.
import { createTokenVerifier } from '../../core/identity/index.js';
import type { Principal } from '../../core/model.js';

export function oidcReviewerVerifier(opts: {
  issuer: string;
  audience: string | string[];
  /** One claim or several (merged), as the proxy's identity.groupsClaim. */
  groupsClaim?: string | string[];
  /** Claim naming the reviewer (default `sub`), as the proxy's identity.principalClaim. */
  principalClaim?: string;
  /** Where the audience is named (default `aud`; Cognito access tokens: `client_id`). */
  audienceClaim?: string;
  /** Claims that must hold exactly these values (Cognito: `{ token_use: 'access' }`). */
  requiredClaimValues?: Record<string, string>;
  /** The issuer's JWKS, when discovery does not publish it (or must not be trusted for it). */
  jwksUri?: string;
}): (token: string) => Promise<Principal> {
  const verifier = createTokenVerifier({
    issuer: opts.issuer,
    audience: opts.audience,
    ...(opts.groupsClaim ? { groupsClaim: opts.groupsClaim } : {}),
    ...(opts.principalClaim ? { principalClaim: opts.principalClaim } : {}),
    ...(opts.audienceClaim ? { audienceClaim: opts.audienceClaim } : {}),
    ...(opts.requiredClaimValues ? { requiredClaimValues: opts.requiredClaimValues } : {}),
    ...(opts.jwksUri ? { jwksUri: opts.jwksUri } : {}),
  });
  return (token) => verifier.verify(token);
}
