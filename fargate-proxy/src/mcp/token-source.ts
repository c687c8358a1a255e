// The agent's access token for `airlock mcp`: a fixed one ($AIRLOCK_TOKEN), or client credentials at
// the gateway's local issuer, fetched again shortly before the previous token expires.
import { decodeJwt } from 'jose';
import { requestClientCredentialsToken } from '../adapters/local/oidc-issuer.js';

const REFRESH_BEFORE_S = 60;

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
