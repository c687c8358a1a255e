// Captures what the agent received for one statement, bounded by a byte cap: the first bytes are
// kept, everything is hashed and counted, so memory per statement never exceeds the cap.
import { createHash } from 'node:crypto';
import type { CapturedResponse } from './events.js';

export class ResponseCapture {
  private readonly hash = createHash('sha256');
  private readonly kept: Buffer[] = [];
  private keptBytes = 0;
  private totalBytes = 0;
  private totalChunks = 0;
  private allText = true;
  private truncated = false;

  constructor(private readonly capBytes: number) {}

  add(piece: Uint8Array | string): void {
    const bytes = typeof piece === 'string' ? Buffer.from(piece, 'utf8') : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    if (typeof piece !== 'string') this.allText = false;
    this.hash.update(bytes);
    this.totalBytes += bytes.length;
    this.totalChunks++;
    const room = this.capBytes - this.keptBytes;
    if (room <= 0) {
      if (bytes.length > 0) this.truncated = true;
      return;
    }
    const keep = bytes.length <= room ? bytes : bytes.subarray(0, room);
    if (keep.length < bytes.length) this.truncated = true;
    // Copy: the caller may reuse its buffer once we return.
    this.kept.push(Buffer.from(keep));
    this.keptBytes += keep.length;
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
    return {
      chunks,
      encoding,
      truncated: this.truncated,
      sha256: this.hash.digest('hex'),
      totalBytes: this.totalBytes,
      totalChunks: this.totalChunks,
    };
  }
}

/** Decodes captured chunks back to bytes (for replay and export). */
export function capturedBytes(r: CapturedResponse): Buffer {
  if (!r.chunks) return Buffer.alloc(0);
  return Buffer.concat(r.chunks.map((c) => Buffer.from(c, r.encoding === 'base64' ? 'base64' : 'utf8')));
}
