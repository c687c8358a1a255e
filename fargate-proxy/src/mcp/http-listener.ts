// The MCP listener: the streamable HTTP transport (MCP 2025-06-18) for remote agents, on its own
// port (`listeners.mcp`). Authorization follows the MCP specification: the endpoint is an OAuth
// protected resource (RFC 9728) whose metadata names the configured issuer; a request without a
// valid bearer token gets 401 with `WWW-Authenticate: Bearer resource_metadata="…"`. The token is
// the agent's access token (or a task token), verified here and again by every listener a tool
// connects to — the MCP listener decides nothing itself.
//
// Stateless: every POST gets its own server and transport (no MCP session id), so any task of the
// fleet can answer any request behind a load balancer; progress notifications of a held call stream
// back on that POST's response (SSE).
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { Principal } from '../../../core/model.js';
import type { TaskService } from '../../../core/task/types.js';
import type { Engine, EnginePorts } from '../engine.js';
import type { McpListenerConfig } from './config.js';
import type { GatewayEndpoints } from './endpoints.js';
import { createAirlockMcpServer } from './server.js';

export interface McpListenerOptions {
  ports: Pick<EnginePorts, 'log' | 'verifier' | 'audit'>;
  cfg: McpListenerConfig;
  /** The gateway's own listeners, which the tools are clients of. */
  endpoints: () => GatewayEndpoints;
  issuer: string;
  tasks?: TaskService;
  maxApprovalWaitMs: number;
  version: string;
}

export interface McpListener extends Engine {
  /** The MCP endpoint (the protected resource). */
  readonly url: string;
  /** Where the protected-resource metadata is served. */
  readonly metadataUrl: string;
}

const METADATA = '/.well-known/oauth-protected-resource';

function bearer(req: http.IncomingMessage): string | undefined {
  const m = /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)[ ]*$/i.exec(req.headers.authorization ?? '');
  return m?.[1];
}

function json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

async function readJson(req: http.IncomingMessage, limit: number): Promise<unknown> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw Object.assign(new Error(`request body over ${limit} bytes`), { status: 413 });
    parts.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(parts).toString('utf8'));
  } catch {
    throw Object.assign(new Error('the body is not JSON'), { status: 400 });
  }
}

export async function startMcpListener(o: McpListenerOptions): Promise<McpListener> {
  const { cfg, ports } = o;
  let resource = '';
  let metadataUrl = '';
  const metadata = () => ({
    resource,
    authorization_servers: cfg.authorizationServers ?? [o.issuer],
    bearer_methods_supported: ['header'],
    resource_name: 'Airlock MCP server',
    resource_documentation: 'https://github.com/airlock/airlock/blob/main/docs/agents.md',
  });
  /** RFC 6750 §3 + RFC 9728 §5.1: where the client learns how to get a token. */
  const challenge = (error?: { code: string; description: string }) =>
    `Bearer resource_metadata="${metadataUrl}"${error ? `, error="${error.code}", error_description="${error.description.replace(/["\\]/g, '')}"` : ''}`;

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (req.method === 'GET' && (path === METADATA || path === `${METADATA}${cfg.path}`)) return json(res, 200, metadata());
    if (path !== cfg.path) return json(res, 404, { error: 'not_found', error_description: `the MCP endpoint is ${cfg.path}` });
    // DNS rebinding (MCP transport spec): a browser page may only call from the endpoint's own origin.
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== new URL(resource).origin) return json(res, 403, { error: 'forbidden_origin', error_description: 'requests from other origins are refused' });

    // --- authenticate: before anything else, so an anonymous caller learns nothing but where to get a token
    const token = bearer(req);
    if (!token) return json(res, 401, { error: 'invalid_token', error_description: 'an access token is required' }, { 'www-authenticate': challenge() });
    let principal: Principal;
    try {
      principal = await ports.verifier.verify(token);
    } catch (err) {
      const reason = (err as Error).message;
      await ports.audit
        .append({ type: 'auth.refused', sessionId: randomUUID(), code: (err as { code?: string }).code ?? 'token_invalid', reason, client: { address: req.socket.remoteAddress ?? 'unknown', port: req.socket.remotePort ?? 0 } })
        .catch(() => undefined);
      return json(res, 401, { error: 'invalid_token', error_description: 'the access token was refused' }, { 'www-authenticate': challenge({ code: 'invalid_token', description: 'the access token was refused' }) });
    }

    // Stateless: no standalone SSE stream and no session to delete.
    if (req.method !== 'POST') return json(res, 405, { error: 'method_not_allowed', error_description: 'POST JSON-RPC messages to this endpoint' }, { allow: 'POST' });
    let body: unknown;
    try {
      body = await readJson(req, cfg.maxRequestBytes);
    } catch (err) {
      return json(res, (err as { status?: number }).status ?? 400, { jsonrpc: '2.0', error: { code: -32700, message: (err as Error).message }, id: null });
    }
    const server = createAirlockMcpServer({
      endpoints: o.endpoints(),
      token: () => Promise.resolve(token),
      principal: () => Promise.resolve(principal),
      tasks: o.tasks,
      maxApprovalWaitMs: o.maxApprovalWaitMs,
      version: o.version,
    });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.once('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  };

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) =>
    void handle(req, res).catch((err: unknown) => {
      ports.log.error({ err: (err as Error).message }, 'mcp request failed');
      if (!res.headersSent) json(res, 500, { jsonrpc: '2.0', error: { code: -32603, message: 'internal error' }, id: null });
      else res.destroy();
    });
  const server = cfg.tls
    ? https.createServer({ cert: readFileSync(cfg.tls.certFile), key: readFileSync(cfg.tls.keyFile) }, onRequest)
    : http.createServer({ maxHeaderSize: 32 * 1024 }, onRequest);
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, cfg.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = cfg.host === '0.0.0.0' ? '127.0.0.1' : cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host;
  resource = cfg.publicUrl ?? `${cfg.tls ? 'https' : 'http'}://${host}:${port}${cfg.path}`;
  const u = new URL(resource);
  metadataUrl = `${u.origin}${METADATA}${u.pathname === '/' ? '' : u.pathname}`;
  ports.log.info({ url: resource }, 'mcp listener ready');
  return {
    protocol: 'mcp',
    url: resource,
    metadataUrl,
    address: { host: cfg.host, port },
    // No liveSessions: a call in flight holds a session on the listener it called, which is counted there.
    stopAccepting: () => server.close(),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
