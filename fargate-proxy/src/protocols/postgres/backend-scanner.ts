// Walks the upstream byte stream by message headers so most messages are relayed as the bytes they
// arrived in, without being copied or decoded. The caller chooses per message type whether to
// pass it through untouched, peek at its body while passing it, or hold it whole to replace it.

export type ScanAction = 'pass' | 'peek' | 'hold';

export interface ScanHandler {
  /** Called at each message header. */
  action(type: number, length: number): ScanAction;
  /** Called when a 'peek' or 'hold' message is complete. For 'hold', the return value is sent instead (undefined: nothing). */
  message(type: number, body: Buffer, raw: Buffer | undefined): Buffer | undefined;
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

  get atBoundary(): boolean {
    return this.#headerFill === 0 && this.#remaining === 0;
  }

  /**
   * Scans one chunk and returns the slices to send downstream, in order. `out` receives views into
   * the chunk for passed-through bytes and replacement buffers for held messages.
   */
  scan(chunk: Buffer, h: ScanHandler, out: (b: Buffer) => void): void {
    let pos = 0;
    // Start of the current run of bytes to pass through untouched; -1 while inside a held message
    // (which may have begun in an earlier chunk).
    let passFrom = this.#remaining > 0 && this.#action === 'hold' ? -1 : 0;
    const n = chunk.length;
    while (pos < n) {
      if (this.#remaining === 0 && this.#headerFill < 5) {
        const take = Math.min(5 - this.#headerFill, n - pos);
        chunk.copy(this.#header, this.#headerFill, pos, pos + take);
        const headerStart = pos;
        this.#headerFill += take;
        pos += take;
        if (this.#headerFill < 5) {
          // Header straddles chunks: pass its bytes now unless it turns out to be held — decided next chunk.
          // To keep that decision possible, stop passing here and keep the partial header back.
          if (headerStart > passFrom) out(chunk.subarray(passFrom, headerStart));
          passFrom = n;
          break;
        }
        this.#type = this.#header[0]!;
        const length = this.#header.readInt32BE(1);
        this.#remaining = length - 4;
        this.#action = h.action(this.#type, length);
        const headerInChunk = take === 5; // whole header came from this chunk
        this.#start = headerInChunk ? headerStart : -1;
        if (this.#action === 'hold') {
          if (headerStart > passFrom) out(chunk.subarray(passFrom, headerStart));
          passFrom = -1; // nothing passes until the held message is complete
        } else if (!headerInChunk) {
          // The header began in an earlier chunk and was kept back: send it now, then pass from here.
          if (headerStart > passFrom) out(chunk.subarray(passFrom, headerStart));
          out(Buffer.from(this.#header));
          passFrom = pos;
        }
        this.#body = [];
        this.#bodyLength = 0;
        if (this.#remaining === 0) {
          passFrom = this.#complete(chunk, pos, passFrom, h, out);
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
      if (this.#remaining === 0) passFrom = this.#complete(chunk, pos, passFrom, h, out);
    }
    // passFrom < 0: mid-way through a held message, whose bytes are in #body already.
    if (passFrom >= 0 && passFrom < n) out(chunk.subarray(passFrom, n));
    // A message still incomplete continues in the next chunk: its start is not an offset there.
    this.#start = -1;
  }

  /** Finishes the current message; returns where passing-through resumes in the chunk. */
  #complete(chunk: Buffer, pos: number, passFrom: number, h: ScanHandler, out: (b: Buffer) => void): number {
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
          this.#header.copy(raw, 0, 0, 5);
          body.copy(raw, 5);
        }
        const replacement = h.message(type, body, raw);
        if (replacement) out(replacement);
        passFrom = pos;
      } else {
        // peek: flush what passed so far first, so any output the handler makes lands after this message
        if (passFrom >= 0 && pos > passFrom) out(chunk.subarray(passFrom, pos));
        passFrom = pos;
        h.message(type, body, undefined);
      }
      this.#body = [];
      this.#bodyLength = 0;
    } else if (h.wantsBoundary && passFrom >= 0 && pos > passFrom) {
      // Only split the pass-through run when the caller has something to slip in here.
      out(chunk.subarray(passFrom, pos));
      passFrom = pos;
    }
    if (h.wantsBoundary) h.boundary();
    return passFrom;
  }
}
