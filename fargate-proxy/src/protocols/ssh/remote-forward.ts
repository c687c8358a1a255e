// Remote port forwarding (`ssh -R`) relayed through the gateway: the target listens (the gateway's
// upstream `tcpip-forward`), and each connection it accepts is carried back to the agent's client as
// a `forwarded-tcpip` channel. Deciding and auditing is the session's job; this module only moves bytes.
import type { AcceptConnection, ClientChannel, Client as UpstreamClient, Connection, RejectConnection, TcpConnectionDetails } from 'ssh2';

/** A listening port on the target, as the agent asked for it and as the target bound it. */
export interface RemoteBinding {
  bindAddr: string;
  /** The port the agent asked for (0: any). */
  requestedPort: number;
  /** The port the target actually listens on. */
  boundPort: number;
}

/** Decides whether one connection the target accepted may reach the agent (e.g. once it is audited). */
export type AdmitRemoteConnection = (binding: RemoteBinding, from: { ip: string; port: number }) => Promise<boolean>;

export class RemoteForwards {
  readonly #bindings = new Map<number, RemoteBinding>();

  constructor(
    private readonly agent: Connection,
    private readonly upstream: UpstreamClient,
    private readonly admit: AdmitRemoteConnection,
  ) {
    upstream.on('tcp connection', (details, accept, reject) => void this.#connection(details, accept, reject));
  }

  /** Asks the target to listen; resolves with the port it bound. */
  listen(bindAddr: string, bindPort: number): Promise<RemoteBinding> {
    return new Promise((resolve, reject) =>
      this.upstream.forwardIn(bindAddr, bindPort, (err, port) => {
        if (err) return reject(new Error(err.message));
        // ssh2 reports the port only when the server chose it.
        const binding = { bindAddr, requestedPort: bindPort, boundPort: bindPort || port };
        this.#bindings.set(binding.boundPort, binding);
        resolve(binding);
      }),
    );
  }

  /** Stops the target listening; the agent names the binding by the address and port it asked for. */
  cancel(bindAddr: string, bindPort: number): Promise<boolean> {
    const binding = [...this.#bindings.values()].find((b) => b.bindAddr === bindAddr && (b.requestedPort === bindPort || b.boundPort === bindPort));
    if (!binding) return Promise.resolve(false);
    this.#bindings.delete(binding.boundPort);
    return new Promise((resolve) => {
      try {
        this.upstream.unforwardIn(binding.bindAddr, binding.boundPort, (err) => resolve(!err));
      } catch {
        // ssh2 throws "Not connected" when the target's connection is already gone: nothing listens any more.
        resolve(false);
      }
    });
  }

  async #connection(details: TcpConnectionDetails, accept: AcceptConnection<ClientChannel>, reject: RejectConnection): Promise<void> {
    // The target names the binding by its port; its address string is not always the one requested.
    const binding = this.#bindings.get(details.destPort);
    if (!binding) return reject();
    let admitted = false;
    try {
      admitted = await this.admit(binding, { ip: details.srcIP, port: details.srcPort });
    } catch {
      admitted = false;
    }
    if (!admitted) return reject();
    this.agent.forwardOut(binding.bindAddr, binding.boundPort, details.srcIP, details.srcPort, (err, agentSide) => {
      if (err) return reject();
      const targetSide = accept();
      targetSide.pipe(agentSide).pipe(targetSide);
    });
  }
}
