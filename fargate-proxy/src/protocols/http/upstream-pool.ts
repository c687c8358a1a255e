// The keep-alive pool to one upstream origin, as HTTP and Kubernetes targets both open it: bounded
// waits for the connection, the headers and between body chunks (a stalled stream ends rather than
// holding the agent forever), and the target's own TLS trust and client certificate.
import { Pool } from 'undici';

export interface UpstreamPoolOptions {
  responseTimeoutMs: number;
  connectTimeoutMs: number;
  ca?: string | Buffer;
  serverName?: string;
  clientCert?: { cert: string | Buffer; key: string | Buffer };
}

export function openUpstreamPool(origin: string, o: UpstreamPoolOptions): Pool {
  return new Pool(origin, {
    connections: 64,
    pipelining: 1,
    headersTimeout: o.responseTimeoutMs,
    bodyTimeout: o.responseTimeoutMs,
    keepAliveTimeout: 4_000,
    connect: {
      timeout: o.connectTimeoutMs,
      ...(o.ca && { ca: o.ca }),
      ...(o.serverName && { servername: o.serverName }),
      ...(o.clientCert && { cert: o.clientCert.cert, key: o.clientCert.key }),
    },
  });
}
