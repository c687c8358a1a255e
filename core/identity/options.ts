export type AllowedAlgorithm = 'RS256' | 'ES256' | 'EdDSA';

export interface IdentityOptions {
  issuer: string;
  /** Accepted values of `audienceClaim`: the token must carry at least one of them. */
  audience: string | string[];
  /**
   * The claim that says whom a token is for: `aud` (RFC 9068), or, for issuers whose access tokens
   * carry no `aud` (Amazon Cognito), `client_id` or `scope` (space-separated values). Default `aud`.
   */
  audienceClaim: string;
  /**
   * Claims that must hold exactly these values, e.g. Cognito's `token_use: access`: its ID tokens are
   * signed with the same keys and name the same client, and must not open a session.
   */
  requiredClaimValues: Record<string, string>;
  /** When absent, discovered from `${issuer}/.well-known/openid-configuration`. */
  jwksUri?: string;
  algorithms: AllowedAlgorithm[];
  clockSkewSeconds: number;
  principalClaim: string;
  /**
   * Claim holding groups: a string array or a space-separated string. Several claims: their union
   * (Cognito users have `cognito:groups`, machine clients only `scope`).
   */
  groupsClaim: string | string[];
  /** Tokens longer than this are refused before any parsing. */
  maxTokenBytes: number;
  /** Minimum interval between JWKS refetches triggered by an unknown `kid`. */
  jwksRefetchMinIntervalMs?: number;
}

export const IDENTITY_DEFAULTS = {
  algorithms: ['RS256', 'ES256', 'EdDSA'] as AllowedAlgorithm[],
  clockSkewSeconds: 30,
  audienceClaim: 'aud',
  principalClaim: 'sub',
  groupsClaim: 'groups',
  maxTokenBytes: 8192,
  jwksRefetchMinIntervalMs: 30_000,
} as const;

/** Fills defaults so callers (configuration, tests) may give only issuer and audience. */
export function withIdentityDefaults(
  opts: Pick<IdentityOptions, 'issuer' | 'audience'> & Partial<IdentityOptions>,
): IdentityOptions {
  return {
    ...opts,
    algorithms: opts.algorithms ?? [...IDENTITY_DEFAULTS.algorithms],
    clockSkewSeconds: opts.clockSkewSeconds ?? IDENTITY_DEFAULTS.clockSkewSeconds,
    audienceClaim: opts.audienceClaim ?? IDENTITY_DEFAULTS.audienceClaim,
    requiredClaimValues: opts.requiredClaimValues ?? {},
    principalClaim: opts.principalClaim ?? IDENTITY_DEFAULTS.principalClaim,
    groupsClaim: opts.groupsClaim ?? IDENTITY_DEFAULTS.groupsClaim,
    maxTokenBytes: opts.maxTokenBytes ?? IDENTITY_DEFAULTS.maxTokenBytes,
    jwksRefetchMinIntervalMs: opts.jwksRefetchMinIntervalMs ?? IDENTITY_DEFAULTS.jwksRefetchMinIntervalMs,
  };
}
