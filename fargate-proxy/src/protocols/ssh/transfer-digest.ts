// SHA-256 and size of the bytes of one file transfer, in file order. SFTP clients pipeline reads
// and writes and retry short reads, so pieces can arrive out of order: a bounded reorder buffer
// puts them back in sequence. Overlaps, gaps left at the end or a full buffer make the digest
// "not sequential" rather than wrong.
import { createHash } from 'node:crypto';

const DEFAULT_REORDER_BYTES = 8 * 1024 * 1024;

export interface TransferDigest {
  /** Hex SHA-256 of bytes 0..size, or undefined when the transfer was not one sequential pass. */
  sha256: string | undefined;
  /** Bytes that went through (all of them, sequential or not). */
  bytes: number;
  pieces: number;
}

export class OrderedDigest {
  readonly #hash = createHash('sha256');
  readonly #pending = new Map<number, Buffer>();
  #pendingBytes = 0;
  #next = 0;
  #bytes = 0;
  #pieces = 0;
  #sequential = true;

  constructor(private readonly reorderBytes = DEFAULT_REORDER_BYTES) {}

  add(offset: number, data: Buffer): void {
    this.#bytes += data.length;
    this.#pieces++;
    if (!this.#sequential || data.length === 0) return;
    if (offset < this.#next || this.#pending.has(offset)) return this.#giveUp();
    if (offset > this.#next) {
      if (this.#pendingBytes + data.length > this.reorderBytes) return this.#giveUp();
      this.#pending.set(offset, Buffer.from(data));
      this.#pendingBytes += data.length;
      return;
    }
    this.#take(data);
    for (let piece = this.#pending.get(this.#next); piece; piece = this.#pending.get(this.#next)) {
      this.#pending.delete(this.#next);
      this.#pendingBytes -= piece.length;
      this.#take(piece);
    }
  }

  finish(): TransferDigest {
    const sequential = this.#sequential && this.#pending.size === 0;
    return { sha256: sequential ? this.#hash.digest('hex') : undefined, bytes: this.#bytes, pieces: this.#pieces };
  }

  #take(data: Buffer): void {
    this.#hash.update(data);
    this.#next += data.length;
  }

  #giveUp(): void {
    this.#sequential = false;
    this.#pending.clear();
    this.#pendingBytes = 0;
  }
}
