// Opens and authenticates the gateway's own connection to the real database.
import { createHash } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { serialize } from 'pg-protocol';
import { B, decodeFields, type TransactionStatus } from './backend.js';
import { BodyReader, FrameReader, type Frame } from './framer.js';
import { ScramClient } from './scram.js';
import type { Secret } from '../../ports/secrets.js';

export interface UpstreamSpec {
  host: string;
  port: number;
  database: string;
  user: string;
  tls: { mode: 'disable' | 'require' | 'verify-full'; caFile?: string; serverName?: string };
  connectTimeoutMs: number;
}

export interface UpstreamConnection {
  socket: net.Socket;
  /** How the socket's bytes arrive: 'data' events, or (plaintext) net's `onread` into a reused buffer. */
  reads: UpstreamReads;
  /** ParameterStatus values the server reported at start-up (server_version, TimeZone, …). */
  parameters: Map<string, string>;
  processId: number;
  secretKey: number;
  status: TransactionStatus;
  /** Bytes that arrived after ReadyForQuery in the same read: they belong to the relay. */
  leftover: Buffer[];
}

// A socket read's size: what PostgreSQL sends in one go on a fast link, and Node's own read size.
const READ_BYTES = 64 * 1024;

/**
 * Where the upstream's bytes are delivered. A plaintext connection reads through net.Socket's
 * `onread` into one buffer, reused from read to read (no allocation and no stream machinery per
 * read) for as long as the consumer keeps none of its bytes past its callback; a consumer that
 * keeps any (a view queued in a socket write, part of a message that continues in the next read)
 * says so with `keep()` and the next read lands in a fresh buffer. A TLS connection delivers its
 * decrypted bytes as 'data' events, each a buffer of its own (`reused` false).
 */
export class UpstreamReads {
  #buf: Buffer | undefined;
  #keep = false;
  #consumer: ((chunk: Buffer) => void) | undefined;
  #socket: net.Socket | undefined;
  #onData = (chunk: Buffer): void => this.#consumer?.(chunk);

  constructor(readonly reused: boolean) {}

