// How the gateway closes a client connection it refused. A client in the middle of writing a large
// message (one over the size limit) reads the gateway's FATAL only once its write is done, so the
// gateway reads and discards the rest of that message before it closes its side: libpq that sees
// the end of the connection while still writing reports "server closed the connection
// unexpectedly" and drops the FATAL it had not parsed yet, and closing a socket with unread bytes
// makes the kernel reset the connection, which throws the FATAL away altogether.
import type net from 'node:net';

/** How long, and how much, a refused client may keep sending before the connection is cut. */
export const DRAIN_LIMITS = { ms: 1000, msWhileMessageArrives: 10_000, bytes: 256 * 1024 * 1024 };

/**
 * Sends `last`, discards the `unreceived` bytes of a message still arriving, then ends the socket
 * and keeps discarding until the client closes; destroys it when DRAIN_LIMITS run out. The caller
 * must have stopped handling the socket's data.
 */
export function endAndDrain(socket: net.Socket, last?: Buffer, unreceived = 0): void {
  if (socket.destroyed) return;
  let drained = 0;
  let ended = false;
  const end = (): void => {
    ended = true;
    socket.end();
  };
  const cut = setTimeout(() => socket.destroy(), unreceived > 0 ? DRAIN_LIMITS.msWhileMessageArrives : DRAIN_LIMITS.ms);
  cut.unref();
  socket.on('data', (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > DRAIN_LIMITS.bytes) socket.destroy();
    else if (!ended && drained >= unreceived) end();
  });
  // A client that stops sending (half-close) gets the end at once.
  socket.once('end', () => ended || end());
  socket.on('error', () => socket.destroy());
  socket.once('close', () => clearTimeout(cut));
  if (last) socket.write(last);
  socket.resume();
  if (unreceived <= 0) end();
}
