// SPDY/3.1 framing (draft-mbelshe-httpbis-spdy-00 as SPDY/3, plus 3.1's session window), as much of
// it as Kubernetes port-forward uses (k8s.io/apimachinery httpstream/spdy over moby/spdystream).
//
//   Control frame: |1| version(15) | type(16) | flags(8) | length(24) | data
//   Data frame:    |0| stream-id(31)           | flags(8) | length(24) | data
//
// Control types: SYN_STREAM 1, SYN_REPLY 2, RST_STREAM 3, SETTINGS 4, PING 6, GOAWAY 7, HEADERS 8,
// WINDOW_UPDATE 9. Flags: FIN 0x01 (the sender's half of the stream ends), UNIDIRECTIONAL 0x02.
// Name/value header blocks (SYN_STREAM, SYN_REPLY, HEADERS) are one zlib stream per direction for
// the whole connection, primed with the spec's dictionary (§2.6.10.1), each block ending on a sync
// flush. Flow control is not spoken: spdystream neither sends WINDOW_UPDATE nor honours windows, so a
// sender that waited on windows would stall it; received WINDOW_UPDATE and SETTINGS are ignored.
import { constants, createDeflate, createInflate, type Deflate, type Inflate } from 'node:zlib';

export const VERSION = 3;

export const SYN_STREAM = 1;
export const SYN_REPLY = 2;
export const RST_STREAM = 3;
export const SETTINGS = 4;
export const PING = 6;
export const GOAWAY = 7;
export const HEADERS = 8;
export const WINDOW_UPDATE = 9;

export const FLAG_FIN = 0x01;
export const FLAG_UNIDIRECTIONAL = 0x02;

/** RST_STREAM status codes (§2.6.3). */
export const RST = { PROTOCOL_ERROR: 1, INVALID_STREAM: 2, REFUSED_STREAM: 3, UNSUPPORTED_VERSION: 4, CANCEL: 5, INTERNAL_ERROR: 6, FLOW_CONTROL_ERROR: 7, STREAM_IN_USE: 8, STREAM_ALREADY_CLOSED: 9 } as const;
/** GOAWAY status codes (§2.6.6). */
export const GOAWAY_STATUS = { OK: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2 } as const;

/** The largest frame this side accepts; the length field allows 16 MiB, spdystream writes at most 32 KiB of data. */
export const MAX_DATA_FRAME = 1024 * 1024;
/** Header blocks here are a handful of short headers; a bigger control frame is an attack, not a request. */
export const MAX_CONTROL_FRAME = 16 * 1024;
/** A decompressed header block larger than this ends the connection (compression bombs). */
export const MAX_HEADER_BLOCK = 64 * 1024;

export type Frame =
  | { kind: 'data'; streamId: number; flags: number; data: Buffer }
  | { kind: 'control'; version: number; type: number; flags: number; data: Buffer };

export class SpdyProtocolError extends Error {}

/** Cuts a byte stream into frames. Bytes may arrive in any pieces (a WebSocket message need not hold a whole frame). */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Frame[] = [];
    while (this.buf.length >= 8) {
      const length = this.buf.readUInt32BE(4) & 0xffffff;
      const control = (this.buf[0]! & 0x80) !== 0;
      if (length > (control ? MAX_CONTROL_FRAME : MAX_DATA_FRAME)) throw new SpdyProtocolError(`a ${control ? 'control' : 'data'} frame of ${length} bytes is larger than this gateway accepts`);
      if (this.buf.length < 8 + length) break;
      const flags = this.buf[4]!;
      const data = Buffer.from(this.buf.subarray(8, 8 + length));
      out.push(
        control
          ? { kind: 'control', version: this.buf.readUInt16BE(0) & 0x7fff, type: this.buf.readUInt16BE(2), flags, data }
          : { kind: 'data', streamId: this.buf.readUInt32BE(0) & 0x7fffffff, flags, data },
      );
      this.buf = this.buf.subarray(8 + length);
    }
    return out;
  }
}

function control(type: number, flags: number, data: Buffer): Buffer {
  const h = Buffer.allocUnsafe(8);
  h.writeUInt16BE(0x8000 | VERSION, 0);
  h.writeUInt16BE(type, 2);
  h.writeUInt32BE(((flags & 0xff) << 24) | data.length, 4);
  return Buffer.concat([h, data]);
}

