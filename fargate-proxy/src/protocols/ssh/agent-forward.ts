// Agent forwarding through the gateway. The target reaches the agent's ssh-agent by opening
// `auth-agent@openssh.com` channels on the gateway's upstream connection; each one is bridged to a
// channel of the same type opened to the agent's own ssh client, so keys never leave the agent's
// machine and the gateway sees only the agent protocol going by.
//
// ssh2 has no public call for either half: its server can send the channel-open but has no method
// for it, and its client accepts the target's agent channels only for an agent given at connect
// time (which it would also try to log in with). Both are reached here, and only here.
import ssh2, { type Client, type Connection } from 'ssh2';
import type { Duplex } from 'node:stream';

// ssh2's window and packet sizes for channels it opens itself (lib/Channel.js).
const MAX_WINDOW = 2 * 1024 * 1024;
const PACKET_SIZE = 32 * 1024;

type StreamCallback = (err: Error | undefined, stream?: Duplex) => void;

interface ServerConnectionInternals {
  _chanMgr: { add(handler: unknown): number };
  _protocol: { openssh_authAgent(localChannel: number, window: number, packetSize: number): void };
}

/** Opens an `auth-agent@openssh.com` channel to the agent's client (which must have sent `auth-agent-req`). */
export function openAgentChannel(conn: Connection, cb: StreamCallback): void {
  const internals = conn as unknown as ServerConnectionInternals;
  // ssh2 resolves a pending channel-open by calling the handler registered under its local id.
  const handler = Object.assign((err: Error | undefined, stream?: Duplex) => cb(err, stream), { type: 'auth-agent@openssh.com' });
  const localChannel = internals._chanMgr.add(handler);
  if (localChannel === -1) return cb(new Error('no free channels towards the agent'));
  internals._protocol.openssh_authAgent(localChannel, MAX_WINDOW, PACKET_SIZE);
}

/** An agent that is only a pipe to the client's agent: it holds no keys and signs nothing itself. */
class BridgedAgent extends ssh2.BaseAgent {
  constructor(private readonly open: (cb: StreamCallback) => void) {
    super();
  }
  getIdentities(cb: (err: Error | undefined) => void): void {
    cb(new Error('the forwarded agent is not used by the gateway'));
  }
  sign(_key: unknown, _data: Buffer, options: unknown, cb?: (err: Error | undefined) => void): void {
    (typeof options === 'function' ? (options as (err: Error) => void) : cb)?.(new Error('the forwarded agent is not used by the gateway'));
  }
  override getStream(cb: StreamCallback): void {
    this.open(cb);
  }
}

/**
 * Lets the upstream connection accept the target's agent channels from now on (after login, so
 * the agent's keys are never offered to the target as the gateway's credential); `open` is called
 * for each channel the target opens and must yield the stream towards the agent, or an error.
 */
export function bridgeAgentChannels(upstream: Client, open: (cb: StreamCallback) => void): void {
  const client = upstream as unknown as { _agent?: unknown };
  if (client._agent === undefined) client._agent = new BridgedAgent(open);
}
