// Reviewers' and viewers' tokens for console and review-page tests: a real ES256 key pair, tokens
// signed and verified by jose, so a page or route is tested on what its verifier really accepts.
import { SignJWT, generateKeyPair, jwtVerify, type CryptoKey, type KeyObject } from 'jose';
import type { Principal } from '../../core/model.js';

export interface ReviewerIssuer {
  issuer: string;
  /** A five-minute token for `sub` in `groups`; `key` signs with another key (a forgery). */
  sign(sub: string, groups: string[], key?: CryptoKey | KeyObject): Promise<string>;
  /** What a console's `verifyReviewer` does: verify the token and map it to a principal. */
  verify(token: string): Promise<Principal>;
}

export async function reviewerIssuer(issuer: string, audience = 'airlock'): Promise<ReviewerIssuer> {
  const keys = await generateKeyPair('ES256');
  return {
    issuer,
    sign: (sub, groups, key = keys.privateKey) =>
      new SignJWT({ groups }).setProtectedHeader({ alg: 'ES256' }).setSubject(sub).setIssuer(issuer).setAudience(audience).setIssuedAt().setExpirationTime('5m').sign(key),
    async verify(token) {
      const { payload } = await jwtVerify(token, keys.publicKey, { issuer, audience, algorithms: ['ES256'] });
      return { id: String(payload.sub), groups: Array.isArray(payload.groups) ? payload.groups.map(String) : [], issuer };
    },
  };
}
