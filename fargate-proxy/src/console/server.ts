// The local web console: a node:http (or, with a certificate, node:https) server with the approvals
// page and JSON API. The lead adds session / replay pages by passing more routes (see router.ts).
// The same routing serves the plain health listener, which carries GET /healthz only.
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { LocalApprovalDesk } from '../adapters/local/approval-service.js';
import { approvalRoutes } from './approvals-api.js';
import type { VerifyReviewer } from './approvals-api.js';
import { HttpError, sendJson } from './http.js';
import { pageRoutes } from './page.js';
import { matchRoute } from './router.js';
import type { SignIn } from './oauth-sign-in.js';
import { signInRoutes } from './sign-in-routes.js';
import { tasksPageRoutes } from './tasks-page.js';
import type { ConsoleRoute } from './router.js';

/** PEM certificate (chain) and private key: the console then speaks HTTPS only. */
export interface ConsoleTls {
  cert: Buffer | string;
  key: Buffer | string;
}

export interface ConsoleOptions {
  host: string;
  port: number;
  approvals: LocalApprovalDesk;
  /** Verifies a reviewer's OIDC access token (the identity module's verifier in the gateway). */
  verifyReviewer: VerifyReviewer;
  /** Extra routes (e.g. sessions, replay); matched before the built-in ones. */
  routes?: ConsoleRoute[];
  /** Serve HTTPS with this certificate instead of plain HTTP. */
  tls?: ConsoleTls;
  /** Reviewers' browser sign-in at the issuer (authorization code + PKCE); without it, tokens are pasted. */
  signIn?: SignIn;
  /** Where unexpected errors go (never token material: only the error message). */
  onError?: (error: unknown) => void;
}

export interface RunningConsole {
  url: string;
  close(): Promise<void>;
}

export async function startConsole(options: ConsoleOptions): Promise<RunningConsole> {
  const routes: ConsoleRoute[] = [...(options.routes ?? []), ...pageRoutes(), ...tasksPageRoutes(), ...signInRoutes(options.signIn, options.tls !== undefined), ...approvalRoutes(options.approvals, options.verifyReviewer)];
  return serveRoutes({ host: options.host, port: options.port, routes, tls: options.tls, onError: options.onError });
}

export interface HealthListenerOptions {
  host: string;
  port: number;
  /** The GET /healthz route; nothing else is served. */
  healthz: ConsoleRoute['handler'];
  onError?: (error: unknown) => void;
}

/** Plain HTTP answering GET /healthz only: for load balancers and container health checks. */
export function startHealthListener(options: HealthListenerOptions): Promise<RunningConsole> {
  return serveRoutes({ host: options.host, port: options.port, routes: [{ method: 'GET', path: '/healthz', handler: options.healthz }], onError: options.onError });
}

async function serveRoutes(options: { host: string; port: number; routes: ConsoleRoute[]; tls?: ConsoleTls; onError?: (error: unknown) => void }): Promise<RunningConsole> {
  const { routes } = options;
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://console.invalid');
    const match = matchRoute(routes, req.method ?? 'GET', url.pathname);
    if (!match.route) {
      if (match.methodMismatch) sendJson(res, 405, { error: 'method not allowed' });
      else sendJson(res, 404, { error: 'not found' });
      return;
    }
    Promise.resolve()
      .then(() => match.route.handler({ req, res, url, params: match.params }))
      .catch((error: unknown) => {
        if (error instanceof HttpError) {
          if (!res.headersSent) sendJson(res, error.status, { error: error.message });
          else res.destroy();
          return;
        }
        options.onError?.(error);
        if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
        else res.destroy();
      });
  };
  const server = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key, minVersion: 'TLSv1.2' }, handle) : createServer(handle);
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `${options.tls ? 'https' : 'http'}://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
