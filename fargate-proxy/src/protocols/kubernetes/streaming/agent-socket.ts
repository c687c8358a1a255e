// The agent's end of an exec/attach/portforward WebSocket, as both sessions use it: binary frames
// counted into the audit session; frames that arrive before the upstream is open (and decided) kept
// — bounded, the socket paused past the bound — then handed over in order; channel frames sent out.
import WebSocket, { type RawData } from 'ws';
import * as ch from './channel.js';
import type { StreamingContext } from './contract.js';

/** What an agent may send before its upstream is open; past it the agent's socket is paused. */
const MAX_EARLY_BYTES = 1024 * 1024;

export const toBuffer = (d: RawData): Buffer => (Buffer.isBuffer(d) ? d : Array.isArray(d) ? Buffer.concat(d) : Buffer.from(d));

export interface AgentSocket {
  /** Aborted when the agent's socket closes. */
  readonly closed: AbortSignal;
  send(channel: number, data: Buffer | string): void;
  /** From now on frames go to `handler`: those that came earlier first, then the socket resumes. */
  deliverTo(handler: (m: Buffer) => void): void;
}

export function agentSocket(ctx: StreamingContext, agent: WebSocket): AgentSocket {
  const early: Buffer[] = [];
  let earlyBytes = 0;
  let onFrame: ((m: Buffer) => void) | undefined;
  const closed = new AbortController();
  agent.on('message', (data: RawData, isBinary: boolean) => {
    if (!isBinary) return; // base64 protocols are not offered: text frames carry nothing of ours
    const m = toBuffer(data);
    ctx.audit.onBytes?.('in', m.length);
    if (onFrame) return onFrame(m);
    early.push(m);
    earlyBytes += m.length;
    if (earlyBytes > MAX_EARLY_BYTES) agent.pause();
  });
  agent.on('close', () => closed.abort());
  agent.on('error', () => agent.terminate());
  return {
    closed: closed.signal,
    send(channel, data) {
      if (agent.readyState !== WebSocket.OPEN) return;
      const f = ch.frame(channel, data);
      ctx.audit.onBytes?.('out', f.length);
      agent.send(f);
    },
    deliverTo(handler) {
      onFrame = handler;
      for (const m of early.splice(0)) handler(m);
      agent.resume();
    },
  };
}