const u32 = (...values: number[]): Buffer => {
  const b = Buffer.allocUnsafe(4 * values.length);
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, 4 * i));
  return b;
};

export function dataFrame(streamId: number, data: Buffer, fin = false): Buffer {
  const h = Buffer.allocUnsafe(8);
  h.writeUInt32BE(streamId & 0x7fffffff, 0);
  h.writeUInt32BE(((fin ? FLAG_FIN : 0) << 24) | data.length, 4);
  return Buffer.concat([h, data]);
}

/** SYN_STREAM: stream-id, associated-to-stream-id, priority (3 bits) and slot, then the compressed header block. */
export function synStreamFrame(streamId: number, headerBlock: Buffer, flags = 0, priority = 0): Buffer {
  return control(SYN_STREAM, flags, Buffer.concat([u32(streamId & 0x7fffffff, 0), Buffer.from([(priority & 7) << 5, 0]), headerBlock]));
}

export function synReplyFrame(streamId: number, headerBlock: Buffer, flags = 0): Buffer {
  return control(SYN_REPLY, flags, Buffer.concat([u32(streamId & 0x7fffffff), headerBlock]));
}

export function rstStreamFrame(streamId: number, status: number): Buffer {
  return control(RST_STREAM, 0, u32(streamId & 0x7fffffff, status));
}

export function pingFrame(id: number): Buffer {
  return control(PING, 0, u32(id));
}

export function goAwayFrame(lastGoodStreamId: number, status: number): Buffer {
  return control(GOAWAY, 0, u32(lastGoodStreamId & 0x7fffffff, status));
}

export interface SynStream {
  streamId: number;
  associatedTo: number;
  priority: number;
  headerBlock: Buffer;
}

export function parseSynStream(data: Buffer): SynStream {
  if (data.length < 10) throw new SpdyProtocolError('SYN_STREAM shorter than its fixed fields');
  return { streamId: data.readUInt32BE(0) & 0x7fffffff, associatedTo: data.readUInt32BE(4) & 0x7fffffff, priority: data[8]! >> 5, headerBlock: data.subarray(10) };
}

/** SYN_REPLY and HEADERS: stream-id, then the header block. */
export function parseStreamHeaders(data: Buffer): { streamId: number; headerBlock: Buffer } {
  if (data.length < 4) throw new SpdyProtocolError('header frame shorter than its stream id');
  return { streamId: data.readUInt32BE(0) & 0x7fffffff, headerBlock: data.subarray(4) };
}

export function parseRstStream(data: Buffer): { streamId: number; status: number } {
  if (data.length < 8) throw new SpdyProtocolError('RST_STREAM shorter than 8 bytes');
  return { streamId: data.readUInt32BE(0) & 0x7fffffff, status: data.readUInt32BE(4) };
}

export function parsePing(data: Buffer): number {
  if (data.length < 4) throw new SpdyProtocolError('PING shorter than 4 bytes');
  return data.readUInt32BE(0);
}

/** Header names and their values (a multi-valued header's values were NUL-separated on the wire). */
export type Headers = Map<string, string[]>;

/** §2.6.10: number of pairs, then length-prefixed name and value, all 32-bit big-endian lengths. */
export function encodeHeaderBlock(headers: Headers): Buffer {
  const parts: Buffer[] = [u32(headers.size)];
  for (const [name, values] of headers) {
    const n = Buffer.from(name.toLowerCase(), 'utf8');
    const v = Buffer.from(values.join('\0'), 'utf8');
    parts.push(u32(n.length), n, u32(v.length), v);
  }
  return Buffer.concat(parts);
}

export function decodeHeaderBlock(block: Buffer): Headers {
  const headers: Headers = new Map();
  let at = 0;
  const take = (): Buffer => {
    if (at + 4 > block.length) throw new SpdyProtocolError('header block truncated');
    const n = block.readUInt32BE(at);
    at += 4;
    if (at + n > block.length) throw new SpdyProtocolError('header block truncated');
    const b = block.subarray(at, at + n);
    at += n;
    return b;
  };
  if (block.length < 4) throw new SpdyProtocolError('header block truncated');
  const count = block.readUInt32BE(0);
  at = 4;
  for (let i = 0; i < count; i++) {
    const name = take().toString('utf8');
    const value = take().toString('utf8');
    if (name === '' || name !== name.toLowerCase()) throw new SpdyProtocolError('a header name is empty or not lower case');
    if (headers.has(name)) throw new SpdyProtocolError(`header "${name.slice(0, 64)}" appears twice`);
    headers.set(name, value.split('\0'));
  }
  if (at !== block.length) throw new SpdyProtocolError('bytes after the header block');
  return headers;
}

