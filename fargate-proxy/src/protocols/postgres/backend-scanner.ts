// Walks the upstream byte stream by message headers so most messages are relayed as the bytes they
// arrived in, without being copied or decoded. The caller chooses per message type whether to
// pass it through untouched, peek at its body while passing it, hold it whole to replace it, or
// rewrite it in place: read where it lies in the socket read and, only when it changes, written
// into a slab shared by every rewritten message of the read.
import { MalformedMessageError } from './framer.js';
import { RewriteSlab } from './rewrite-slab.js';

export type ScanAction = 'pass' | 'peek' | 'hold' | 'rewrite';

export interface ScanHandler {
  /** Called at each message header. */
  action(type: number, length: number): ScanAction;
  /** Called when a 'peek' or 'hold' message is complete. For 'hold', the return value is sent instead (undefined: nothing). */
  message(type: number, body: Buffer, raw: Buffer | undefined): Buffer | undefined;
  /**
   * Called for a 'rewrite' message, whole at buf[start, end) (header included). Returns false to
   * send it as it arrived, true when its replacement was written as the last allocation of `slab`.
   */
  rewrite?(type: number, buf: Buffer, start: number, end: number, slab: RewriteSlab): boolean;
  /** True while the caller has output of its own waiting for a message boundary; `boundary()` is then called after each message. */
  readonly wantsBoundary: boolean;
  boundary(): void;
}

export class BackendScanner {
  #header = Buffer.alloc(5);
  #headerFill = 0;
  #remaining = 0;
  #type = 0;
  #action: ScanAction = 'pass';
  #body: Buffer[] = [];
  #bodyLength = 0;
  /** Where the current message's header starts in the chunk being scanned; -1 when it began in an earlier chunk. */
  #start = -1;
  readonly #slab = new RewriteSlab();
  /** Where the scan call in progress sends its output. */
  #out: (b: Buffer) => void = () => undefined;

  get atBoundary(): boolean {
    return this.#headerFill === 0 && this.#remaining === 0;
  }

  /** A held message was handed over during the last scan. */
  #handedOver = false;

  /**
   * Whether the last scanned chunk's bytes may still be referenced by this scanner or its handler
   * (a held message handed over as views; part of a message continuing in the next chunk). When
   * false, nothing but the views given to `out` refers to them.
   */
  get keepsChunk(): boolean {
    return this.#handedOver || this.#body.length > 0;
  }

