// A CancelRequest for a session another task holds goes to that task over the private network, as
// the same 16-byte CancelRequest a client would send (protocol 3.0, "Canceling Requests in
// Progress"). The owner applies it as its own; the secret is checked there and nowhere else.
import net from 'node:net';
import type { Logger } from 'pino';
import type { FleetMembership } from '../../ports/fleet.js';
import { fleetTagOf } from './cancel-registry.js';

const CANCEL_REQUEST_CODE = 80877102;
const FORWARD_TIMEOUT_MS = 5000;

export function cancelRequest(processId: number, secretKey: Buffer): Buffer {
  const header = Buffer.alloc(12);
  header.writeInt32BE(12 + secretKey.length, 0);
  header.writeInt32BE(CANCEL_REQUEST_CODE, 4);
  header.writeInt32BE(processId, 8);
  return Buffer.concat([header, secretKey]);
}

/** Resolves when the cancel was handed to the owning task, or dropped (no such task; unreachable). */
export async function forwardCancel(fleet: FleetMembership, processId: number, secretKey: Buffer, log: Logger): Promise<void> {
  const tag = fleetTagOf(processId);
  let owner;
  try {
    owner = await fleet.postgresEndpointOf(tag);
  } catch (err) {
    log.warn({ tag, error: (err as Error).message }, 'cancel not forwarded: the fleet registry is unreachable');
    return;
  }
  // No live task holds the tag: its sessions ended with it, and there is nothing to cancel.
  if (!owner) return log.debug({ tag }, 'cancel for a task that is not in the fleet; dropped');
  await new Promise<void>((resolve) => {
    const socket = net.connect(owner, () => socket.end(cancelRequest(processId, secretKey)));
    socket.setTimeout(FORWARD_TIMEOUT_MS, () => socket.destroy());
    socket.on('close', () => resolve());
    socket.on('error', (err) => {
      log.warn({ tag, owner: `${owner.host}:${owner.port}`, error: err.message }, 'cancel not forwarded: the owning task is unreachable');
      resolve();
    });
  });
  log.debug({ tag }, 'cancel forwarded to the owning task');
}
