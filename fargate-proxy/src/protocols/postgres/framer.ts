// Splits a byte stream into PostgreSQL messages by their headers.
// Startup-phase messages have no type byte (Int32 length, then body); every later message is
// Byte1 type, Int32 length (which counts itself), then the body.

export class MessageTooLargeError extends Error {
  /**
   * @param length the message's declared length
   * @param total the whole message's size on the wire (header included): how much the client is
   *   sending, which the gateway reads and discards before it closes (closing.ts)
   */
  constructor(readonly length: number, readonly limit: number, readonly total = length) {
    super(`message of ${length} bytes exceeds the gateway's limit of ${limit} bytes`);
  }
}

export class MalformedMessageError extends Error {}

export interface Frame {
  /** Type byte; 0 for startup-phase messages, which have none. */
  type: number;
  /** The message body, after the length word. */
  body: Buffer;
  /** The whole message as received (header included), for forwarding without re-serialising. */
  raw: Buffer;
}

/**
 * Accumulates chunks and yields whole messages. A message that fits in one chunk is a view into
 * that chunk (no copy); only messages that straddle chunks are joined.
 */
export class FrameReader {
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** While true, the next message is a startup-phase (untyped) one. */
  startup = true;

  constructor(private readonly maxMessageBytes: number) {}

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
  }

  get bufferedBytes(): number {
    return this.#buffered;
  }

  /** The next whole message, or undefined when more bytes are needed. Throws on a bad or oversized header. */
  next(): Frame | undefined {
    const headerLength = this.startup ? 4 : 5;
    if (this.#buffered < headerLength) return undefined;
    const head = this.#peek(headerLength);
    const type = this.startup ? 0 : head[0]!;
    const length = head.readInt32BE(this.startup ? 0 : 1);
    const minimum = this.startup ? 8 : 4;
    if (length < minimum) throw new MalformedMessageError(`invalid message length ${length}`);
    const total = length + (this.startup ? 0 : 1);
    if (length > this.maxMessageBytes) throw new MessageTooLargeError(length, this.maxMessageBytes, total);
    if (this.#buffered < total) return undefined;
    const raw = this.#take(total);
    return { type, body: raw.subarray(headerLength), raw };
  }

  #peek(n: number): Buffer {
    const first = this.#chunks[0]!;
    if (first.length >= n) return first;
    return Buffer.concat(this.#chunks, Math.min(this.#buffered, Math.max(n, 16))).subarray(0, n);
  }

  #take(n: number): Buffer {
    const first = this.#chunks[0]!;
    let out: Buffer;
    if (first.length > n) {
      out = first.subarray(0, n);
      this.#chunks[0] = first.subarray(n);
    } else if (first.length === n) {
      out = first;
      this.#chunks.shift();
    } else {
      out = Buffer.allocUnsafe(n);
      let filled = 0;
      while (filled < n) {
        const c = this.#chunks[0]!;
        const need = n - filled;
        if (c.length <= need) {
          c.copy(out, filled);
          filled += c.length;
          this.#chunks.shift();
        } else {
          c.copy(out, filled, 0, need);
          this.#chunks[0] = c.subarray(need);
          filled += need;
        }
      }
    }
    this.#buffered -= n;
    return out;
  }
}

/** Reads NUL-terminated strings and integers from a message body, failing on truncation. */
export class BodyReader {
  offset = 0;
  constructor(private readonly buf: Buffer) {}

  cstring(): string {
    const end = this.buf.indexOf(0, this.offset);
    if (end < 0) throw new MalformedMessageError('unterminated string in message');
    const s = this.buf.toString('utf8', this.offset, end);
    this.offset = end + 1;
    return s;
  }
  int16(): number {
    this.#need(2);
    const v = this.buf.readInt16BE(this.offset);
    this.offset += 2;
    return v;
  }
  int32(): number {
    this.#need(4);
    const v = this.buf.readInt32BE(this.offset);
    this.offset += 4;
    return v;
  }
  byte(): number {
    this.#need(1);
    return this.buf[this.offset++]!;
  }
  bytes(n: number): Buffer {
    this.#need(n);
    const v = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }
  /** Steps over n bytes and returns where they start: a cell read without a Buffer view per value. */
  skip(n: number): number {
    this.#need(n);
    const start = this.offset;
    this.offset += n;
    return start;
  }
  get remaining(): number {
    return this.buf.length - this.offset;
  }
  #need(n: number): void {
    if (n < 0 || this.offset + n > this.buf.length) throw new MalformedMessageError('message body is truncated');
  }
}
