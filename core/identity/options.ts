export type AllowedAlgorithm = 'RS256' | 'ES256' | 'EdDSA';

export interface IdentityOptions {
  issuer: string;
  audience: string | string[];
  /** When absent, discovered from `${issuer}/.well-known/openid-configuration`. */
  jwksUri?: string;
  algorithms: AllowedAlgorithm[];
  clockSkewSeconds: number;
  principalClaim: string;
  /** Claim holding groups: a string array or a space-separated string. */
  groupsClaim: string;
  /** Tokens longer than this are refused before any parsing. */
  maxTokenBytes: number;
  /** Minimum interval between JWKS refetches triggered by an unknown `kid`. */
  jwksRefetchMinIntervalMs?: number;
}

export const IDENTITY_DEFAULTS = {
  algorithms: ['RS256', 'ES256', 'EdDSA'] as AllowedAlgorithm[],
  clockSkewSeconds: 30,
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
    principalClaim: opts.principalClaim ?? IDENTITY_DEFAULTS.principalClaim,
    groupsClaim: opts.groupsClaim ?? IDENTITY_DEFAULTS.groupsClaim,
    maxTokenBytes: opts.maxTokenBytes ?? IDENTITY_DEFAULTS.maxTokenBytes,
    jwksRefetchMinIntervalMs: opts.jwksRefetchMinIntervalMs ?? IDENTITY_DEFAULTS.jwksRefetchMinIntervalMs,
  };
}
