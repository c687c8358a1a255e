// The SSH listener: agents run `ssh <target>@<gateway>` with their access token as the password.
import ssh2 from 'ssh2';
import type { AddressInfo } from 'node:net';
import type { SshGatewayContext } from './context.js';
import { SshSession } from './session.js';

export interface SshListenerOptions {
  host: string;
  port: number;
  /** The gateway's host private keys (PEM or OpenSSH format), contents not paths. */
  hostKeys: (string | Buffer)[];
  authTimeoutMs?: number;
}

export interface RunningSshListener {
  port: number;
  close(): Promise<void>;
}

export async function startSshListener(ctx: SshGatewayContext, opts: SshListenerOptions): Promise<RunningSshListener> {
  const live = new Set<SshSession>();
  const server = new ssh2.Server({ hostKeys: opts.hostKeys, ident: 'Airlock' }, (conn, info) => {
    // As on the upstream leg (upstream.ts): no Nagle delay for small packets. @types/ssh2 leaves
    // out Connection#setNoDelay, which ssh2's server connection has.
    (conn as unknown as { setNoDelay(on: boolean): void }).setNoDelay(true);
    const session = new SshSession(ctx, conn, info, opts.authTimeoutMs ?? 30_000);
    live.add(session);
    conn.on('close', () => live.delete(session));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  ctx.log.info({ host: opts.host, port }, 'ssh listener ready');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of live) s.close('the gateway is shutting down');
        server.close(() => resolve());
      }),
  };
}
