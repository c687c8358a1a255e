export interface ClientCredentialsRequest {
  tokenEndpoint: string;
  clientId: string;
  clientSecret: string;
  /** Sent as the RFC 8707 `resource`, which becomes the token's `aud`. */
  audience: string;
}

/** Fails without echoing the secret or the response body beyond the OAuth error code. */
export class TokenRequestError extends Error {
  constructor(
    readonly status: number,
    readonly oauthError: string | undefined,
  ) {
    super(`token request failed: HTTP ${status}${oauthError ? ` (${oauthError})` : ''}`);
    this.name = 'TokenRequestError';
  }
}

/** A real OAuth 2.0 client_credentials request (client_secret_basic), returning the access token. */
export async function requestClientCredentialsToken(o: ClientCredentialsRequest): Promise<string> {
  // RFC 6749 §2.3.1: id and secret are form-urlencoded before being joined for Basic auth.
  const basic = Buffer.from(`${encodeURIComponent(o.clientId)}:${encodeURIComponent(o.clientSecret)}`).toString('base64');
  const response = await fetch(o.tokenEndpoint, {
    method: 'POST',
    headers: {
      authorization: `Basic ${basic}`,
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: o.audience }).toString(),
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await response.json().catch(() => ({}))) as { access_token?: unknown; error?: unknown };
  if (!response.ok || typeof body.access_token !== 'string') {
    throw new TokenRequestError(response.status, typeof body.error === 'string' ? body.error : undefined);
  }
  return body.access_token;
}
