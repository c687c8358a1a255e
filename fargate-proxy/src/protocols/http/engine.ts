// The HTTP engine: `https://<gateway>:8443/<target>/<path>`. HTTPS serves HTTP/2 and HTTP/1.1 (ALPN,
// node:http2 with allowHTTP1); plain HTTP/1.1 only when the listener allows it. Node's strict parser
// refuses request-smuggling shapes (both Content-Length and Transfer-Encoding, obs-fold, bad header
// bytes) before any of this code runs; see docs/http.md.
import http from 'node:http';
import http2 from 'node:http2';
import { readFileSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import type { Engine, EnginePorts } from '../../engine.js';
import { ApprovalHolds } from './approval-holds.js';
import type { ConnectionSessions } from './audit-session.js';
import { AgentConnections } from './agent-connections.js';
import type { HttpListenerConfig } from './config.js';
import { handleExchange, type AgentRequest, type AgentResponse, type ExchangeContext } from './exchange.js';
import { createHttpTarget, type HttpTarget } from './target.js';
import { createUpgradeHandler } from './websocket.js';

export async function startHttpEngine(ports: EnginePorts, cfg: HttpListenerConfig, opts: { approvalLifetimeMs: number }): Promise<Engine> {
  const targets = new Map<string, HttpTarget>();
  for (const t of ports.targets) if (t.kind === 'http') targets.set(t.name, createHttpTarget(t));
  const holds = new ApprovalHolds(ports.approvals, opts.approvalLifetimeMs, cfg.approvalWaitSeconds * 1000);
  const x: ExchangeContext = { ports, listener: cfg, targets, holds };

  // One set of audit sessions per agent connection (an HTTP/2 session or an HTTP/1.1 socket).
  const connections = new AgentConnections(ports, { h2: 'http/2', h1: 'http/1.1' });
  const connectionOf = (req: AgentRequest): ConnectionSessions => connections.of(req);
  const handler = (req: AgentRequest, res: AgentResponse) => {
    // The whole request must arrive in time; a slow sender does not hold a slot forever.
    req.setTimeout?.(cfg.requestTimeoutMs, () => req.destroy?.());
    void handleExchange(x, connectionOf(req), req, res);
  };

  const server = cfg.tls
    ? http2.createSecureServer(
        {
          cert: readFileSync(cfg.tls.certFile),
          key: readFileSync(cfg.tls.keyFile),
          allowHTTP1: true,
          maxSessionMemory: 32,
          // enableConnectProtocol: agents may open WebSockets over HTTP/2 (RFC 8441 extended CONNECT).
          settings: { maxHeaderListSize: cfg.maxHeaderBytes, maxConcurrentStreams: 128, enableConnectProtocol: true },
          // HTTP/1.1 connections on the TLS port: the same strict parser and header limit as plain.
          maxHeaderSize: cfg.maxHeaderBytes,
        } as http2.SecureServerOptions,
        handler,
      )
    : http.createServer(
        {
          maxHeaderSize: cfg.maxHeaderBytes,
          insecureHTTPParser: false,
          requestTimeout: cfg.requestTimeoutMs,
          headersTimeout: Math.min(cfg.requestTimeoutMs, 20_000),
          joinDuplicateHeaders: false,
        },
        handler,
      );
  // Further certificates chosen by the SNI name (exact names and `*.` wildcards, as tls.Server matches them).
  if (cfg.tls) for (const c of cfg.tls.sni) for (const host of c.hosts) (server as http2.Http2SecureServer).addContext(host, { cert: readFileSync(c.certFile), key: readFileSync(c.keyFile) });
  // WebSockets — HTTP/1.1 upgrades (plain or on the TLS port) and HTTP/2 extended CONNECT — decided,
  // then relayed (websocket.ts); any other CONNECT is refused there.
  const upgrades = createUpgradeHandler(x, connectionOf);
  server.on('upgrade', upgrades.upgrade);
  server.on('connect', upgrades.connect);
  // Idle keep-alive connections are closed after a while; held requests are not idle.
  (server as http.Server).keepAliveTimeout = 60_000;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // Node's parser refused the request (smuggling shapes, bad bytes, header limits): a plain 400.
    ports.log.debug({ code: err.code }, 'http parser refused a request');
    if (socket.writable) {
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
      const body = JSON.stringify({ type: 'https://airlock.dev/problems/bad_request', title: 'The request could not be parsed', status: Number(status.slice(0, 3)), code: 'bad_request' });
      socket.end(`HTTP/1.1 ${status}\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    } else socket.destroy();
  });
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    s.setNoDelay(true);
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('secureConnection', (s: Socket) => s.setNoDelay(true));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, cfg.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  ports.log.info({ host: cfg.host, port, tls: Boolean(cfg.tls) }, 'http listener ready');
  return {
    protocol: 'http',
    address: { host: cfg.host, port },
    liveSessions: () => connections.size,
    stopAccepting: () => server.close(),
    close: async () => {
      holds.close();
      upgrades.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      await connections.closeAll('the gateway is shutting down');
      await Promise.all([...targets.values()].map((t) => t.pool.close().catch(() => undefined)));
    },
  };
}
