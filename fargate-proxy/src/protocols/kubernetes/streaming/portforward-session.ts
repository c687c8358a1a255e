// One port-forward over WebSocket (the kubelet's channel protocol, as @kubernetes/client-node and
// other WebSocket clients speak it), decided port by port: the agent gets its channels for every
// port it asked for, a refused port's error channel says why and its data goes nowhere, and the
// gateway's upstream socket carries only the allowed ports (channels renumbered in between).
// Forwarded bytes are application data: they are not masked (that would corrupt them) but the
// upstream credential is scrubbed from what comes back, counted and hashed into the outcome.
import WebSocket, { type RawData } from 'ws';
import { ResponseCapture } from '../../../../../core/audit/response-capture.js';
import { StreamScrubber } from '../../http/credential.js';
import { agentSocket, toBuffer } from './agent-socket.js';
import * as ch from './channel.js';
import type { StreamingContext } from './contract.js';
import { decideStreaming } from './decide.js';
import { appendOutcome } from './exec-session.js';
import { portsQuery, subresourcePath } from './request.js';
import { openUpstream, pace, sendable, type Upstream } from './upstream.js';

interface Forwarded {
  port: number;
  /** Index among the upstream's ports. */
  upstreamIndex: number;
  statementId: string;
  bytesIn: number;
  bytesOut: number;
  received: ResponseCapture;
  scrub: [StreamScrubber, StreamScrubber];
  /** The upstream's port prefix still to strip, per channel (data, error). */
  prefix: [number, number];
}

export async function runPortForward(ctx: StreamingContext, agent: WebSocket, protocol: string, ports: number[]): Promise<void> {
  const started = Date.now();
  const sock = agentSocket(ctx, agent);
  const send = sock.send;

  // Every channel starts with its port, as the kubelet's do.
  ports.forEach((port, k) => {
    send(2 * k, ch.portPrefix(port));
    send(2 * k + 1, ch.portPrefix(port));
  });

  const forwarded = new Map<number, Forwarded>(); // by the agent's port index
  const { namespace, name } = ctx.attributes;
  for (const [k, port] of ports.entries()) {
    const d = await decideStreaming(ctx, {
      text: `port-forward ${namespace}/${name}:${port}`,
      class: 'write',
      reasons: [],
      request: { action: 'k8s_portforward', context: { namespace, pod: name, port }, shape: `k8s-portforward:${namespace}/${name}:${port}` },
      types: ['k8s.portforward'],
      functions: [],
      tables: [`${namespace}/${name}:${port}`],
      waiting: { notify: (line) => send(2 * k + 1, `${line}\n`), signal: sock.closed },
    });
    if (sock.closed.aborted) return;
    if (!d.allowed) {
      send(2 * k + 1, d.message ?? 'airlock: refused');
      continue;
    }
    forwarded.set(k, {
      port, upstreamIndex: forwarded.size, statementId: d.statementId, bytesIn: 0, bytesOut: 0,
      received: new ResponseCapture(0),
      scrub: [new StreamScrubber(ctx.upstream.revealing), new StreamScrubber(ctx.upstream.revealing)],
      prefix: [2, 2],
    });
  }
  if (forwarded.size === 0) {
    if (agent.readyState === WebSocket.OPEN) agent.close(1000, 'no port was allowed');
    return;
  }

  const allowed = [...forwarded.values()];
  let up: Upstream;
  try {
    up = await openUpstream(ctx.upstream, subresourcePath(namespace, name, 'portforward'), portsQuery(allowed.map((f) => f.port)), protocol, ctx.requestId);
  } catch (err) {
    const message = `airlock: ${(err as Error).message}`;
    for (const [k, f] of forwarded) {
      send(2 * k + 1, message);
      appendOutcome(ctx, f.statementId, started, { status: 'error', bytes: 0, error: { code: 'upstream_unreachable', message } });
    }
    if (agent.readyState === WebSocket.OPEN) agent.close(1011, 'the API server could not be reached');
    return;
  }
  const upstream = up.socket;
  if (sock.closed.aborted) return void upstream.terminate();

  const agentIndex = new Map(allowed.map((f) => [f.upstreamIndex, [...forwarded.entries()].find(([, g]) => g === f)![0]]));
  sock.deliverTo((m) => {
    const f = ch.parseFrame(m);
    if (!f || f.channel % 2 === 1) return; // a client writes data channels only
    const fw = forwarded.get(f.channel / 2);
    if (!fw) return; // a refused port (or none of the request's): nowhere to go
    fw.bytesIn += f.data.length;
    if (upstream.readyState === WebSocket.OPEN) upstream.send(ch.frame(2 * fw.upstreamIndex, f.data));
  });
  pace(upstream, agent);
  pace(agent, upstream);

  up.onMessage((data: RawData, isBinary: boolean) => {
    if (!isBinary) return;
    const f = ch.parseFrame(toBuffer(data));
    if (!f) return;
    const k = agentIndex.get(f.channel >> 1);
    if (k === undefined) return;
    const fw = forwarded.get(k)!;
    const which = (f.channel & 1) as 0 | 1;
    let body = f.data;
    if (fw.prefix[which] > 0) {
      const cut = Math.min(fw.prefix[which], body.length);
      fw.prefix[which] -= cut;
      body = body.subarray(cut);
    }
    const clean = fw.scrub[which].push(body);
    if (clean.length === 0) return;
    if (which === 0) {
      fw.bytesOut += clean.length;
      fw.received.add(clean);
    }
    send(2 * k + which, clean);
  });

  await new Promise<void>((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      for (const [k, fw] of forwarded) {
        const rest = fw.scrub[0].end();
        if (rest.length) {
          fw.bytesOut += rest.length;
          fw.received.add(rest);
          send(2 * k, rest);
        }
        const err = fw.scrub[1].end();
        if (err.length) send(2 * k + 1, err);
      }
      resolve();
    };
    upstream.on('close', (code) => {
      finish();
      if (agent.readyState === WebSocket.OPEN) agent.close(sendable(code));
    });
    agent.on('close', (code) => {
      finish();
      if (upstream.readyState === WebSocket.OPEN) upstream.close(sendable(code));
      else upstream.terminate();
    });
    upstream.on('error', () => agent.terminate());
  });
  for (const fw of forwarded.values()) {
    appendOutcome(ctx, fw.statementId, started, { status: 'ok', bytes: fw.bytesOut, response: fw.received.finish() });
  }
}
