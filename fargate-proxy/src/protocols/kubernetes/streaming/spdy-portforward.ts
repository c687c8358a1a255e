// kubectl port-forward's own protocol, ended at the gateway: SPDY/3.1 (spdy.ts), either tunneled in
// WebSocket binary messages (subprotocol `SPDY/3.1+portforward.k8s.io`, kubectl 1.31+'s default) or
// on the raw socket after an `Upgrade: SPDY/3.1` (its fallback). The gateway plays the kubelet's
// part (pkg/kubelet/cri/streaming/portforward/httpstream.go): for every connection made to its
// local port, kubectl opens an error stream and a data stream carrying the headers `streamType`,
// `port` and `requestID`; each valid stream is replied to at once, and a complete pair is forwarded.
//
// Ports are not in the request's URL, so each port is decided when a pair first names it (once per
// agent connection, as the WebSocket path does; later connections to that port reuse the verdict).
// A refused port's error stream says why and both streams end: kubectl prints "an error occurred
// forwarding L -> R: airlock: refused: …". An allowed pair gets its own upstream, the WebSocket
// channel protocol (v4.channel.k8s.io, `ports=P`; what the kubelet behind any API server speaks),
// so nothing of the agent's SPDY reaches the cluster.
// The channel protocol has no half-close: when kubectl ends its side of a data stream, the pod's side
// gets CLOSE_GRACE_MS more to answer, then the upstream is closed (containerd gives a forwarded
// connection the same second once one direction has ended).
import type { Duplex } from 'node:stream';
import WebSocket, { type RawData } from 'ws';
import { ResponseCapture } from '../../../../../core/audit/response-capture.js';
import { StreamScrubber } from '../../http/credential.js';
import { toBuffer } from './agent-socket.js';
import * as ch from './channel.js';
import type { StreamingContext } from './contract.js';
import { auditRefused, decideStreaming, type Decided } from './decide.js';
import { appendOutcome } from './exec-session.js';
import { portsQuery, subresourcePath } from './request.js';
import * as spdy from './spdy.js';
import { openUpstream, type Upstream } from './upstream.js';

/** The WebSocket subprotocol kubectl tunnels SPDY in. */
export const SPDY_TUNNEL_PROTOCOL = 'SPDY/3.1+portforward.k8s.io';
/** The X-Stream-Protocol-Version a direct SPDY upgrade must name (the kubelet's only one). */
export const PORTFORWARD_PROTOCOL = 'portforward.k8s.io';

const CLOSE_GRACE_MS = 1000;
/** Bytes a data stream may carry before its port is decided and its upstream open; past it the agent is paused. */
const MAX_EARLY_BYTES = 1024 * 1024;
/** Pairs still waiting for their second stream, and pairs in all (each forwarding one has its own upstream); past either, new streams are refused (REFUSED_STREAM). */
const MAX_PENDING_PAIRS = 128;
const MAX_PAIRS = 1024;
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;
/** spdystream writes data frames of at most 32 KiB; so does the gateway. */
const MAX_DATA_CHUNK = 32 * 1024;

/** The agent's SPDY byte stream, whatever carries it. */
export interface ByteTransport {
  write(b: Buffer): void;
  /** Bytes queued toward the agent. */
  buffered(): number;
  pause(): void;
  resume(): void;
  close(): void;
  onData(handler: (b: Buffer) => void): void;
  /** Aborted when the agent's connection is gone. */
  readonly closed: AbortSignal;
}

/** SPDY tunneled in WebSocket: every binary message is a piece of the byte stream (frames may span messages). */
export function websocketTransport(ws: WebSocket): ByteTransport {
  const closed = new AbortController();
  ws.on('close', () => closed.abort());
  ws.on('error', () => ws.terminate());
  return {
    write: (b) => ws.readyState === WebSocket.OPEN && ws.send(b, { binary: true }),
    buffered: () => ws.bufferedAmount,
    pause: () => ws.pause(),
    resume: () => ws.resume(),
    close: () => (ws.readyState === WebSocket.OPEN ? ws.close(1000) : ws.terminate()),
    onData: (h) => ws.on('message', (d: RawData, isBinary: boolean) => isBinary && h(toBuffer(d))),
    closed: closed.signal,
  };
}

