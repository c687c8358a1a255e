// The listener the HTTP and Kubernetes engines serve on: HTTPS with HTTP/2 and HTTP/1.1 by ALPN
// (node:http2 with allowHTTP1), or plain HTTP/1.1 when the listener allows it. Node's strict parser
// refuses request-smuggling shapes (both Content-Length and Transfer-Encoding, obs-fold, bad header
// bytes) before any engine code runs; what it refuses is answered by the engine's `onClientError`.
// Idle keep-alive connections close after a minute; the sockets are tracked so that close() ends them.
import http from 'node:http';
import http2 from 'node:http2';
import { readFileSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import type { AgentRequest, AgentResponse } from './exchange.js';
import type { HttpListenerConfig } from './config.js';

export interface ListenerSpec {
  cfg: HttpListenerConfig;
  /** Each request, bounded: it must arrive whole within the listener's requestTimeoutMs. */
  handler: (req: AgentRequest, res: AgentResponse) => void;
  /** HTTP/2 settings of the engine's own (the rest are the listener's limits). */
  h2: { maxConcurrentStreams: number; enableConnectProtocol?: boolean };
  /** Plain HTTP/1.1's bound on a whole exchange: 0 where answers stream for as long as they last (watches). */
  plainRequestTimeoutMs: number;
  /** Serve the further certificates of `tls.sni`, chosen by the SNI name. */
  sniCertificates: boolean;
  /** Answers, on its socket, a request Node's parser refused. */
  onClientError: (err: NodeJS.ErrnoException, socket: Socket) => void;
}

export interface Listener {
  server: http.Server | http2.Http2SecureServer;
  /** Starts listening (after the engine attached its upgrade handlers); the port bound. */
  listen(): Promise<number>;
  /** Stops accepting, ends every open connection. */
  close(): Promise<void>;
}

export function createListener(spec: ListenerSpec): Listener {
  const { cfg } = spec;
  const handler = (req: AgentRequest, res: AgentResponse) => {
    // The whole request must arrive in time; a slow sender does not hold a slot forever.
    req.setTimeout?.(cfg.requestTimeoutMs, () => req.destroy?.());
    spec.handler(req, res);
  };
  const server = cfg.tls
    ? http2.createSecureServer(
        {
          cert: readFileSync(cfg.tls.certFile),
          key: readFileSync(cfg.tls.keyFile),
          allowHTTP1: true,
          maxSessionMemory: 32,
          settings: { maxHeaderListSize: cfg.maxHeaderBytes, ...spec.h2 },
          // HTTP/1.1 connections on the TLS port: the same strict parser and header limit as plain.
          maxHeaderSize: cfg.maxHeaderBytes,
        } as http2.SecureServerOptions,
        handler,
      )
    : http.createServer(
        {
          maxHeaderSize: cfg.maxHeaderBytes,
          insecureHTTPParser: false,
          requestTimeout: spec.plainRequestTimeoutMs,
          headersTimeout: Math.min(cfg.requestTimeoutMs, 20_000),
          joinDuplicateHeaders: false,
        },
        handler,
      );
  // Further certificates chosen by the SNI name (exact names and `*.` wildcards, as tls.Server matches them).
  if (cfg.tls && spec.sniCertificates) for (const c of cfg.tls.sni) for (const host of c.hosts) (server as http2.Http2SecureServer).addContext(host, { cert: readFileSync(c.certFile), key: readFileSync(c.keyFile) });
  // Idle keep-alive connections are closed after a while; held requests are not idle.
  (server as http.Server).keepAliveTimeout = 60_000;
  server.on('clientError', spec.onClientError);
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    s.setNoDelay(true);
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  return {
    server,
    listen: () =>
      new Promise<number>((resolve, reject) => {
        server.once('error', reject);
        server.listen(cfg.port, cfg.host, () => resolve((server.address() as AddressInfo).port));
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
