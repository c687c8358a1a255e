// Rewritten messages are written back to back into one allocation, so a run of rewritten rows
// leaves as one view rather than one Buffer per row (each costs an allocation, a capture piece and
// a writev entry). Bytes written here are handed out once and never written again.

const FIRST_SLAB = 16 * 1024;
const LARGEST_SLAB = 64 * 1024; // a socket read's size

export class RewriteSlab {
  #buf: Buffer | undefined;
  /** Start of the bytes not handed out yet. */
  #from = 0;
  /** End of the bytes written. */
  #to = 0;
  /** Start of the last allocation. */
  #last = 0;
  /** Bytes of earlier slabs not handed out yet, in order. */
  #spilled: Buffer[] = [];
  #next = FIRST_SLAB;

  /** Reserves `size` bytes after everything written so far; write them at `buffer[offset…]`. */
  alloc(size: number): number {
    if (!this.#buf || this.#buf.length - this.#to < size) {
      if (this.#buf && this.#to > this.#from) this.#spilled.push(this.#buf.subarray(this.#from, this.#to));
      this.#buf = Buffer.allocUnsafeSlow(Math.max(this.#next, size));
      this.#next = Math.min(this.#next * 2, LARGEST_SLAB);
      this.#from = this.#to = 0;
    }
    this.#last = this.#to;
    this.#to += size;
    return this.#last;
  }

  /** Where the last allocation lives. */
  get buffer(): Buffer {
    return this.#buf!;
  }

  /** Shrinks the last allocation to `size` bytes (it was reserved at an upper bound). */
  trimLast(size: number): void {
    this.#to = this.#last + size;
  }

  /** Hands out everything written before the last allocation. */
  flushBeforeLast(out: (b: Buffer) => void): void {
    this.#flushSpilled(out);
    if (this.#last > this.#from) out(this.#buf!.subarray(this.#from, this.#last));
    this.#from = Math.max(this.#from, this.#last);
  }

  /** Hands out everything written. */
  flush(out: (b: Buffer) => void): void {
    this.#flushSpilled(out);
    if (this.#to > this.#from) out(this.#buf!.subarray(this.#from, this.#to));
    this.#from = this.#to;
  }

  get pending(): boolean {
    return this.#to > this.#from || this.#spilled.length > 0;
  }

  /** Forgets the slab once all of it was handed out, so an idle session keeps none. */
  release(): void {
    if (this.pending) return;
    this.#buf = undefined;
    this.#from = this.#to = this.#last = 0;
  }

  #flushSpilled(out: (b: Buffer) => void): void {
    if (this.#spilled.length === 0) return;
    for (const b of this.#spilled) out(b);
    this.#spilled = [];
  }
}