/** SPDY on the upgraded socket itself. */
export function socketTransport(socket: Duplex): ByteTransport {
  const closed = new AbortController();
  socket.on('close', () => closed.abort());
  socket.on('error', () => socket.destroy());
  return {
    write: (b) => void (socket.writable && socket.write(b)),
    buffered: () => socket.writableLength,
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    close: () => socket.end(),
    onData: (h) => socket.on('data', (d: Buffer) => h(d)),
    closed: closed.signal,
  };
}

interface PortState {
  decided: Promise<Decided>;
  connections: number;
  failures: number;
  lastError?: string;
  bytesIn: number;
  bytesOut: number;
  received: ResponseCapture;
}

interface Pair {
  requestId: string;
  port: number;
  dataStream?: number;
  errorStream?: number;
  early: Buffer[];
  earlyBytes: number;
  /** kubectl ended its side of the data stream (FIN). */
  agentDone: boolean;
  upstream?: Upstream;
  ended: boolean;
  grace?: NodeJS.Timeout;
}

interface StreamState {
  pair: Pair;
  type: 'data' | 'error';
  /** The gateway's side has ended (FIN or RST sent). */
  localDone: boolean;
}

/** The kubelet's header checks (httpStreamReceived), with its messages. */
function checkHeaders(h: spdy.Headers): { port: number; type: 'data' | 'error' } | string {
  const portString = spdy.header(h, 'port') ?? '';
  if (portString === '') return '"port" header is required';
  if (!/^\d{1,5}$/.test(portString) || Number(portString) > 65535) return `unable to parse "${portString.slice(0, 16)}" as a port`;
  if (Number(portString) < 1) return `port "${portString}" must be > 0`;
  const type = spdy.header(h, 'streamtype') ?? '';
  if (type === '') return '"streamType" header is required';
  if (type !== 'data' && type !== 'error') return `invalid stream type "${type.slice(0, 32)}"`;
  return { port: Number(portString), type };
}

