import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Configuration } from 'oidc-provider';
import { createOidcMemoryAdapterFactory } from './oidc-memory-adapter.js';
import { loadOrCreateSigningKeys, type IssuerSigningAlg } from './oidc-signing-keys.js';
import { signInClientMetadata, signInConfiguration, signInInteractions, type SignInClientOptions } from './oidc-sign-in.js';

export { requestClientCredentialsToken, TokenRequestError } from './oidc-token-client.js';

export interface LocalIssuerClient {
  clientId: string;
  clientSecret: string;
  /** Copied into every access token issued to this client as the `groups` claim. */
  groups: string[];
}

export interface LocalIssuerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Becomes the tokens' `aud`; oidc-provider requires an absolute URI (e.g. `urn:airlock` or `https://airlock.example`). */
  audience: string;
  clients: LocalIssuerClient[];
  /** JWKS with private keys persisted here (mode 0600) so tokens survive a restart; generated when missing. */
  keyFile?: string;
  accessTokenTtlSeconds?: number;
  /** Algorithm of a newly generated key (an existing key file keeps its own). Default ES256. */
  signingAlg?: IssuerSigningAlg;
  /** The key type the configuration demands: a key file holding another type gets a new key of this one. */
  requiredAlg?: IssuerSigningAlg;
  /**
   * A public client for the console's browser sign-in (authorization code + PKCE): a person signs in
   * as one of `clients` with its secret and gets that client's groups (oidc-sign-in.ts).
   */
  signIn?: SignInClientOptions;
}

export interface LocalIssuer {
  issuer: string;
  jwksUri: string;
  tokenEndpoint: string;
  close(): Promise<void>;
}

const ROUTES = { token: '/token', jwks: '/jwks' } as const;

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

type OidcProviderModule = typeof import('oidc-provider');
let oidcProviderModule: Promise<OidcProviderModule> | undefined;

/**
 * oidc-provider v9 warns at import time that it wants Node 22 LTS. `engines` says Node >= 20.19 and
 * the provider is exercised on Node 20 by our tests, so only that one line is dropped; every other
 * warning it prints still shows.
 */
function loadOidcProvider(): Promise<OidcProviderModule> {
  oidcProviderModule ??= (async () => {
    const warn = console.warn;
    console.warn = (...args: unknown[]) => {
      if (typeof args[0] === 'string' && args[0].includes('oidc-provider WARNING: Unsupported runtime')) return;
      warn(...args);
    };
    try {
      return await import('oidc-provider');
    } finally {
      console.warn = warn;
    }
  })();
  return oidcProviderModule;
}

function providerConfiguration(
  oidc: OidcProviderModule,
  opts: LocalIssuerOptions,
  keys: Configuration['jwks'],
  alg: IssuerSigningAlg,
): Configuration {
  const ttl = opts.accessTokenTtlSeconds ?? 3600;
  const groupsByClient = new Map(opts.clients.map((c) => [c.clientId, [...c.groups]]));
  const base: Configuration = {
    // Our own store and keys, so oidc-provider has no reason to print its development warnings.
    adapter: createOidcMemoryAdapterFactory(),
    jwks: keys,
    routes: ROUTES,
    clients: [
      ...opts.clients.map((c) => ({
      client_id: c.clientId,
      client_secret: c.clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic' as const,
      // Only one key type exists; the default (RS256) would make an ES256 issuer reject its clients.
      id_token_signed_response_alg: alg,
      })),
      ...(opts.signIn ? [signInClientMetadata(opts.signIn, alg)] : []),
    ],
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    // Sign-in artefacts live minutes (the console asks for a fresh login each time); set, so the provider has no defaults to warn about.
    ttl: { AccessToken: ttl, ClientCredentials: ttl, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 600, Grant: 600 },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => opts.audience,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resourceIndicator) => {
          if (resourceIndicator !== opts.audience) throw new oidc.errors.InvalidTarget();
          return {
            scope: '',
            audience: opts.audience,
            accessTokenTTL: ttl,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg } },
          };
        },
      },
    },
    // A browser sign-in's token is the signed-in identity's (its accountId), not the console client's.
    extraTokenClaims: (_ctx, token) => ({ groups: groupsByClient.get(('accountId' in token && token.accountId) || token.clientId || '') ?? [] }),
    // JSON errors for a machine-facing issuer; the default renders HTML and warns about it.
    renderError: (ctx, out) => {
      ctx.type = 'application/json';
      ctx.body = out;
    },
    findAccount: () => undefined,
  };
  return opts.signIn ? { ...base, ...signInConfiguration(opts.clients) } : base;
}

/**
 * Starts a local OpenID provider for development and tests: client_credentials only, issuing
 * RFC 9068 JWT access tokens for one audience, each carrying the client's groups.
 */
export async function startLocalIssuer(opts: LocalIssuerOptions): Promise<LocalIssuer> {
  if (!URL.parse(opts.audience)) throw new Error('local issuer: audience must be an absolute URI (e.g. urn:airlock)');
  const { keys, alg } = await loadOrCreateSigningKeys(opts.keyFile, opts.signingAlg ?? 'ES256', opts.requiredAlg);
  const oidc = await loadOidcProvider();

  // The issuer URL embeds the port, which is only known once listening; requests wait for the handler.
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const server = createServer((req, res) => {
    if (handler) return handler(req, res);
    res.statusCode = 503;
    res.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const issuer = `http://${urlHost(opts.host)}:${port}`;

  const provider = new oidc.Provider(issuer, providerConfiguration(oidc, opts, { keys }, alg));
  // Error events carry the request context (and so the client's credentials): report the message only.
  provider.on('server_error', (_ctx: unknown, err: Error) => {
    process.stderr.write(`local issuer: server error: ${err.message}\n`);
  });
  const callback = provider.callback();
  const interactions = opts.signIn ? signInInteractions(provider, opts.clients, opts.signIn, opts.audience) : undefined;
  handler = (req, res) => {
    if (!interactions) return callback(req, res);
    interactions(req, res).then(
      (handled) => {
        if (!handled) callback(req, res);
      },
      (err: Error) => {
        process.stderr.write(`local issuer: sign-in error: ${err.message}\n`);
        if (!res.headersSent) res.writeHead(500).end();
      },
    );
  };

  return {
    issuer,
    jwksUri: `${issuer}${ROUTES.jwks}`,
    tokenEndpoint: `${issuer}${ROUTES.token}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
