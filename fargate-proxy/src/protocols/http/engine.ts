// The HTTP engine: `https://<gateway>:8443/<target>/<path>`. HTTPS serves HTTP/2 and HTTP/1.1 (ALPN,
// node:http2 with allowHTTP1); plain HTTP/1.1 only when the listener allows it. Node's strict parser
// refuses request-smuggling shapes (both Content-Length and Transfer-Encoding, obs-fold, bad header
// bytes) before any of this code runs; see docs/http.md.
import type { Socket } from 'node:net';
import type { Engine, EnginePorts } from '../../engine.js';
import { ApprovalHolds } from './approval-holds.js';
import type { ConnectionSessions } from './audit-session.js';
import { AgentConnections } from './agent-connections.js';
import type { HttpListenerConfig } from './config.js';
import { handleExchange, type AgentRequest, type ExchangeContext } from './exchange.js';
import { createHttpTarget, type HttpTarget } from './target.js';
import { createUpgradeHandler } from './websocket.js';
import { createListener } from './listener.js';

export async function startHttpEngine(ports: EnginePorts, cfg: HttpListenerConfig, opts: { approvalLifetimeMs: number }): Promise<Engine> {
  const targets = new Map<string, HttpTarget>();
  for (const t of ports.targets) if (t.kind === 'http') targets.set(t.name, createHttpTarget(t));
  const holds = new ApprovalHolds(ports.approvals, opts.approvalLifetimeMs, cfg.approvalWaitSeconds * 1000);
  const x: ExchangeContext = { ports, listener: cfg, targets, holds };

  // One set of audit sessions per agent connection (an HTTP/2 session or an HTTP/1.1 socket).
  const connections = new AgentConnections(ports, { h2: 'http/2', h1: 'http/1.1' });
  const connectionOf = (req: AgentRequest): ConnectionSessions => connections.of(req);
  const listener = createListener({
    cfg,
    handler: (req, res) => void handleExchange(x, connectionOf(req), req, res),
    // enableConnectProtocol: agents may open WebSockets over HTTP/2 (RFC 8441 extended CONNECT).
    h2: { maxConcurrentStreams: 128, enableConnectProtocol: true },
    plainRequestTimeoutMs: cfg.requestTimeoutMs,
    sniCertificates: true,
    onClientError: (err: NodeJS.ErrnoException, socket: Socket) => {
      // Node's parser refused the request (smuggling shapes, bad bytes, header limits): a plain 400.
      ports.log.debug({ code: err.code }, 'http parser refused a request');
      if (socket.writable) {
        const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
        const body = JSON.stringify({ type: 'https://airlock.dev/problems/bad_request', title: 'The request could not be parsed', status: Number(status.slice(0, 3)), code: 'bad_request' });
        socket.end(`HTTP/1.1 ${status}\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
      } else socket.destroy();
    },
  });
  const { server } = listener;
  // WebSockets — HTTP/1.1 upgrades (plain or on the TLS port) and HTTP/2 extended CONNECT — decided,
  // then relayed (websocket.ts); any other CONNECT is refused there.
  const upgrades = createUpgradeHandler(x, connectionOf);
  server.on('upgrade', upgrades.upgrade);
  server.on('connect', upgrades.connect);

  const port = await listener.listen();
  ports.log.info({ host: cfg.host, port, tls: Boolean(cfg.tls) }, 'http listener ready');
  return {
    protocol: 'http',
    address: { host: cfg.host, port },
    liveSessions: () => connections.size,
    stopAccepting: () => server.close(),
    close: async () => {
      holds.close();
      upgrades.close();
      await listener.close();
      await connections.closeAll('the gateway is shutting down');
      await Promise.all([...targets.values()].map((t) => t.pool.close().catch(() => undefined)));
    },
  };
}
