import {
  createRemoteJWKSet,
  customFetch,
  errors,
  type FlattenedJWSInput,
  type CompactJWSHeaderParameters,
  type JWTVerifyGetKey,
} from 'jose';
import { TokenRejectedError } from './errors.js';

export interface JwksKeySourceOptions {
  issuer: string;
  /** When absent, read from the issuer's OpenID discovery document. */
  jwksUri?: string;
  /** Least time between refetches caused by an unknown `kid` (jose's cooldown). */
  refetchMinIntervalMs: number;
  /** Per-request timeout for discovery and JWKS fetches. */
  timeoutMs?: number;
}

type FetchLike = (input: string | URL, init?: RequestInit) => Promise<Response>;

/**
 * jose only rate-limits refetches after a *successful* fetch; while the identity provider is down
 * every token would trigger another request. After a failure, calls fail fast for a short while.
 */
function fetchWithFailureBackoff(backoffMs: number): FetchLike {
  let failedAt = Number.NEGATIVE_INFINITY;
  return async (input, init) => {
    if (Date.now() - failedAt < backoffMs) throw new TokenRejectedError('jwks_unavailable');
    try {
      const response = await fetch(input, init);
      failedAt = response.status === 200 ? Number.NEGATIVE_INFINITY : Date.now();
      return response;
    } catch (err) {
      failedAt = Date.now();
      throw err;
    }
  };
}

/** OpenID Connect Discovery 1.0 §4: the document must name the very issuer we asked about. */
async function discoverJwksUri(issuer: string, fetchFn: FetchLike, timeoutMs: number): Promise<URL> {
  const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  const response = await fetchFn(url, {
    redirect: 'manual',
    signal: AbortSignal.timeout(timeoutMs),
    headers: { accept: 'application/json' },
  });
  if (response.status !== 200) throw new Error(`discovery answered HTTP ${response.status}`);
  const doc = (await response.json()) as { issuer?: unknown; jwks_uri?: unknown };
  if (doc.issuer !== issuer) throw new Error('discovery document names another issuer');
  if (typeof doc.jwks_uri !== 'string') throw new Error('discovery document has no jwks_uri');
  return new URL(doc.jwks_uri);
}

function isKeySelectionError(err: unknown): boolean {
  return (
    err instanceof errors.JWKSNoMatchingKey ||
    err instanceof errors.JWKSMultipleMatchingKeys ||
    err instanceof errors.JOSENotSupported ||
    err instanceof TokenRejectedError
  );
}

/**
 * Resolves verification keys from the issuer's JWKS, fetched and cached by jose: a new `kid` causes
 * at most one refetch per `refetchMinIntervalMs`, so a key rotation is picked up and a flood of
 * made-up kids is not turned into a flood of requests.
 */
export function createJwksKeySource(opts: JwksKeySourceOptions): JWTVerifyGetKey {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const fetchFn = fetchWithFailureBackoff(Math.min(opts.refetchMinIntervalMs, 5000));
  let remote: Promise<JWTVerifyGetKey> | undefined;

  const remoteSet = (): Promise<JWTVerifyGetKey> => {
    remote ??= (async () => {
      const jwksUrl = opts.jwksUri ? new URL(opts.jwksUri) : await discoverJwksUri(opts.issuer, fetchFn, timeoutMs);
      return createRemoteJWKSet(jwksUrl, {
        cooldownDuration: opts.refetchMinIntervalMs,
        timeoutDuration: timeoutMs,
        [customFetch]: fetchFn,
      });
    })();
    // A failed discovery is retried by a later token rather than remembered forever.
    remote.catch(() => {
      remote = undefined;
    });
    return remote;
  };

  return async (header: CompactJWSHeaderParameters, token: FlattenedJWSInput) => {
    try {
      const getKey = await remoteSet();
      return await getKey(header, token);
    } catch (err) {
      if (isKeySelectionError(err)) throw err;
      throw new TokenRejectedError('jwks_unavailable');
    }
  };
}