  /**
   * Scans one chunk and returns the slices to send downstream, in order. `out` receives views into
   * the chunk for passed-through bytes and replacement buffers for held or rewritten messages.
   */
  scan(chunk: Buffer, h: ScanHandler, out: (b: Buffer) => void): void {
    this.#out = out;
    this.#handedOver = false;
    let pos = 0;
    // Start of the current run of bytes to pass through untouched; -1 while inside a held message
    // (which may have begun in an earlier chunk).
    let passFrom = this.#remaining > 0 && this.#action === 'hold' ? -1 : 0;
    const n = chunk.length;
    while (pos < n) {
      if (this.#remaining === 0 && this.#headerFill < 5) {
        const headerStart = pos;
        let take: number;
        let length: number;
        if (this.#headerFill === 0 && n - pos >= 5) {
          // The whole header is in this chunk (the usual case): read in place.
          take = 5;
          this.#type = chunk[pos]!;
          length = chunk.readInt32BE(pos + 1);
        } else {
          take = Math.min(5 - this.#headerFill, n - pos);
          chunk.copy(this.#header, this.#headerFill, pos, pos + take);
          this.#headerFill += take;
          if (this.#headerFill < 5) {
            // Header straddles chunks: pass its bytes now unless it turns out to be held — decided next chunk.
            // To keep that decision possible, stop passing here and keep the partial header back.
            if (headerStart > passFrom) this.#emit(chunk.subarray(passFrom, headerStart));
            passFrom = n;
            pos += take;
            break;
          }
          this.#type = this.#header[0]!;
          length = this.#header.readInt32BE(1);
        }
        pos += take;
        if (length < 4) throw new MalformedMessageError(`invalid message length ${length}`);
        this.#remaining = length - 4;
        let action = h.action(this.#type, length);
        const headerInChunk = take === 5; // whole header came from this chunk
        if (action === 'rewrite') {
          if (headerInChunk && this.#remaining <= n - pos) {
            // The whole message is in this chunk: read it where it lies.
            const end = pos + this.#remaining;
            this.#remaining = 0;
            this.#headerFill = 0;
            pos = end;
            if (h.rewrite!(this.#type, chunk, headerStart, end, this.#slab)) {
              // Rewritten messages before this one, the bytes passed since, then this one (left
              // pending, so a run of rewritten messages leaves as one view).
              if (headerStart > passFrom) {
                this.#slab.flushBeforeLast(out);
                out(chunk.subarray(passFrom, headerStart));
              }
              passFrom = end;
            }
            if (h.wantsBoundary) passFrom = this.#boundary(chunk, pos, passFrom, h);
            continue;
          }
          // Split across reads: held, then rewritten once whole.
          action = 'hold';
          this.#rewriting = true;
        }
        this.#action = action;
        this.#start = headerInChunk ? headerStart : -1;
        if (action === 'hold') {
          if (headerStart > passFrom) this.#emit(chunk.subarray(passFrom, headerStart));
          passFrom = -1; // nothing passes until the held message is complete
        } else if (!headerInChunk) {
          // The header began in an earlier chunk and was kept back: send it now, then pass from here.
          if (headerStart > passFrom) this.#emit(chunk.subarray(passFrom, headerStart));
          this.#emit(Buffer.from(this.#header));
          passFrom = pos;
        }
        this.#body = [];
        this.#bodyLength = 0;
        if (this.#remaining === 0) {
          passFrom = this.#complete(chunk, pos, passFrom, h);
          continue;
        }
      }
      const take = Math.min(this.#remaining, n - pos);
      if (this.#action !== 'pass') {
        this.#body.push(chunk.subarray(pos, pos + take));
        this.#bodyLength += take;
      }
      pos += take;
      this.#remaining -= take;
      if (this.#remaining === 0) passFrom = this.#complete(chunk, pos, passFrom, h);
    }
    // passFrom < 0: mid-way through a held message, whose bytes are in #body already.
    if (passFrom >= 0 && passFrom < n) this.#emit(chunk.subarray(passFrom, n));
    this.#slab.flush(out);
    this.#slab.release();
    // A message still incomplete continues in the next chunk: its start is not an offset there.
    this.#start = -1;
  }

  /** A 'rewrite' message held across reads: rewritten once whole. */
  #rewriting = false;

  /** Sends a view or buffer, after whatever rewritten messages precede it. */
  #emit(b: Buffer): void {
    if (this.#slab.pending) this.#slab.flush(this.#out);
    this.#out(b);
  }

  /** Finishes the current message; returns where passing-through resumes in the chunk. */
  #complete(chunk: Buffer, pos: number, passFrom: number, h: ScanHandler): number {
    const type = this.#type;
    const action = this.#action;
    this.#headerFill = 0;
    if (action !== 'pass') {
      // Views into socket chunks are safe to keep: every read is a buffer of its own.
      const body = this.#body.length === 1 ? this.#body[0]! : Buffer.concat(this.#body, this.#bodyLength);
      if (action === 'hold') {
        let raw: Buffer;
        if (this.#start >= 0) raw = chunk.subarray(this.#start, pos); // the whole message is in this chunk: a view, no copy
        else {
          raw = Buffer.allocUnsafe(5 + body.length);
          raw[0] = type;
          raw.writeInt32BE(body.length + 4, 1);
          body.copy(raw, 5);
        }
        if (this.#rewriting) {
          this.#rewriting = false;
          if (!h.rewrite!(type, raw, 0, raw.length, this.#slab)) this.#emit(raw);
        } else {
          if (this.#slab.pending) this.#slab.flush(this.#out); // the handler may emit output of its own
          this.#handedOver = true;
          const replacement = h.message(type, body, raw);
          if (replacement) this.#emit(replacement);
        }
        passFrom = pos;
      } else {
        // peek: flush what passed so far first, so any output the handler makes lands after this message
        if (passFrom >= 0 && pos > passFrom) this.#emit(chunk.subarray(passFrom, pos));
        else if (this.#slab.pending) this.#slab.flush(this.#out);
        passFrom = pos;
        h.message(type, body, undefined);
      }
      this.#body = [];
      this.#bodyLength = 0;
    }
    return h.wantsBoundary ? this.#boundary(chunk, pos, passFrom, h) : passFrom;
  }

  /** Sends everything up to `pos`, then lets the caller slip its own output in; returns where passing resumes. */
  #boundary(chunk: Buffer, pos: number, passFrom: number, h: ScanHandler): number {
    if (passFrom >= 0 && pos > passFrom) {
      this.#emit(chunk.subarray(passFrom, pos));
      passFrom = pos;
    } else if (this.#slab.pending) this.#slab.flush(this.#out);
    h.boundary();
    return passFrom;
  }
}
