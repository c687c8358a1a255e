// The gateway's own WebSocket to the API server: the engine's headers (the injected credential,
// any impersonation), nothing of the agent's request but the subprotocol it negotiated.
import WebSocket, { type RawData } from 'ws';
import type { StreamingUpstream } from './contract.js';
import { scrubText } from '../../http/credential.js';

export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

export function upstreamUrl(u: StreamingUpstream, path: string, query: string): string {
  const base = new URL(u.baseUrl);
  const scheme = base.protocol === 'https:' ? 'wss:' : base.protocol === 'http:' ? 'ws:' : base.protocol;
  return `${scheme}//${base.host}${base.pathname.replace(/\/+$/, '')}${path}${query ? `?${query}` : ''}`;
}

export interface Upstream {
  socket: WebSocket;
  /** Starts delivering messages to `handler`, the ones that came before it first, in order. */
  onMessage(handler: (data: RawData, isBinary: boolean) => void): void;
}

/**
 * Opens the upstream socket; rejects with a message safe to show the agent (credential scrubbed).
 * Messages that arrive with the handshake (a port-forward's port prefixes, a quick command's whole
 * output) are kept until the caller takes them.
 */
export function openUpstream(u: StreamingUpstream, path: string, query: string, protocol: string, requestId: string): Promise<Upstream> {
  const ws = new WebSocket(upstreamUrl(u, path, query), [protocol], {
    headers: { ...u.headers, 'x-airlock-request-id': requestId },
    followRedirects: false,
    perMessageDeflate: false,
    maxPayload: MAX_MESSAGE_BYTES,
    handshakeTimeout: u.connectTimeoutMs ?? 10_000,
    ...(u.tls?.ca && { ca: u.tls.ca }),
    ...(u.tls?.cert && { cert: u.tls.cert, key: u.tls.key }),
    ...(u.tls?.servername && { servername: u.tls.servername }),
    ...(u.tls?.rejectUnauthorized === false && { rejectUnauthorized: false }),
  });
  const early: [RawData, boolean][] = [];
  const keep = (data: RawData, isBinary: boolean) => early.push([data, isBinary]);
  ws.on('message', keep);
  const upstream: Upstream = {
    socket: ws,
    onMessage(handler) {
      ws.off('message', keep);
      for (const [d, b] of early.splice(0)) handler(d, b);
      ws.on('message', handler);
    },
  };
  return new Promise((resolve, reject) => {
    const fail = (why: string) => {
      ws.terminate();
      reject(new Error(scrubText(why, u.revealing)));
    };
    ws.once('open', () => {
      if (ws.protocol !== protocol) return fail(`the API server chose the subprotocol "${ws.protocol}" instead of ${protocol}`);
      resolve(upstream);
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body.length < 4096 ? (body += d) : undefined));
      res.on('end', () => {
        let message = '';
        try {
          message = String((JSON.parse(body) as { message?: unknown }).message ?? '');
        } catch {
          /* not a Status */
        }
        fail(`the API server answered ${res.statusCode}${message ? `: ${message.slice(0, 300)}` : ''}`);
      });
      res.on('error', () => fail(`the API server answered ${res.statusCode}`));
    });
    ws.once('error', (err) => fail(`the API server could not be reached (${err.message})`));
  });
}

/** Backpressure: while `to` has more than 1 MiB queued, `from` is paused. */
export function pace(from: WebSocket, to: WebSocket): void {
  let waiting = false;
  from.on('message', () => {
    if (waiting || to.bufferedAmount <= 1024 * 1024) return;
    waiting = true;
    from.pause();
    const resume = setInterval(() => {
      if (to.bufferedAmount < 256 * 1024 || to.readyState !== WebSocket.OPEN) {
        clearInterval(resume);
        waiting = false;
        from.resume();
      }
    }, 10);
  });
}

/** A close code one side reported, as one that may be sent on (RFC 6455 §7.4.1). */
export function sendable(code: number): number {
  if (code === 1005) return 1000;
  if (code === 1006 || code === 1015) return 1011;
  return code;
}
