// The console's sign-in routes (authorization code + PKCE; oauth-sign-in.ts, sign-in-script.ts):
//   GET  /signin/config   { enabled }: whether the page offers "Sign in" (else only a pasted token)
//   GET  /signin/start    ?code_challenge&state → 302 to the issuer's authorization endpoint
//   GET  /signin          the callback page: checks state, trades the code, goes back
//   POST /signin/token    { callback, code_verifier } → { access_token, expires_in }
import { send, sendJson, HttpError, readJson, redirect } from './http.js';
import { SignInError, type SignIn } from './oauth-sign-in.js';
import type { ConsoleRoute, RouteContext } from './router.js';
import { FINISH_SCRIPT, SIGN_IN_SCRIPT, callbackPage } from './sign-in-script.js';

const HOST = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

/**
 * The callback is this origin's /signin, as the browser reached it: sessionStorage (which holds the
 * verifier) is per origin, so the issuer must send the browser back to the very origin it left from.
 * The issuer accepts only registered redirect URIs, so a forged Host leads nowhere.
 */
function redirectUri(ctx: RouteContext, tls: boolean): string {
  const host = ctx.req.headers.host ?? '';
  if (!HOST.test(host)) throw new HttpError(400, 'bad Host header');
  return `${tls ? 'https' : 'http'}://${host}/signin`;
}

export function signInRoutes(signIn: SignIn | undefined, tls: boolean): ConsoleRoute[] {
  const need = (): SignIn => {
    if (!signIn) throw new HttpError(404, 'browser sign-in is not configured: paste an access token');
    return signIn;
  };
  const failed = (error: unknown): never => {
    if (error instanceof SignInError) throw new HttpError(error.status, error.message);
    throw error;
  };
  return [
    { method: 'GET', path: '/signin/config', handler: ({ res }) => sendJson(res, 200, { enabled: signIn !== undefined }) },
    {
      method: 'GET',
      path: '/signin/start',
      handler: async (ctx) => {
        const url = await need()
          .authorizeUrl({ redirectUri: redirectUri(ctx, tls), codeChallenge: ctx.url.searchParams.get('code_challenge') ?? '', state: ctx.url.searchParams.get('state') ?? '' })
          .catch(failed);
        redirect(ctx.res, url);
      },
    },
    {
      method: 'GET',
      path: '/signin',
      handler: ({ res }) => send(res, 200, 'text/html; charset=utf-8', callbackPage('<script src="/console-signin.js" defer></script><script src="/console-signin-callback.js" defer></script>', '/')),
    },
    {
      method: 'POST',
      path: '/signin/token',
      handler: async (ctx) => {
        const body = (await readJson(ctx.req)) as { callback?: unknown; code_verifier?: unknown };
        if (typeof body.callback !== 'string' || typeof body.code_verifier !== 'string') throw new HttpError(400, 'expected { callback, code_verifier }');
        const out = await need().exchange({ redirectUri: redirectUri(ctx, tls), callbackQuery: body.callback, codeVerifier: body.code_verifier }).catch(failed);
        sendJson(ctx.res, 200, { access_token: out.accessToken, ...(out.expiresIn !== undefined ? { expires_in: out.expiresIn } : {}) });
      },
    },
    { method: 'GET', path: '/console-signin.js', handler: ({ res }) => send(res, 200, 'text/javascript; charset=utf-8', SIGN_IN_SCRIPT) },
    { method: 'GET', path: '/console-signin-callback.js', handler: ({ res }) => send(res, 200, 'text/javascript; charset=utf-8', FINISH_SCRIPT) },
  ];
}
