// pods/exec, pods/attach and pods/portforward through the gateway (see contract.ts for the seam
// with the Kubernetes engine). exec and attach speak WebSocket: the channel protocols v5/v4.
// port-forward speaks the WebSocket channel protocol (v4 and the unversioned one, as
// @kubernetes/client-node does) and kubectl's SPDY/3.1 — tunneled in WebSocket
// (`SPDY/3.1+portforward.k8s.io`, kubectl 1.31+) or on the socket after `Upgrade: SPDY/3.1` with
// `X-Stream-Protocol-Version: portforward.k8s.io` (its fallback). exec and attach over SPDY are
// refused with a Status saying so: kubectl 1.32 tries WebSocket first for them, and only falls back
// to SPDY when the WebSocket upgrade itself is refused — which this handler never does for a policy
// reason (refusals come after the upgrade, on the error channel).
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import * as ch from './channel.js';
import type { StreamingContext, StreamingSubresource } from './contract.js';
import { auditRefused } from './decide.js';
import { runExec } from './exec-session.js';
import { runPortForward } from './portforward-session.js';
import { PORTFORWARD_PROTOCOL, runSpdyPortForward, socketTransport, SPDY_TUNNEL_PROTOCOL, websocketTransport } from './spdy-portforward.js';
import { BadRequest, parseExecParams, parsePorts } from './request.js';
import { MAX_MESSAGE_BYTES } from './upstream.js';

export { isStreamingRequest, type StreamingContext } from './contract.js';

const CHOSEN = Symbol('airlock.k8s.subprotocol');
type Chosen = IncomingMessage & { [CHOSEN]?: string };

const wss = new WebSocketServer({
  noServer: true,
  perMessageDeflate: false,
  maxPayload: MAX_MESSAGE_BYTES,
  handleProtocols: (_offered, req) => (req as Chosen)[CHOSEN] ?? false,
});

const REASONS: Record<number, string> = { 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed' };

function refuseHttp(socket: Duplex, status: ch.Status): void {
  if (!socket.writable) return void socket.destroy();
  const body = JSON.stringify(status);
  const code = status.code ?? 400;
  socket.end(
    `HTTP/1.1 ${code} ${REASONS[code] ?? 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

export async function handleStreamingUpgrade(ctx: StreamingContext, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  socket.on('error', () => socket.destroy());
  const refuse = async (code: number, reason: string, message: string) => {
    await auditRefused(ctx, `${req.method ?? 'GET'} ${ctx.attributes.namespace}/${ctx.attributes.name}/${ctx.attributes.subresource}`, message);
    refuseHttp(socket, ch.failure(code, reason, message));
  };
  try {
    const { resource, subresource } = ctx.attributes;
    if (resource !== 'pods' || !['exec', 'attach', 'portforward'].includes(subresource)) {
      return await refuse(404, 'NotFound', `airlock: ${resource}/${subresource} is not a streaming subresource`);
    }
    const sub = subresource as StreamingSubresource;
    const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
    const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter(Boolean);
    if (sub === 'portforward' && upgrade === 'spdy/3.1') {
      const versions = String(req.headers['x-stream-protocol-version'] ?? '').split(',').map((p) => p.trim());
      if (!versions.includes(PORTFORWARD_PROTOCOL)) return await refuse(403, 'Forbidden', `airlock: port-forward over SPDY speaks X-Stream-Protocol-Version ${PORTFORWARD_PROTOCOL}; the client offered ${versions.join(', ') || 'none'}`);
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${PORTFORWARD_PROTOCOL}\r\n\r\n`);
      if (head.length) socket.unshift(head);
      return await runSpdyPortForward(ctx, socketTransport(socket), 'upgrade');
    }
    if (sub === 'portforward' && upgrade === 'websocket' && offered.includes(SPDY_TUNNEL_PROTOCOL) && !ch.chooseProtocol(offered, ch.PROTOCOLS.portforward)) {
      (req as Chosen)[CHOSEN] = SPDY_TUNNEL_PROTOCOL;
      // `/` is not a token character (RFC 7230), so ws would refuse the header with 400 (and kubectl
      // fall back to plain SPDY); the offer was read above, and the answer names the protocol as offered.
      req.headers['sec-websocket-protocol'] = 'airlock.spdy-tunnel';
      const agent = await new Promise<import('ws').WebSocket>((resolve) => wss.handleUpgrade(req, socket, head, resolve));
      return await runSpdyPortForward(ctx, websocketTransport(agent), 'websocket');
    }
    if (upgrade.startsWith('spdy/') || (upgrade === 'websocket' && offered.length > 0 && offered.every((p) => p.toLowerCase().startsWith('spdy/')))) {
      return await refuse(
        400,
        'BadRequest',
        `airlock: ${sub} over SPDY is not supported; the gateway speaks WebSocket (${ch.PROTOCOLS[sub].join(', ')})${sub === 'portforward' ? ` and ${SPDY_TUNNEL_PROTOCOL}` : ''}. kubectl 1.30+ uses WebSocket for exec and attach by default (do not set KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false)`,
      );
    }
    if (upgrade !== 'websocket') return await refuse(400, 'BadRequest', `airlock: ${sub} needs a WebSocket upgrade (${ch.PROTOCOLS[sub].join(', ')})`);
    const protocol = ch.chooseProtocol(offered, ch.PROTOCOLS[sub]);
    if (!protocol) {
      return await refuse(400, 'BadRequest', `airlock: ${sub} speaks the WebSocket subprotocols ${ch.PROTOCOLS[sub].join(', ')}; the client offered ${offered.join(', ') || 'none'}`);
    }
    const query = new URL(req.url ?? '/', 'http://x').searchParams;
    let start: (agent: import('ws').WebSocket) => Promise<void>;
    try {
      if (sub === 'portforward') {
        const ports = parsePorts(query);
        start = (agent) => runPortForward(ctx, agent, protocol, ports);
      } else {
        const params = parseExecParams(query, sub);
        start = (agent) => runExec(ctx, agent, protocol, sub, params);
      }
    } catch (err) {
      if (err instanceof BadRequest) return await refuse(400, 'BadRequest', `airlock: ${err.message}`);
      throw err;
    }
    (req as Chosen)[CHOSEN] = protocol;
    const agent = await new Promise<import('ws').WebSocket>((resolve) => wss.handleUpgrade(req, socket, head, resolve));
    await start(agent).catch((err: Error) => {
      ctx.log?.error({ err: err.message }, `kubernetes ${sub} relay failed`);
      agent.terminate();
    });
  } catch (err) {
    ctx.log?.error({ err: (err as Error).message }, 'kubernetes streaming upgrade failed');
    refuseHttp(socket, ch.failure(500, 'InternalError', 'airlock: the streaming request failed'));
  }
}
