// The Kubernetes engine: kubectl's server is `https://<gateway>:<port>/<target>` (a kubeconfig from
// `airlock kubeconfig`). HTTPS serves HTTP/2 and HTTP/1.1; plain HTTP/1.1 only when allowed (local
// use). Requests go through exchange.ts; WebSocket/SPDY upgrades on pods/exec, attach and
// portforward go to the streaming handler (streaming/contract.ts), everything else upgraded is refused.
import type http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { randomUUID } from 'node:crypto';
import type { Engine, EnginePorts } from '../../engine.js';
import { ApprovalHolds } from '../http/approval-holds.js';
import type { ConnectionSessions } from '../http/audit-session.js';
import { AgentConnections } from '../http/agent-connections.js';
import type { AgentRequest } from '../http/exchange.js';
import type { KubernetesListenerConfig } from './config.js';
import { handleKubeExchange, type KubeExchangeContext } from './exchange.js';
import { createKubeTarget, type EksTokenSourceFactory, type KubeTarget } from './target.js';
import { handleKubeUpgrade } from './upgrade.js';
import { createListener } from '../http/listener.js';

export async function startKubernetesEngine(ports: EnginePorts, cfg: KubernetesListenerConfig, opts: { approvalLifetimeMs: number; eksTokens?: EksTokenSourceFactory }): Promise<Engine> {
  const targets = new Map<string, KubeTarget>();
  for (const t of ports.targets) if (t.kind === 'kubernetes') targets.set(t.name, createKubeTarget(t, ports.secrets, opts.eksTokens));
  const holds = new ApprovalHolds(ports.approvals, opts.approvalLifetimeMs, cfg.approvalWaitSeconds * 1000);
  const x: KubeExchangeContext = { ports, listener: cfg, targets, holds };

  const connections = new AgentConnections(ports, { h2: 'kubernetes/http2', h1: 'kubernetes/http1.1' });
  const connectionOf = (req: AgentRequest): ConnectionSessions => connections.of(req);
  const listener = createListener({
    cfg,
    handler: (req, res) => void handleKubeExchange(x, connectionOf(req), req, res),
    h2: { maxConcurrentStreams: 256 },
    // Watches and followed logs are long-lived: no overall timeout on responses (requests are bounded above).
    plainRequestTimeoutMs: 0,
    sniCertificates: false,
    onClientError: (err: NodeJS.ErrnoException, socket: Socket) => {
      ports.log.debug({ code: err.code }, 'kubernetes listener refused an unparseable request');
      if (!socket.writable) return void socket.destroy();
      const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'airlock: the request could not be parsed', reason: 'BadRequest', code: 400 });
      socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    },
  });
  const upgrades = new Set<Duplex>();
  listener.server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    upgrades.add(socket);
    socket.once('close', () => upgrades.delete(socket));
    void handleKubeUpgrade(x, connectionOf(req), req, socket, head, randomUUID());
  });

  const port = await listener.listen();
  ports.log.info({ host: cfg.host, port, tls: Boolean(cfg.tls) }, 'kubernetes listener ready');
  return {
    protocol: 'kubernetes',
    address: { host: cfg.host, port },
    liveSessions: () => connections.size,
    stopAccepting: () => listener.server.close(),
    close: async () => {
      holds.close();
      for (const u of upgrades) u.destroy();
      await listener.close();
      await connections.closeAll('the gateway is shutting down');
      await Promise.all([...targets.values()].map((t) => t.close()));
    },
  };
}