  /** net's `onread` option (plaintext only). */
  readonly onread = {
    buffer: (): Buffer => {
      if (!this.#buf || this.#keep) this.#buf = Buffer.allocUnsafeSlow(READ_BYTES);
      this.#keep = false;
      return this.#buf;
    },
    callback: (n: number, buf: Buffer): boolean => {
      const chunk = buf.subarray(0, n);
      if (this.#consumer) {
        this.#consumer(chunk);
        return true;
      }
      // The socket is paused between consumers; a read that still comes is kept for the next one.
      this.#keep = true;
      this.#unread.push(chunk);
      return false; // stops reading
    },
  };
  #unread: Buffer[] = [];

  /** Where the socket's bytes go from now on (undefined: nowhere; the socket must be paused). */
  consume(socket: net.Socket, fn: ((chunk: Buffer) => void) | undefined): void {
    this.#consumer = fn;
    if (fn && this.#unread.length) {
      const unread = this.#unread;
      this.#unread = [];
      for (const chunk of unread) fn(chunk);
    }
    if (this.reused) return;
    if (fn && this.#socket !== socket) {
      this.#socket?.off('data', this.#onData);
      socket.on('data', this.#onData);
      this.#socket = socket;
    } else if (!fn && this.#socket) {
      this.#socket.off('data', this.#onData);
      this.#socket = undefined;
    }
  }

  /** The read being handled must stay as it is: the next read goes into a new buffer. */
  keep(): void {
    this.#keep = true;
  }
}

/** Authentication failed upstream: the caller may refresh the credential once (rotation) and retry. */
export class UpstreamAuthError extends Error {}
/** The upstream could not be reached or spoke nonsense. */
export class UpstreamError extends Error {}

export async function connectUpstream(spec: UpstreamSpec, credential: Secret, startupParams: Map<string, string>): Promise<UpstreamConnection> {
  // TLS wraps the socket's handle, so its reads never reach an `onread` of the plain socket.
  const reads = new UpstreamReads(spec.tls.mode === 'disable');
  const raw = await openSocket(spec, reads);
  const controller = new AbortController();
  const timer = setTimeout(() => {
    controller.abort();
    raw.destroy(new UpstreamError(`upstream ${spec.host}:${spec.port} did not complete start-up within ${spec.connectTimeoutMs} ms`));
  }, spec.connectTimeoutMs);
  try {
    const socket = spec.tls.mode === 'disable' ? raw : await startTls(raw, spec);
    return await authenticate(socket, reads, spec, credential, startupParams);
  } catch (err) {
    raw.destroy();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

function openSocket(spec: UpstreamSpec, reads: UpstreamReads): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: spec.host, port: spec.port, ...(reads.reused ? { onread: reads.onread } : {}) });
    if (reads.reused) socket.pause(); // nothing reads until authentication starts
    socket.setNoDelay(true);
    const timer = setTimeout(() => socket.destroy(new UpstreamError(`connecting to ${spec.host}:${spec.port} timed out`)), spec.connectTimeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new UpstreamError(`cannot connect to ${spec.host}:${spec.port}: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    });
  });
}

async function startTls(socket: net.Socket, spec: UpstreamSpec): Promise<tls.TLSSocket> {
  socket.write(serialize.requestSsl());
  const answer = await readBytes(socket, 1);
  if (answer[0] !== 0x53) throw new UpstreamError(`upstream ${spec.host}:${spec.port} does not accept TLS (tls.mode=${spec.tls.mode})`);
  const verify = spec.tls.mode === 'verify-full';
  return new Promise((resolve, reject) => {
    const s = tls.connect({
      socket,
      servername: spec.tls.serverName ?? (net.isIP(spec.host) ? undefined : spec.host),
      ca: spec.tls.caFile ? readFileSync(spec.tls.caFile) : undefined,
      rejectUnauthorized: verify,
      checkServerIdentity: verify ? (_host, cert) => tls.checkServerIdentity(spec.tls.serverName ?? spec.host, cert) : () => undefined,
    });
    s.once('secureConnect', () => {
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (err) => reject(new UpstreamError(`TLS with upstream ${spec.host}:${spec.port} failed: ${err.message}`)));
  });
}

/** Reads exactly n bytes before any framing exists (the one-byte SSL answer). */
function readBytes(socket: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      socket.off('data', onData);
      socket.off('error', onError);
      socket.pause();
      if (chunk.length > n) socket.unshift(chunk.subarray(n));
      resolve(chunk.subarray(0, n));
    };
    const onError = (err: Error) => {
      socket.off('data', onData);
      reject(new UpstreamError(err.message));
    };
    socket.on('data', onData);
    socket.once('error', onError);
    socket.resume();
  });
}

function authenticate(socket: net.Socket, reads: UpstreamReads, spec: UpstreamSpec, credential: Secret, startupParams: Map<string, string>): Promise<UpstreamConnection> {
  return new Promise((resolve, reject) => {
    const reader = new FrameReader(64 * 1024 * 1024);
    reader.startup = false;
    const parameters = new Map<string, string>();
    let processId = 0;
    let secretKey = 0;
    let scram: ScramClient | undefined;
    let settled = false;

    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      cleanup();
      reject(err);
    };
    const cleanup = () => {
      reads.consume(socket, undefined);
      socket.off('error', onError);
      socket.off('close', onClose);
    };
    const onError = (err: Error) => fail(new UpstreamError(`upstream connection failed: ${err.message}`));
    const onClose = () => fail(new UpstreamError('upstream closed the connection during start-up'));

    const handle = (frame: Frame): boolean => {
      switch (frame.type) {
        case B.Authentication: {
          const r = new BodyReader(frame.body);
          const code = r.int32();
          const password = credential.reveal();
          if (code === 0) return false; // AuthenticationOk
          if (code === 3) socket.write(serialize.password(password));
          else if (code === 5) {
            const salt = r.bytes(4);
            const inner = createHash('md5').update(password + spec.user).digest('hex');
            socket.write(serialize.password('md5' + createHash('md5').update(inner).update(salt).digest('hex')));
          } else if (code === 10) {
            const mechanisms: string[] = [];
            for (let m = r.cstring(); m !== ''; m = r.cstring()) mechanisms.push(m);
            if (!mechanisms.includes('SCRAM-SHA-256')) throw new UpstreamAuthError(`upstream offers no supported SASL mechanism (${mechanisms.join(', ')})`);
            scram = new ScramClient(password);
            socket.write(serialize.sendSASLInitialResponseMessage('SCRAM-SHA-256', scram.clientFirst()));
          } else if (code === 11) {
            if (!scram) throw new UpstreamError('unexpected SASL continue');
            socket.write(serialize.sendSCRAMClientFinalMessage(scram.clientFinal(r.bytes(r.remaining).toString('utf8'))));
          } else if (code === 12) {
            if (!scram) throw new UpstreamError('unexpected SASL final');
            scram.verifyServerFinal(r.bytes(r.remaining).toString('utf8'));
          } else {
            throw new UpstreamAuthError(`upstream requires an unsupported authentication method (code ${code})`);
          }
          return false;
        }
        case B.ParameterStatus: {
          const r = new BodyReader(frame.body);
          parameters.set(r.cstring(), r.cstring());
          return false;
        }
        case B.BackendKeyData: {
          const r = new BodyReader(frame.body);
          processId = r.int32();
          secretKey = r.int32();
          return false;
        }
        case B.ErrorResponse: {
          const f = decodeFields(frame.body);
          const code = f.get('C') ?? '';
          const msg = `upstream refused the connection: ${f.get('M') ?? 'unknown error'} (SQLSTATE ${code})`;
          throw code.startsWith('28') ? new UpstreamAuthError(msg) : new UpstreamError(msg);
        }
        case B.NoticeResponse:
        case B.NegotiateProtocolVersion:
          return false;
        case B.ReadyForQuery:
          return true;
        default:
          throw new UpstreamError(`unexpected message '${String.fromCharCode(frame.type)}' during upstream start-up`);
      }
    };

    const onData = (chunk: Buffer) => {
      // Frames (and what follows ReadyForQuery) are kept as views: start-up is not the hot path.
      reads.keep();
      try {
        reader.push(chunk);
        for (let frame = reader.next(); frame; frame = reader.next()) {
          if (handle(frame)) {
            settled = true;
            socket.pause();
            cleanup();
            const leftover: Buffer[] = [];
            for (let f = reader.next(); f; f = reader.next()) leftover.push(f.raw);
            resolve({ socket, reads, parameters, processId, secretKey, status: String.fromCharCode(frame.body[0]!) as TransactionStatus, leftover });
            return;
          }
        }
      } catch (err) {
        fail(err as Error);
      }
    };

    reads.consume(socket, onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    const params: Record<string, string> = { user: spec.user, database: spec.database };
    for (const [k, v] of startupParams) params[k] = v;
    socket.write(serialize.startup(params));
    socket.resume();
  });
}

/** Sends a CancelRequest for an upstream backend on a fresh connection, as the protocol requires. */
export function sendUpstreamCancel(spec: UpstreamSpec, processId: number, secretKey: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: spec.host, port: spec.port }, () => {
      socket.end(serialize.cancel(processId, secretKey));
    });
    socket.setTimeout(spec.connectTimeoutMs, () => socket.destroy());
    socket.on('close', () => resolve());
    socket.on('error', () => resolve());
  });
}

// ---- the gateway's own read-only queries on a fresh upstream connection (catalog, session facts) ----

/** An error the upstream answered a gateway query with. */
export class UpstreamQueryError extends Error {}

/**
 * Runs one simple-protocol Query on a connection the relay does not own yet (right after login)
 * and returns its rows as text columns (NULL as null). Anything the server sends after the final
 * ReadyForQuery is kept in `conn.leftover` for the relay, as after start-up.
 */
export function queryUpstream(conn: UpstreamConnection, sql: string, maxRows = Number.MAX_SAFE_INTEGER): Promise<(string | null)[][]> {
  return new Promise((resolve, reject) => {
    const { socket } = conn;
    const reader = new FrameReader(64 * 1024 * 1024);
    reader.startup = false;
    for (const raw of conn.leftover) reader.push(raw);
    conn.leftover = [];
    const rows: (string | null)[][] = [];
    let error: Error | undefined;
    const done = (err?: Error) => {
      socket.pause();
      conn.reads.consume(socket, undefined);
      socket.off('error', onError);
      socket.off('close', onClose);
      if (err) reject(err);
      else resolve(rows);
    };
    const onError = (err: Error) => done(new UpstreamError(`upstream connection failed: ${err.message}`));
    const onClose = () => done(new UpstreamError('upstream closed the connection'));
    const onData = (chunk?: Buffer) => {
      try {
        if (chunk) {
          conn.reads.keep(); // frames and leftovers are kept as views
          reader.push(chunk);
        }
        for (let frame = reader.next(); frame; frame = reader.next()) {
          if (frame.type === B.DataRow) {
            if (rows.length >= maxRows) {
              error ??= new UpstreamQueryError(`more than ${maxRows} rows`);
              continue;
            }
            const r = new BodyReader(frame.body);
            const row: (string | null)[] = [];
            for (let n = r.int16(), i = 0; i < n; i++) {
              const len = r.int32();
              row.push(len < 0 ? null : r.bytes(len).toString('utf8'));
            }
            rows.push(row);
          } else if (frame.type === B.ErrorResponse) {
            const f = decodeFields(frame.body);
            error = new UpstreamQueryError(`${f.get('M') ?? 'error'} (SQLSTATE ${f.get('C') ?? '?'})`);
          } else if (frame.type === B.ReadyForQuery) {
            conn.status = String.fromCharCode(frame.body[0]!) as TransactionStatus;
            for (let f = reader.next(); f; f = reader.next()) conn.leftover.push(f.raw);
            return done(error);
          } else if (frame.type === B.ParameterStatus) {
            const r = new BodyReader(frame.body);
            conn.parameters.set(r.cstring(), r.cstring());
          }
          // RowDescription, CommandComplete, NoticeResponse: nothing to keep
        }
      } catch (err) {
        done(err as Error);
      }
    };
    conn.reads.consume(socket, onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.write(serialize.query(sql));
    socket.resume();
    onData();
  });
}

/** Ends a connection the gateway opened for its own queries (Terminate, then close). */
export function closeUpstream(conn: UpstreamConnection): void {
  conn.socket.end(serialize.end());
}
