// One set of audit sessions per agent connection — an HTTP/2 session or an HTTP/1.1 socket — made
// on the connection's first request and closed with it. The HTTP and Kubernetes engines share it.
import type http from 'node:http';
import type http2 from 'node:http2';
import type { Socket } from 'node:net';
import type { EnginePorts } from '../../engine.js';
import { ConnectionSessions } from './audit-session.js';

export class AgentConnections {
  readonly #live = new Map<object, ConnectionSessions>();

  /** `labels`: how the audit names the connection's protocol, over HTTP/2 and over HTTP/1.1. */
  constructor(
    private readonly ports: EnginePorts,
    private readonly labels: { h2: string; h1: string },
  ) {}

  get size(): number {
    return this.#live.size;
  }

  of(req: http.IncomingMessage | http2.Http2ServerRequest): ConnectionSessions {
    const h2 = (req as http2.Http2ServerRequest).stream?.session;
    const key: object = h2 ?? req.socket;
    let c = this.#live.get(key);
    if (!c) {
      const socket = req.socket as Socket;
      // Ending the connection when the gateway ends its last session: HTTP/2 says GOAWAY; an HTTP/1.1
      // socket (keep-alive, or carrying a WebSocket) is ended, and destroyed if the agent lingers.
      const terminate = h2
        ? () => h2.close()
        : () => {
            socket.end();
            setTimeout(() => socket.destroy(), 1000).unref();
          };
      const conn = new ConnectionSessions(this.ports, { address: socket.remoteAddress ?? 'unknown', port: socket.remotePort ?? 0 }, h2 ? this.labels.h2 : this.labels.h1, terminate);
      this.#live.set(key, conn);
      const closed = () => {
        this.#live.delete(key);
        void conn.close('connection closed');
      };
      if (h2) h2.once('close', closed);
      else req.socket.once('close', closed);
      c = conn;
    }
    return c;
  }

  async closeAll(reason: string): Promise<void> {
    for (const c of this.#live.values()) await c.close(reason);
  }
}
