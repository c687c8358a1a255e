// Verifies a reviewer's OIDC access token against the issuer's published keys (jose, cached JWKS).
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { Principal } from '../../core/model.js';

export function oidcReviewerVerifier(opts: {
  issuer: string;
  audience: string;
  groupsClaim?: string;
  /** Claim naming the reviewer (default `sub`), as the proxy's identity.principalClaim. */
  principalClaim?: string;
  /** The issuer's JWKS, when discovery does not publish it (or must not be trusted for it). */
  jwksUri?: string;
  fetchImpl?: typeof fetch;
}): (token: string) => Promise<Principal> {
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined = opts.jwksUri ? createRemoteJWKSet(new URL(opts.jwksUri)) : undefined;
  async function keys() {
    if (!jwks) {
      const discovery = await (opts.fetchImpl ?? fetch)(`${opts.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(3000) });
      const { jwks_uri } = (await discovery.json()) as { jwks_uri?: string };
      if (!jwks_uri) throw new Error('issuer publishes no jwks_uri');
      jwks = createRemoteJWKSet(new URL(jwks_uri));
    }
    return jwks;
  }
  const groupsClaim = opts.groupsClaim ?? 'groups';
  return async (token) => {
    const { payload } = await jwtVerify(token, await keys(), {
      issuer: opts.issuer,
      audience: opts.audience,
      // Asymmetric only: never `none`, never HMAC with a public key.
      algorithms: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'],
    });
    const id = payload[opts.principalClaim ?? 'sub'];
    if (typeof id !== 'string' || !id) throw new Error(`token has no ${opts.principalClaim ?? 'sub'} claim`);
    const groups = payload[groupsClaim];
    return { id, groups: Array.isArray(groups) ? groups.map(String) : [], issuer: opts.issuer };
  };
}
