// Reviewers' browser sign-in, server side: OAuth 2.0 authorization code with PKCE (RFC 7636, S256)
// as a public client, spoken by oauth4webapi. The browser makes the verifier and state and keeps
// them in its tab (sign-in-script.ts); this side knows the issuer and the client id, sends the
// browser to the authorization endpoint and swaps the code it brings back for an access token. The
// token goes back in a JSON body only: no URL, log or cookie ever carries it. Used by the console
// (console/sign-in-routes.ts) and by the decision Lambda's review page.
import * as oauth from 'oauth4webapi';

export interface SignInSettings {
  issuer: string;
  /** The public (no secret) client registered for the page; a function when it is found at run time. */
  clientId: string | (() => Promise<string>);
  /** Scopes asked for: `openid` and whatever makes the access token a reviewer's (Cognito: `airlock/review`). */
  scope: string;
  /** Ask for `prompt=login`: the person signs in every time, whatever session the issuer keeps. */
  alwaysLogin?: boolean;
  /** For tests: the fetch oauth4webapi uses. */
  fetch?: typeof fetch;
}

/** Refused input or an issuer answer the browser should see (a short, fixed reason; never a token). */
export class SignInError extends Error {
  constructor(
    readonly status: 400 | 502,
    message: string,
  ) {
    super(message);
  }
}

export interface SignIn {
  /** The issuer's authorization endpoint with this client, the page's challenge and state. */
  authorizeUrl(p: { redirectUri: string; codeChallenge: string; state: string }): Promise<string>;
  /** Trades the callback's parameters (code, state, iss) and the verifier for an access token. */
  exchange(p: { redirectUri: string; callbackQuery: string; codeVerifier: string }): Promise<{ accessToken: string; expiresIn?: number }>;
}

// RFC 7636: a verifier is 43–128 unreserved characters; an S256 challenge is 43 base64url characters.
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;
const STATE = /^[A-Za-z0-9_-]{16,128}$/;

/** Plain HTTP is accepted from a loopback issuer only (the embedded development issuer). */
function isLoopbackHttp(url: URL): boolean {
  return url.protocol === 'http:' && ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname);
}

export function createSignIn(settings: SignInSettings): SignIn {
  const issuer = new URL(settings.issuer);
  const options = {
    ...(isLoopbackHttp(issuer) ? { [oauth.allowInsecureRequests]: true } : {}),
    ...(settings.fetch ? { [oauth.customFetch]: settings.fetch } : {}),
  };
  const requestOptions = () => ({ ...options, signal: AbortSignal.timeout(10_000) });
  let server: Promise<oauth.AuthorizationServer> | undefined;
  const discover = () => {
    server ??= oauth
      .discoveryRequest(issuer, { algorithm: 'oidc', ...requestOptions() })
      .then((r) => oauth.processDiscoveryResponse(issuer, r))
      .catch((error: unknown) => {
        server = undefined; // try again next time: the issuer may only have been unreachable
        throw error;
      });
    return server;
  };
  const clientId = typeof settings.clientId === 'string' ? () => Promise.resolve(settings.clientId as string) : settings.clientId;
  const upstream = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof SignInError) throw error;
      // The issuer's own refusal (expired or reused code, wrong verifier) is the browser's to retry;
      // anything else is the issuer being unreachable or misconfigured.
      if (error instanceof oauth.ResponseBodyError || error instanceof oauth.AuthorizationResponseError) throw new SignInError(400, `${what}: ${error.error}`);
      throw new SignInError(502, `${what}: the identity provider could not be reached`);
    }
  };

  return {
    async authorizeUrl({ redirectUri, codeChallenge, state }) {
      if (!CHALLENGE.test(codeChallenge)) throw new SignInError(400, 'code_challenge must be an S256 challenge (43 base64url characters)');
      if (!STATE.test(state)) throw new SignInError(400, 'state must be 16-128 base64url characters');
      const [as, id] = await upstream('discovery', () => Promise.all([discover(), clientId()]));
      if (!as.authorization_endpoint) throw new SignInError(502, 'the identity provider publishes no authorization endpoint');
      const url = new URL(as.authorization_endpoint);
      url.search = new URLSearchParams({
        response_type: 'code',
        client_id: id,
        redirect_uri: redirectUri,
        scope: settings.scope,
        state,
        code_challenge: codeChallenge,
        code_challenge_method: 'S256',
        ...(settings.alwaysLogin ? { prompt: 'login' } : {}),
      }).toString();
      return url.href;
    },

    async exchange({ redirectUri, callbackQuery, codeVerifier }) {
      if (!VERIFIER.test(codeVerifier)) throw new SignInError(400, 'code_verifier must be 43-128 unreserved characters');
      const [as, id] = await upstream('discovery', () => Promise.all([discover(), clientId()]));
      const client: oauth.Client = { client_id: id };
      let params: URLSearchParams;
      try {
        // The page has already matched `state` against the one it stored; here the issuer (`iss`,
        // RFC 9207, when it publishes support) and any error the issuer put in the callback are checked.
        params = oauth.validateAuthResponse(as, client, new URLSearchParams(callbackQuery), oauth.skipStateCheck);
      } catch (error) {
        throw new SignInError(400, error instanceof oauth.AuthorizationResponseError ? `sign-in: ${error.error}` : 'sign-in: not a callback from the identity provider');
      }
      return upstream('sign-in', async () => {
        const response = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, redirectUri, codeVerifier, requestOptions());
        const result = await oauth.processAuthorizationCodeResponse(as, client, response, { requireIdToken: false });
        return { accessToken: result.access_token, ...(result.expires_in !== undefined ? { expiresIn: result.expires_in } : {}) };
      });
    },
  };
}
