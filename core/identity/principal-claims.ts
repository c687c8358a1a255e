import type { JWTPayload } from 'jose';
import type { Principal } from '../model.js';
import { TokenRejectedError } from './errors.js';

export interface ClaimNames {
  principalClaim: string;
  groupsClaim: string | string[];
}

/**
 * Reads a claim by name; when no claim has that exact name, a dotted name walks nested objects
 * (Keycloak keeps roles under `realm_access.roles`).
 */
export function readClaim(payload: JWTPayload, name: string): unknown {
  if (Object.hasOwn(payload, name)) return payload[name];
  let node: unknown = payload;
  for (const part of name.split('.')) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, part)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/** Groups widen what a principal may do, so anything that is not a string is dropped, never coerced. */
export function groupsFrom(value: unknown): string[] {
  if (typeof value === 'string') return value.split(/\s+/).filter((g) => g.length > 0);
  if (Array.isArray(value)) return value.filter((g): g is string => typeof g === 'string' && g.length > 0);
  return [];
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** Maps a verified claims set to the principal the rest of Airlock reasons about. */
export function principalFromClaims(payload: JWTPayload, names: ClaimNames): Principal {
  const id = readClaim(payload, names.principalClaim);
  if (typeof id !== 'string' || id.length === 0) {
    throw new TokenRejectedError('missing_claim', { detail: `claim "${names.principalClaim}"` });
  }
  if (typeof payload.iss !== 'string') throw new TokenRejectedError('missing_claim', { detail: 'claim "iss"' });
  const principal: Principal = {
    id,
    groups: [...new Set([names.groupsClaim].flat().flatMap((claim) => groupsFrom(readClaim(payload, claim))))],
    issuer: payload.iss,
  };
  const tokenId = optionalString(payload.jti);
  const clientId = optionalString(payload['client_id']) ?? optionalString(payload['azp']);
  if (tokenId) principal.tokenId = tokenId;
  if (clientId) principal.clientId = clientId;
  if (typeof payload.exp === 'number') principal.expiresAt = payload.exp;
  return principal;
}

/**
 * Whether a verified token is meant for this gateway when its issuer names the audience in another
 * claim than `aud`. Throws the rejection, as jose does for `aud`.
 */
export function checkAudienceClaim(payload: JWTPayload, claim: string, accepted: readonly string[]): void {
  const value = readClaim(payload, claim);
  if (value === undefined) throw new TokenRejectedError('missing_claim', { detail: `claim "${claim}"` });
  const offered = groupsFrom(value);
  if (!offered.some((v) => accepted.includes(v))) throw new TokenRejectedError('wrong_audience', { detail: `claim "${claim}"` });
}

/** Claims that must hold exactly one value (Cognito's `token_use: access`). */
export function checkRequiredClaimValues(payload: JWTPayload, required: Readonly<Record<string, string>>): void {
  for (const [claim, wanted] of Object.entries(required)) {
    const value = readClaim(payload, claim);
    if (value === undefined) throw new TokenRejectedError('missing_claim', { detail: `claim "${claim}"` });
    if (value !== wanted) throw new TokenRejectedError('wrong_audience', { detail: `claim "${claim}"` });
  }
}
