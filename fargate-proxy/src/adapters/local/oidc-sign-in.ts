// Browser sign-in at the local issuer (authorization code + PKCE) for the console's reviewers. The
// person signs in as one of the configured local clients, with that client's secret as password: the
// same identities and secrets `airlock token --client X` uses, so a browser gains nothing a terminal
// holding the secret could not already get. Tokens carry that client's id as `sub` and its groups.
import { timingSafeEqual, createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClientMetadata, Configuration } from 'oidc-provider';
import type Provider from 'oidc-provider';

export interface SignInClientOptions {
  /** The public client id the console uses (no secret: PKCE binds the code to the page). */
  clientId: string;
  /** Where the issuer may send the code back: `http://127.0.0.1/…` and `http://[::1]/…` match any port. */
  redirectUris: string[];
}

export interface SignInIdentity {
  clientId: string;
  clientSecret: string;
}

export const INTERACTION_PATH = '/interaction/';

/** The console's client: native (RFC 8252) so a loopback redirect matches whatever port the console got. */
export function signInClientMetadata(opts: SignInClientOptions, alg: NonNullable<ClientMetadata['id_token_signed_response_alg']>): ClientMetadata {
  return {
    client_id: opts.clientId,
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: opts.redirectUris,
    id_token_signed_response_alg: alg,
  };
}

/** Provider settings for the sign-in client: our own login page (no dev interactions) and accounts. */
export function signInConfiguration(identities: readonly SignInIdentity[]): Partial<Configuration> {
  const known = new Set(identities.map((i) => i.clientId));
  return {
    interactions: { url: (_ctx, interaction) => `${INTERACTION_PATH}${interaction.uid}` },
    findAccount: (_ctx, id) => (known.has(id) ? { accountId: id, claims: () => ({ sub: id }) } : undefined),
  };
}

const digest = (s: string) => createHash('sha256').update(s).digest();

function page(title: string, body: string): string {
  // Fixed markup; the only dynamic values (uid, message) are escaped.
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body>${body}</body></html>`;
}
const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginForm(uid: string, message?: string): string {
  return page(
    'Airlock sign-in',
    `<h1>Airlock local issuer</h1><p>Sign in with a local client id and its secret (the identities in <code>identity.localIssuer.clients</code>).</p>` +
      (message ? `<p id="error" role="alert">${escape(message)}</p>` : '') +
      `<form method="post" action="${INTERACTION_PATH}${escape(uid)}"><label>Client id <input name="login" autocomplete="username" required></label> ` +
      `<label>Secret <input name="password" type="password" autocomplete="current-password" required></label> <button type="submit">Sign in</button></form>`,
  );
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  let body = '';
  for await (const chunk of req as AsyncIterable<Buffer>) {
    body += chunk.toString('utf8');
    if (body.length > 8192) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

/**
 * Serves GET/POST /interaction/:uid (the login prompt). Returns false for any other path, which
 * then goes to the provider. A wrong id or secret shows the form again and logs nobody in.
 */
export function signInInteractions(provider: Provider, identities: readonly SignInIdentity[], client: SignInClientOptions, audience: string): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const send = (res: ServerResponse, status: number, html: string) => {
    res.writeHead(status, {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'x-frame-options': 'DENY',
      // No form-action: browsers apply it to the whole redirect chain after the login POST, which
      // ends at the console's callback on another origin.
      'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
    });
    res.end(html);
  };
  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://issuer.invalid');
    if (!url.pathname.startsWith(INTERACTION_PATH)) return false;
    let details: Awaited<ReturnType<Provider['interactionDetails']>>;
    try {
      details = await provider.interactionDetails(req, res);
    } catch {
      send(res, 400, page('Sign-in expired', '<p>This sign-in has expired: start again from the console.</p>'));
      return true;
    }
    if (details.prompt.name === 'consent') {
      // The console is this gateway's own page: no consent screen, but only right after a login in
      // this same flow. A native client's loopback redirect accepts any port, so a silent grant
      // from an earlier session would hand a code to whatever local page asked for one.
      const loggedIn = (details.lastSubmission as { login?: { accountId?: string } } | undefined)?.login?.accountId;
      if (details.params.client_id !== client.clientId || !loggedIn || loggedIn !== details.session?.accountId) {
        await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'sign in again' }, { mergeWithLastSubmission: false });
        return true;
      }
      const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ clientId: client.clientId, accountId: loggedIn });
      if (!grant) throw new Error('grant vanished');
      grant.addOIDCScope('openid');
      grant.addResourceScope(audience, '');
      await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
      return true;
    }
    if (details.prompt.name !== 'login') {
      await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'unexpected prompt' }, { mergeWithLastSubmission: false });
      return true;
    }
    if (req.method === 'GET') {
      send(res, 200, loginForm(details.uid));
      return true;
    }
    if (req.method !== 'POST') {
      send(res, 405, page('Not allowed', '<p>Method not allowed.</p>'));
      return true;
    }
    const form = await readForm(req);
    const login = form.get('login') ?? '';
    const password = form.get('password') ?? '';
    const who = identities.find((i) => i.clientId === login);
    // Compared as digests: equal lengths, constant time, and a miss costs what a hit costs.
    const ok = timingSafeEqual(digest(password), digest(who?.clientSecret ?? `\0${password}`)) && who !== undefined;
    if (!ok) {
      send(res, 401, loginForm(details.uid, 'Unknown client id or wrong secret.'));
      return true;
    }
    await provider.interactionFinished(req, res, { login: { accountId: who.clientId } }, { mergeWithLastSubmission: false });
    return true;
  };
}
