// Captures what the agent received for one statement, bounded by a byte cap: the first bytes are
// kept, everything is hashed and counted, so memory per statement never exceeds the cap.
import { createHash, type Hash } from 'node:crypto';
import { sha256Hex } from './chain.js';
import type { CapturedResponse } from './events.js';
import { joinedView } from '../bytes.js';

export class ResponseCapture {
  /** Created only once bytes go unkept: until then the kept bytes are hashed in one go at the end. */
  private hash: Hash | undefined;
  private readonly kept: Buffer[] = [];
  /** The last kept buffer is the caller's own memory (addOwned), not a copy: a piece continuing it may extend it. */
  private lastOwned = false;
  private keptBytes = 0;
  private totalBytes = 0;
  private totalChunks = 0;
  private allText = true;
  private truncated = false;

  constructor(private readonly capBytes: number) {}

  add(piece: Uint8Array | string): void {
    const bytes = typeof piece === 'string' ? Buffer.from(piece, 'utf8') : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    if (typeof piece !== 'string') this.allText = false;
    // Copy: the caller may reuse its buffer once we return.
    this.#take(bytes, true);
  }

  /**
   * Like `add`, for bytes nobody will write to again (a socket read, a freshly built message): they
   * are kept as they are, not copied.
   */
  addOwned(bytes: Buffer): void {
    this.allText = false;
    this.#take(bytes, false);
  }

  #take(bytes: Buffer, copy: boolean): void {
    this.totalBytes += bytes.length;
    this.totalChunks++;
    const room = this.capBytes - this.keptBytes;
    if (room > 0 && bytes.length <= room) {
      this.#keep(bytes, copy);
      return;
    }
    // Past the cap (it stays reached from here on): hash what was kept, then every piece as it comes.
    if (!this.hash) {
      this.hash = createHash('sha256');
      for (const k of this.kept) this.hash.update(k);
    }
    this.hash.update(bytes);
    const keep = bytes.subarray(0, Math.max(room, 0));
    if (keep.length < bytes.length) this.truncated = true;
    if (keep.length > 0) this.#keep(keep, copy);
  }

  /**
   * Messages relayed from one socket read arrive as adjacent views of it: kept as one view, they
   * are encoded as one chunk. Only the caller's own memory is extended, never a copy of ours.
   */
  #keep(bytes: Buffer, copy: boolean): void {
    this.keptBytes += bytes.length;
    const last = this.kept.length - 1;
    const joined = !copy && this.lastOwned && last >= 0 ? joinedView(this.kept[last]!, bytes) : undefined;
    if (joined) this.kept[last] = joined;
    else this.kept.push(copy ? Buffer.from(bytes) : bytes);
    this.lastOwned = !copy;
  }

  finish(): CapturedResponse {
    const encoding = this.allText ? 'utf8' : 'base64';
    const chunks =
      this.capBytes === 0
        ? undefined
        : this.allText
          ? // A cut may split a multi-byte character: decode the kept bytes as one to lose at most that one.
            this.kept.length === 0 ? [] : [Buffer.concat(this.kept).toString('utf8')]
          : this.kept.map((b) => b.toString('base64'));
    // Keys in sorted order: the audit renders it without a sorted copy (chain.ts).
    return {
      chunks,
      encoding,
      sha256: this.hash ? this.hash.digest('hex') : sha256Hex(this.kept.length === 1 ? this.kept[0]! : Buffer.concat(this.kept)),
      totalBytes: this.totalBytes,
      totalChunks: this.totalChunks,
      truncated: this.truncated,
    };
  }
}

/** Decodes captured chunks back to bytes (for replay and export). */
export function capturedBytes(r: CapturedResponse): Buffer {
  if (!r.chunks) return Buffer.alloc(0);
  return Buffer.concat(r.chunks.map((c) => Buffer.from(c, r.encoding === 'base64' ? 'base64' : 'utf8')));
}
