// A local stand-in for an Amazon Cognito user pool, shaped as Cognito publishes and signs: the
// issuer is `<origin>/<poolId>`, discovery and `/.well-known/jwks.json` sit under it, tokens are RS256
// with a `kid` and no `typ`, and access tokens carry `client_id`, `scope` and `token_use` but no `aud`.
// `/oauth2/token` answers the client-credentials grant as a pool's domain does (HTTP Basic client
// authentication, `scope` of the resource server). No npm package serves Cognito, so this one is
// jose-signed tokens over a real HTTP server.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';

export interface CognitoClient {
  clientId: string;
  clientSecret: string;
  /** Scopes this app client may ask for (`<resource server>/<scope>`). */
  allowedScopes: string[];
}

export interface CognitoStandIn {
  poolId: string;
  /** `http://127.0.0.1:PORT/<poolId>`, as `https://cognito-idp.<region>.amazonaws.com/<poolId>`. */
  issuer: string;
  /** The pool domain's token endpoint. */
  tokenEndpoint: string;
  /** A user's access token (authorization code flow) as Cognito issues it. */
  userAccessToken(o: { clientId: string; username: string; groups?: string[]; scope?: string }): Promise<string>;
  /** A user's ID token: `aud` is the app client, `token_use` is `id`. Never a credential for Airlock. */
  idToken(o: { clientId: string; username: string; groups?: string[] }): Promise<string>;
  close(): Promise<void>;
}

export async function startCognitoStandIn(clients: CognitoClient[], poolId = 'eu-west-1_TestPool1'): Promise<CognitoStandIn> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = randomUUID();
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  let origin = '';
  const issuer = () => `${origin}/${poolId}`;
  const sign = (claims: Record<string, unknown>) =>
    new SignJWT({ ...claims, jti: randomUUID(), version: 2, auth_time: Math.floor(Date.now() / 1000) })
      .setProtectedHeader({ kid, alg: 'RS256' })
      .setIssuer(issuer())
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(privateKey);

  const server: Server = createServer((req, res) => {
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && req.url === `/${poolId}/.well-known/openid-configuration`) {
      return json(200, { issuer: issuer(), jwks_uri: `${issuer()}/.well-known/jwks.json`, token_endpoint: `${origin}/oauth2/token` });
    }
    if (req.method === 'GET' && req.url === `/${poolId}/.well-known/jwks.json`) return json(200, { keys: [jwk] });
    if (req.method === 'POST' && req.url === '/oauth2/token') {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        void (async () => {
          const form = new URLSearchParams(body);
          const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
          const [id, secret] = basic ? Buffer.from(basic, 'base64').toString().split(':') : [];
          const client = clients.find((c) => c.clientId === id && c.clientSecret === secret);
          if (!client) return json(400, { error: 'invalid_client' });
          if (form.get('grant_type') !== 'client_credentials') return json(400, { error: 'unsupported_grant_type' });
          const asked = (form.get('scope') ?? client.allowedScopes.join(' ')).split(' ').filter(Boolean);
          if (asked.some((s) => !client.allowedScopes.includes(s))) return json(400, { error: 'invalid_scope' });
          const token = await sign({ sub: client.clientId, token_use: 'access', scope: asked.join(' '), client_id: client.clientId });
          json(200, { access_token: token, expires_in: 3600, token_type: 'Bearer' });
        })();
      });
      return;
    }
    json(404, { error: 'not found' });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    poolId,
    issuer: issuer(),
    tokenEndpoint: `${origin}/oauth2/token`,
    userAccessToken: ({ clientId, username, groups, scope }) =>
      sign({ sub: randomUUID(), ...(groups ? { 'cognito:groups': groups } : {}), client_id: clientId, origin_jti: randomUUID(), event_id: randomUUID(), token_use: 'access', scope: scope ?? 'openid email', username }),
    idToken: ({ clientId, username, groups }) =>
      sign({ sub: randomUUID(), aud: clientId, ...(groups ? { 'cognito:groups': groups } : {}), token_use: 'id', 'cognito:username': username, email: `${username}@example.com` }),
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
