// The login half of a PostgreSQL server: reads the startup packet and demands a password the way
// a real server's pg_hba would (SCRAM-SHA-256, md5 or cleartext). PGlite accepts anyone, so the
// demo database puts this in front of it.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import { authentication, fatalError } from './backend-messages.js';
import { makeScramVerifier, SCRAM_MECHANISM, ScramExchange, type ScramVerifier } from './scram-server.js';

export type PasswordMethod = 'scram-sha-256' | 'md5' | 'password';

export interface LoginRules {
  user: string;
  password: string;
  database: string;
  method: PasswordMethod;
}

const PROTOCOL_3 = 196608;
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;

/** Bytes arrive in arbitrary chunks; the login reads whole packets. */
class PacketReader {
  private buffered = Buffer.alloc(0);
  private waiting?: () => void;
  private closed = false;
  private readonly onData = (chunk: Buffer): void => {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    this.waiting?.();
  };
  private readonly onEnd = (): void => {
    this.closed = true;
    this.waiting?.();
  };

  constructor(private readonly socket: Socket) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
  }

  private async need(n: number): Promise<void> {
    while (this.buffered.length < n) {
      if (this.closed) throw new Error('client closed the connection during login');
      await new Promise<void>((resolve) => (this.waiting = resolve));
      this.waiting = undefined;
    }
  }

  private take(n: number): Buffer {
    const out = this.buffered.subarray(0, n);
    this.buffered = this.buffered.subarray(n);
    return out;
  }

  /** Untyped packet (startup, SSL request): int32 length then body. */
  async untyped(): Promise<Buffer> {
    await this.need(4);
    const len = this.buffered.readInt32BE(0);
    if (len < 8 || len > 10_000) throw new Error('invalid startup packet length');
    await this.need(len);
    return this.take(len).subarray(4);
  }

  /** Typed message: returns its type and body. */
  async typed(): Promise<{ type: string; body: Buffer }> {
    await this.need(5);
    const len = this.buffered.readInt32BE(1);
    if (len < 4 || len > 100_000) throw new Error('invalid message length');
    await this.need(1 + len);
    const msg = this.take(1 + len);
    return { type: String.fromCharCode(msg[0]!), body: msg.subarray(5) };
  }

  /** Stops reading; returns whatever arrived beyond the login. */
  release(): Buffer {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    return this.buffered;
  }
}

export interface LoginResult {
  /** The client's startup parameters (user, database, application_name, …). */
  params: Record<string, string>;
  /** Bytes the client sent after the login exchange. */
  leftover: Buffer;
}

/** Thrown (after the client has been told) when a login is refused. */
export class LoginRefused extends Error {}

/**
 * Runs the startup and password exchange on `socket`. Resolves when the password was right; the
 * caller then owes the client AuthenticationOk and the rest of the start-up (PGlite sends those).
 */
export async function acceptLogin(socket: Socket, rules: LoginRules, verifier: ScramVerifier = makeScramVerifier(rules.password)): Promise<LoginResult> {
  const reader = new PacketReader(socket);
  const refuse = (state: string, text: string): never => {
    socket.end(fatalError(state, text));
    reader.release();
    throw new LoginRefused(text);
  };
  try {
    let packet = await reader.untyped();
    for (;;) {
      const code = packet.readInt32BE(0);
      if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
        socket.write('N'); // plaintext only: the demo database listens on loopback
        packet = await reader.untyped();
        continue;
      }
      if (code === CANCEL_REQUEST) refuse('08P01', 'cancel requests are not supported by the demo database');
      if (code !== PROTOCOL_3) refuse('08P01', `unsupported frontend protocol ${code >> 16}.${code & 0xffff}`);
      break;
    }
    const params = parseStartupParams(packet.subarray(4));
    const user = params.user ?? '';
    const database = params.database || user;
    const authFailed = (): never => refuse('28P01', `password authentication failed for user "${user}"`);

    if (rules.method === 'scram-sha-256') {
      socket.write(authentication.sasl(SCRAM_MECHANISM));
      const first = await reader.typed();
      if (first.type !== 'p') authFailed();
      const mechEnd = first.body.indexOf(0);
      if (first.body.subarray(0, mechEnd).toString() !== SCRAM_MECHANISM) refuse('28000', 'unsupported SASL mechanism');
      const exchange = new ScramExchange(verifier);
      let serverFirst = '';
      try {
        serverFirst = exchange.start(first.body.subarray(mechEnd + 5).toString());
      } catch (err) {
        refuse('08P01', (err as Error).message);
      }
      socket.write(authentication.saslContinue(serverFirst));
      const final = await reader.typed();
      const serverFinal = final.type === 'p' ? exchange.finish(final.body.toString()) : undefined;
      if (!serverFinal || user !== rules.user) authFailed();
      socket.write(authentication.saslFinal(serverFinal!));
    } else if (rules.method === 'md5') {
      const salt = randomBytes(4);
      socket.write(authentication.md5Password(salt));
      const reply = await reader.typed();
      const expected = 'md5' + md5Hex(Buffer.concat([Buffer.from(md5Hex(Buffer.from(rules.password + rules.user))), salt]));
      if (reply.type !== 'p' || user !== rules.user || !sameText(cString(reply.body), expected)) authFailed();
    } else {
      socket.write(authentication.cleartextPassword());
      const reply = await reader.typed();
      if (reply.type !== 'p' || user !== rules.user || !sameText(cString(reply.body), rules.password)) authFailed();
    }
    if (database !== rules.database) refuse('3D000', `database "${database}" does not exist`);
    return { params, leftover: reader.release() };
  } catch (err) {
    reader.release();
    if (!(err instanceof LoginRefused)) socket.destroy();
    throw err;
  }
}

function parseStartupParams(body: Buffer): Record<string, string> {
  const parts = body.toString('utf8').split('\0');
  const params: Record<string, string> = {};
  for (let i = 0; i + 1 < parts.length && parts[i] !== ''; i += 2) params[parts[i]!] = parts[i + 1]!;
  return params;
}

function cString(body: Buffer): string {
  const end = body.indexOf(0);
  return body.subarray(0, end < 0 ? body.length : end).toString('utf8');
}

function md5Hex(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
