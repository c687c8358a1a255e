// The agent's access token for `airlock mcp`: a fixed one ($AIRLOCK_TOKEN), or client credentials at
// the gateway's local issuer, fetched again shortly before the previous token expires.
import { decodeJwt } from 'jose';
import { requestClientCredentialsToken } from '../adapters/local/oidc-issuer.js';

const REFRESH_BEFORE_S = 60;

/**
 * Why a fixed token cannot be used, judged without the issuer's keys: not a JWT (an unset variable an
 * MCP client passed through verbatim, e.g. `${AIRLOCK_TOKEN}`), or already expired. Access tokens and
 * task tokens alike are JWTs with `exp`; signature, issuer and audience are for the listeners to verify.
 */
export function unusableTokenReason(token: string, nowMs = Date.now()): string | undefined {
  let exp: unknown;
  try {
    exp = decodeJwt(token).exp;
  } catch {
    return 'it is not a JWT (an unset variable in the MCP client\'s configuration?)';
  }
  if (typeof exp === 'number' && exp <= nowMs / 1000) return `it expired at ${new Date(exp * 1000).toISOString()}`;
  return undefined;
}

export function fixedToken(token: string): () => Promise<string> {
  return () => Promise.resolve(token);
}

export function clientCredentialsToken(o: { tokenEndpoint: string; clientId: string; clientSecret: string; audience: string }): () => Promise<string> {
  let current: { token: string; exp: number } | undefined;
  let inflight: Promise<string> | undefined;
  return async () => {
    if (current && current.exp - REFRESH_BEFORE_S > Date.now() / 1000) return current.token;
    inflight ??= requestClientCredentialsToken(o)
      .then((token) => {
        current = { token, exp: Number(decodeJwt(token).exp ?? 0) };
        return token;
      })
      .finally(() => (inflight = undefined));
    return inflight;
  };
}
