// What goes to the client: the upstream's answers as read, and the gateway's own messages
// (refusals, notices, ReadyForQuery) queued to follow every answer already due from the upstream.
import type net from 'node:net';
import { readyForQuery, type TransactionStatus } from './backend.js';

/** Buffers going to one socket together are joined below this size: one plain write beats a writev. */
const JOIN_BELOW_BYTES = 16 * 1024;

/** Writes buffers back to back: joined into one when small, corked into one writev otherwise. */
export function writeTogether(socket: net.Socket, bufs: Buffer[], write: (b: Buffer) => void): void {
  if (bufs.length <= 1) {
    if (bufs[0]) write(bufs[0]);
    return;
  }
  let total = 0;
  for (const b of bufs) total += b.length;
  if (total < JOIN_BELOW_BYTES) return write(Buffer.concat(bufs, total));
  socket.cork();
  for (const b of bufs) write(b);
  socket.uncork();
}

export class ClientOutput {
  bytesOut = 0;
  /** The gateway's own messages, each due once `zTarget` ReadyForQuery have come from the upstream. */
  #queue: { zTarget: number; buf: Buffer | undefined; z: boolean }[] = [];
  #slices: Buffer[] | undefined; // set while a chunk from upstream is being scanned

  constructor(private readonly client: net.Socket) {}

  /** Queues a message (and/or a ReadyForQuery) to go once `zTarget` answers have been received. */
  enqueue(zTarget: number, buf: Buffer | undefined, z: boolean): void {
    this.#queue.push({ zTarget, buf, z });
  }

  /** Whether a queued message is due once `zReceived` answers have been received. */
  due(zReceived: number): boolean {
    const head = this.#queue[0];
    return head !== undefined && head.zTarget <= zReceived;
  }

  /** Sends every queued message that is due; a ReadyForQuery of its own carries `txStatus`. */
  flush(zReceived: number, txStatus: TransactionStatus): void {
    while (this.#queue[0] && this.#queue[0].zTarget <= zReceived) {
      const item = this.#queue.shift()!;
      if (item.buf) this.#emit(item.buf);
      if (item.z) this.#emit(readyForQuery(txStatus));
    }
  }

  /**
   * Relays one chunk from the upstream: `scan` emits its messages (and the gateway's own, through
   * `flush`) into one list, written together.
   */
  relay(scan: (emit: Buffer[]) => void): void {
    const slices: Buffer[] = [];
    this.#slices = slices;
    try {
      scan(slices);
    } finally {
      this.#slices = undefined;
    }
    writeTogether(this.client, slices, (b) => this.write(b));
  }

  #emit(buf: Buffer): void {
    if (this.#slices) this.#slices.push(buf);
    else this.write(buf);
  }

  write(buf: Buffer): void {
    if (this.client.destroyed) return;
    this.bytesOut += buf.length;
    this.client.write(buf);
  }
}
