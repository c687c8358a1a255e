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
  /** ParameterStatus values the server reported at start-up (server_version, TimeZone, …). */
  parameters: Map<string, string>;
  processId: number;
  secretKey: number;
  status: TransactionStatus;
  /** Bytes that arrived after ReadyForQuery in the same read: they belong to the relay. */
  leftover: Buffer[];
}

/** Authentication failed upstream: the caller may refresh the credential once (rotation) and retry. */
export class UpstreamAuthError extends Error {}
/** The upstream could not be reached or spoke nonsense. */
export class UpstreamError extends Error {}

export async function connectUpstream(spec: UpstreamSpec, credential: Secret, startupParams: Map<string, string>): Promise<UpstreamConnection> {
  const raw = await openSocket(spec);
  const controller = new AbortController();
  const timer = setTimeout(() => {
    controller.abort();
    raw.destroy(new UpstreamError(`upstream ${spec.host}:${spec.port} did not complete start-up within ${spec.connectTimeoutMs} ms`));
  }, spec.connectTimeoutMs);
  try {
    const socket = spec.tls.mode === 'disable' ? raw : await startTls(raw, spec);
    return await authenticate(socket, spec, credential, startupParams);
  } catch (err) {
    raw.destroy();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

function openSocket(spec: UpstreamSpec): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: spec.host, port: spec.port });
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

function authenticate(socket: net.Socket, spec: UpstreamSpec, credential: Secret, startupParams: Map<string, string>): Promise<UpstreamConnection> {
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
      socket.off('data', onData);
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
      try {
        reader.push(chunk);
        for (let frame = reader.next(); frame; frame = reader.next()) {
          if (handle(frame)) {
            settled = true;
            cleanup();
            socket.pause();
            const leftover: Buffer[] = [];
            for (let f = reader.next(); f; f = reader.next()) leftover.push(f.raw);
            resolve({ socket, parameters, processId, secretKey, status: String.fromCharCode(frame.body[0]!) as TransactionStatus, leftover });
            return;
          }
        }
      } catch (err) {
        fail(err as Error);
      }
    };

    socket.on('data', onData);
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
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      socket.pause();
      if (err) reject(err);
      else resolve(rows);
    };
    const onError = (err: Error) => done(new UpstreamError(`upstream connection failed: ${err.message}`));
    const onClose = () => done(new UpstreamError('upstream closed the connection'));
    const onData = (chunk?: Buffer) => {
      try {
        if (chunk) reader.push(chunk);
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
    socket.on('data', onData);
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