/** `via`: how the agent's SPDY arrived (audited as `k8s.portforward.spdy.<via>`). */
export async function runSpdyPortForward(ctx: StreamingContext, agent: ByteTransport, via: 'websocket' | 'upgrade'): Promise<void> {
  const started = Date.now();
  const { namespace, name } = ctx.attributes;
  const reader = new spdy.FrameReader();
  const decoder = new spdy.HeaderDecoder();
  const encoder = new spdy.HeaderEncoder();
  const streams = new Map<number, StreamState>();
  const pairs = new Map<string, Pair>();
  const ports = new Map<number, PortState>();
  let lastStreamId = 0;
  let goneAway = false;

  const write = (b: Buffer) => {
    if (agent.closed.aborted) return;
    ctx.audit.onBytes?.('out', b.length);
    agent.write(b);
  };
  const sendData = (id: number, data: Buffer, fin = false) => {
    const s = streams.get(id);
    if (!s || s.localDone) return;
    for (let at = 0; at < data.length; at += MAX_DATA_CHUNK) write(spdy.dataFrame(id, data.subarray(at, at + MAX_DATA_CHUNK)));
    if (fin) {
      s.localDone = true;
      write(spdy.dataFrame(id, Buffer.alloc(0), true));
    }
  };
  const fail = async (why: string) => {
    if (goneAway) return;
    goneAway = true;
    await auditRefused(ctx, `port-forward ${namespace}/${name}`, `airlock: ${why}`);
    write(spdy.goAwayFrame(lastStreamId, spdy.GOAWAY_STATUS.PROTOCOL_ERROR));
    agent.close();
  };

  // Upstream → agent pacing: every upstream waits while the agent's side is full.
  let upstreamsPaused = false;
  const paceUpstreams = () => {
    if (upstreamsPaused || agent.buffered() <= HIGH_WATER) return;
    upstreamsPaused = true;
    const live = () => [...pairs.values()].flatMap((p) => (p.upstream ? [p.upstream.socket] : []));
    live().forEach((u) => u.pause());
    const t = setInterval(() => {
      if (agent.buffered() < LOW_WATER || agent.closed.aborted) {
        clearInterval(t);
        upstreamsPaused = false;
        live().forEach((u) => u.resume());
      }
    }, 10);
  };
  // Agent → upstream pacing: the agent's connection waits while one upstream is full (or a pair is still undecided past its allowance).
  let agentPaused = false;
  const paceAgent = (full: () => boolean) => {
    if (agentPaused || !full()) return;
    agentPaused = true;
    agent.pause();
    const t = setInterval(() => {
      if (!full() || agent.closed.aborted) {
        clearInterval(t);
        agentPaused = false;
        agent.resume();
      }
    }, 10);
  };

  const endPair = (p: Pair) => {
    if (p.ended) return;
    p.ended = true;
    clearTimeout(p.grace);
    pairs.delete(p.requestId);
    for (const id of [p.dataStream, p.errorStream]) if (id !== undefined) sendData(id, Buffer.alloc(0), true);
    for (const id of [p.dataStream, p.errorStream]) if (id !== undefined) streams.delete(id);
    const u = p.upstream?.socket;
    if (u && u.readyState === WebSocket.OPEN) u.close(1000);
    else u?.terminate();
  };
  /** What the kubelet does with an error: the message on the error stream, then both streams end. */
  const failPair = (p: Pair, message: string) => {
    if (p.errorStream !== undefined) sendData(p.errorStream, Buffer.from(message, 'utf8'));
    endPair(p);
  };

  const decidePort = (port: number): PortState => {
    let st = ports.get(port);
    if (st) return st;
    const decided = decideStreaming(ctx, {
      text: `port-forward ${namespace}/${name}:${port}`,
      class: 'write',
      reasons: [],
      request: { action: 'k8s_portforward', context: { namespace, pod: name, port }, shape: `k8s-portforward:${namespace}/${name}:${port}` },
      types: ['k8s.portforward', `k8s.portforward.spdy.${via}`],
      functions: [],
      tables: [`${namespace}/${name}:${port}`],
      // The error stream cannot carry a notice: kubectl treats anything on it as the connection's failure.
      waiting: { signal: agent.closed },
    });
    st = { decided, connections: 0, failures: 0, bytesIn: 0, bytesOut: 0, received: new ResponseCapture(0) };
    ports.set(port, st);
    return st;
  };

  async function forward(p: Pair): Promise<void> {
    const st = decidePort(p.port);
    const d = await st.decided;
    if (agent.closed.aborted || p.ended) return;
    if (!d.allowed) return failPair(p, d.message ?? 'airlock: refused');
    st.connections++;
    let up: Upstream;
    try {
      up = await openUpstream(ctx.upstream, subresourcePath(namespace, name, 'portforward'), portsQuery([p.port]), ch.V4, ctx.requestId);
    } catch (err) {
      st.failures++;
      st.lastError = `airlock: ${(err as Error).message}`;
      return failPair(p, st.lastError);
    }
    if (agent.closed.aborted || p.ended) return void up.socket.terminate();
    p.upstream = up;
    const scrub = [new StreamScrubber(ctx.upstream.revealing), new StreamScrubber(ctx.upstream.revealing)] as const;
    const prefix = [2, 2];
    up.onMessage((data: RawData, isBinary: boolean) => {
      if (!isBinary) return;
      const f = ch.parseFrame(toBuffer(data));
      if (!f || f.channel > 1) return;
      let body = f.data;
      if (prefix[f.channel]! > 0) {
        const cut = Math.min(prefix[f.channel]!, body.length);
        prefix[f.channel]! -= cut;
        body = body.subarray(cut);
      }
      const clean = scrub[f.channel]!.push(body);
      if (clean.length === 0) return;
      if (f.channel === 0) {
        st.bytesOut += clean.length;
        st.received.add(clean);
        sendData(p.dataStream!, clean);
      } else sendData(p.errorStream!, clean);
      paceUpstreams();
    });
    up.socket.on('close', () => {
      const rest = scrub[0].end();
      if (rest.length) {
        st.bytesOut += rest.length;
        st.received.add(rest);
        sendData(p.dataStream!, rest);
      }
      const err = scrub[1].end();
      if (err.length) sendData(p.errorStream!, err);
      endPair(p);
    });
    up.socket.on('error', () => up.socket.terminate());
    for (const b of p.early.splice(0)) toUpstream(p, b);
    p.earlyBytes = 0;
    if (p.agentDone) p.grace = setTimeout(() => endPair(p), CLOSE_GRACE_MS);
  }

  const toUpstream = (p: Pair, b: Buffer) => {
    const u = p.upstream!.socket;
    if (u.readyState !== WebSocket.OPEN) return;
    ports.get(p.port)!.bytesIn += b.length;
    u.send(ch.frame(0, b));
    paceAgent(() => u.readyState === WebSocket.OPEN && u.bufferedAmount > HIGH_WATER);
  };

  async function onSynStream(f: Extract<spdy.Frame, { kind: 'control' }>): Promise<void> {
    const s = spdy.parseSynStream(f.data);
    // Header blocks share one compression context: each must be decoded, even for a stream refused below.
    const headers = await decoder.decode(s.headerBlock);
    if (goneAway) return;
    if (s.streamId % 2 === 0 || s.streamId <= lastStreamId) return write(spdy.rstStreamFrame(s.streamId, spdy.RST.PROTOCOL_ERROR));
    lastStreamId = s.streamId;
    const checked = checkHeaders(headers);
    if (typeof checked === 'string') {
      await auditRefused(ctx, `port-forward ${namespace}/${name}`, `airlock: ${checked}`);
      return write(spdy.rstStreamFrame(s.streamId, spdy.RST.CANCEL));
    }
    // An old client without requestID: the kubelet's best effort, pairing consecutive stream ids.
    const requestId = spdy.header(headers, 'requestid') || String(checked.type === 'error' ? s.streamId : s.streamId - 2);
    let p = pairs.get(requestId);
    if (!p) {
      const pending = [...pairs.values()].filter((q) => q.dataStream === undefined || q.errorStream === undefined).length;
      if (pending >= MAX_PENDING_PAIRS || pairs.size >= MAX_PAIRS) return write(spdy.rstStreamFrame(s.streamId, spdy.RST.REFUSED_STREAM));
      p = { requestId, port: checked.port, early: [], earlyBytes: 0, agentDone: false, ended: false };
      pairs.set(requestId, p);
    }
    const state: StreamState = { pair: p, type: checked.type, localDone: false };
    streams.set(s.streamId, state);
    write(spdy.synReplyFrame(s.streamId, await encoder.encode(new Map())));
    const slot = checked.type === 'data' ? 'dataStream' : 'errorStream';
    if (p[slot] !== undefined || checked.port !== p.port) {
      const why = p[slot] !== undefined ? `${checked.type} stream already assigned` : `port ${checked.port} differs from the pair's port ${p.port}`;
      if (p.errorStream === undefined && checked.type === 'error') p.errorStream = s.streamId;
      return failPair(p, `error processing stream for request ${requestId}: ${why}`);
    }
    p[slot] = s.streamId;
    if (f.flags & spdy.FLAG_FIN) onAgentFin(state);
    if (p.dataStream !== undefined && p.errorStream !== undefined) {
      void forward(p).catch((err: Error) => {
        ctx.log?.error({ err: err.message }, 'kubernetes port-forward pair failed');
        failPair(p, 'airlock: the port-forward failed');
      });
    }
  }

  const onAgentFin = (s: StreamState) => {
    if (s.type !== 'data') return; // kubectl ends its side of the error stream at once: it only reads it
    const p = s.pair;
    p.agentDone = true;
    if (p.upstream && !p.grace) p.grace = setTimeout(() => endPair(p), CLOSE_GRACE_MS);
  };

  async function onFrame(f: spdy.Frame): Promise<void> {
    if (f.kind === 'data') {
      const s = streams.get(f.streamId);
      if (!s) return; // a stream already ended or reset: spdystream drops such frames too
      if (s.type === 'data' && f.data.length > 0 && !s.pair.agentDone) {
        const p = s.pair;
        if (p.upstream) toUpstream(p, f.data);
        else {
          p.early.push(f.data);
          p.earlyBytes += f.data.length;
          paceAgent(() => !p.upstream && !p.ended && p.earlyBytes > MAX_EARLY_BYTES);
        }
      }
      if (f.flags & spdy.FLAG_FIN) onAgentFin(s);
      return;
    }
    if (f.version !== spdy.VERSION) return void (await fail(`SPDY version ${f.version} is not spoken (only 3)`));
    switch (f.type) {
      case spdy.SYN_STREAM:
        return onSynStream(f);
      case spdy.RST_STREAM: {
        const s = streams.get(spdy.parseRstStream(f.data).streamId);
        if (s) {
          s.localDone = true;
          endPair(s.pair);
        }
        return;
      }
      case spdy.PING:
        return write(spdy.pingFrame(spdy.parsePing(f.data)));
      case spdy.GOAWAY:
        goneAway = true;
        return agent.close();
      case spdy.HEADERS: {
        // Still decoded: the compression context must follow every block.
        await decoder.decode(spdy.parseStreamHeaders(f.data).headerBlock);
        return;
      }
      default:
        return; // SETTINGS, WINDOW_UPDATE (flow control is not spoken), SYN_REPLY to nothing, and unknown types (§2.2)
    }
  }

  // Frames are handled one at a time, in order: header blocks share a compression context, and a
  // data frame must find the stream its SYN_STREAM opened.
  let chain = Promise.resolve();
  agent.onData((b) => {
    ctx.audit.onBytes?.('in', b.length);
    let frames: spdy.Frame[];
    try {
      frames = reader.push(b);
    } catch (err) {
      chain = chain.then(() => fail((err as Error).message));
      return;
    }
    for (const f of frames) {
      chain = chain.then(() => (goneAway && f.kind === 'control' && f.type === spdy.SYN_STREAM ? undefined : onFrame(f))).catch((err: Error) =>
        fail(err instanceof spdy.SpdyProtocolError ? err.message : `the port-forward failed (${err.message})`),
      );
    }
  });

  await new Promise<void>((resolve) => (agent.closed.aborted ? resolve() : agent.closed.addEventListener('abort', () => resolve(), { once: true })));
  for (const p of [...pairs.values()]) endPair(p);
  await chain;
  decoder.close();
  encoder.close();
  for (const st of ports.values()) {
    const d = await st.decided.catch(() => undefined);
    if (!d?.allowed) continue;
    if (st.connections > 0 && st.failures === st.connections) {
      appendOutcome(ctx, d.statementId, started, { status: 'error', bytes: 0, error: { code: 'upstream_unreachable', message: st.lastError ?? 'airlock: the API server could not be reached' } });
    } else {
      appendOutcome(ctx, d.statementId, started, { status: 'ok', bytes: st.bytesOut, response: st.received.finish() });
    }
  }
}