/** §2.6.10.1: the zlib dictionary, as the spec lists it — length-prefixed names and values, then common value text. */
const DICTIONARY_WORDS = [
  'options', 'head', 'post', 'put', 'delete', 'trace', 'accept', 'accept-charset', 'accept-encoding', 'accept-language',
  'accept-ranges', 'age', 'allow', 'authorization', 'cache-control', 'connection', 'content-base', 'content-encoding',
  'content-language', 'content-length', 'content-location', 'content-md5', 'content-range', 'content-type', 'date', 'etag',
  'expect', 'expires', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since',
  'last-modified', 'location', 'max-forwards', 'pragma', 'proxy-authenticate', 'proxy-authorization', 'range', 'referer',
  'retry-after', 'server', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'user-agent', 'vary', 'via', 'warning',
  'www-authenticate', 'method', 'get', 'status', '200 OK', 'version', 'HTTP/1.1', 'url', 'public', 'set-cookie', 'keep-alive', 'origin',
];
const DICTIONARY_TAIL =
  '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505' +
  '203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized' +
  '403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable' +
  'Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT' +
  'chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,' +
  'text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.';
export const DICTIONARY = Buffer.concat([...DICTIONARY_WORDS.flatMap((w) => [u32(w.length), Buffer.from(w, 'latin1')]), Buffer.from(DICTIONARY_TAIL, 'latin1')]);

/**
 * One direction's header compression context. Blocks must be encoded (or decoded) one at a time, in
 * the order they go on (came off) the wire: each depends on the ones before it.
 */
class ZlibContext {
  private chain: Promise<unknown> = Promise.resolve();
  private failed?: Error;
  constructor(private readonly z: Inflate | Deflate) {
    z.on('error', (err: Error) => (this.failed ??= err));
  }

  /** Runs `input` through the context and returns what it yields up to a sync flush. */
  run(input: Buffer, limit: number): Promise<Buffer> {
    const next = this.chain.then(
      () =>
        new Promise<Buffer>((resolve, reject) => {
          if (this.failed) return reject(new SpdyProtocolError(`header compression: ${this.failed.message}`));
          const chunks: Buffer[] = [];
          let size = 0;
          const onData = (d: Buffer) => {
            size += d.length;
            if (size <= limit) chunks.push(d);
          };
          const onError = (err: Error) => {
            this.z.off('data', onData);
            reject(new SpdyProtocolError(`header compression: ${err.message}`));
          };
          this.z.on('data', onData);
          this.z.once('error', onError);
          this.z.write(input);
          this.z.flush(constants.Z_SYNC_FLUSH, () => {
            this.z.off('data', onData);
            this.z.off('error', onError);
            if (this.failed) return reject(new SpdyProtocolError(`header compression: ${this.failed.message}`));
            if (size > limit) return reject(new SpdyProtocolError(`a header block is larger than ${limit} bytes`));
            resolve(Buffer.concat(chunks));
          });
        }),
    );
    this.chain = next.catch(() => undefined);
    return next;
  }

  close(): void {
    this.z.close();
  }
}

/** The receiving side's header decompressor. */
export class HeaderDecoder {
  private readonly z = new ZlibContext(createInflate({ dictionary: DICTIONARY }));
  async decode(block: Buffer): Promise<Headers> {
    return decodeHeaderBlock(await this.z.run(block, MAX_HEADER_BLOCK));
  }
  close(): void {
    this.z.close();
  }
}

/** The sending side's header compressor. */
export class HeaderEncoder {
  private readonly z = new ZlibContext(createDeflate({ dictionary: DICTIONARY }));
  encode(headers: Headers): Promise<Buffer> {
    return this.z.run(encodeHeaderBlock(headers), Number.MAX_SAFE_INTEGER);
  }
  close(): void {
    this.z.close();
  }
}

/** A header's single value (the first), as Go's http.Header.Get reads it. */
export function header(h: Headers, name: string): string | undefined {
  return h.get(name)?.[0];
}
