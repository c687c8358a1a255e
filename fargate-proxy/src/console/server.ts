// The local web console: a node:http server with the approvals page and JSON API.
// The lead adds session / replay pages by passing more routes (see router.ts).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LocalApprovalDesk } from '../adapters/local/approval-service.js';
import { approvalRoutes } from './approvals-api.js';
import type { VerifyReviewer } from './approvals-api.js';
import { HttpError, sendJson } from './http.js';
import { pageRoutes } from './page.js';
import { matchRoute } from './router.js';
import type { ConsoleRoute } from './router.js';

export interface ConsoleOptions {
  host: string;
  port: number;
  approvals: LocalApprovalDesk;
  /** Verifies a reviewer's OIDC access token (the identity module's verifier in the gateway). */
  verifyReviewer: VerifyReviewer;
  /** Extra routes (e.g. sessions, replay); matched before the built-in ones. */
  routes?: ConsoleRoute[];
  /** Where unexpected errors go (never token material: only the error message). */
  onError?: (error: unknown) => void;
}

export interface RunningConsole {
  url: string;
  close(): Promise<void>;
}

export async function startConsole(options: ConsoleOptions): Promise<RunningConsole> {
  const routes: ConsoleRoute[] = [...(options.routes ?? []), ...pageRoutes(), ...approvalRoutes(options.approvals, options.verifyReviewer)];
  const server = createServer((req, res) => {
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
  });
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
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
