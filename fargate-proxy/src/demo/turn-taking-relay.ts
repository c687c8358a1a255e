// PGlite is one backend shared by every connection. pglite-socket interleaves connections message
// by message, so two clients using the extended protocol at once can run each other's unnamed
// statements. The relay gives one connection at a time the floor, from its first message until
// the backend is idle again (ReadyForQuery 'I' with nothing outstanding), so whole request
// cycles and whole transactions never interleave.
//
// Start-up never waits: PGlite needs no start-up message, so the relay answers it with the reply
// PGlite gave once at boot. A session that has to wait for the floor is told so (a NOTICE, shown
// by psql as it arrives) and, past the wait limit, gets a FATAL error naming the reason instead of
// a silent stall.
import { connect, type Socket } from 'node:net';
import { fatalError, notice } from './backend-messages.js';

/** Who may talk to the shared backend now; the rest wait in arrival order. */
export class Turnstile {
  private holder?: RelaySession;
  private readonly waiting: RelaySession[] = [];

  /** True when `s` has the floor now; otherwise it is queued and `onTurn` comes later. */
  request(s: RelaySession): boolean {
    if (this.holder === s) return true;
    if (this.waiting.includes(s)) return false;
    if (this.holder) {
      this.waiting.push(s);
      return false;
    }
    this.grant(s);
    return true;
  }

  release(s: RelaySession): void {
    const i = this.waiting.indexOf(s);
    if (i >= 0) this.waiting.splice(i, 1);
    if (this.holder !== s) return;
    this.holder = undefined;
    const next = this.waiting.shift();
    if (next) this.grant(next);
  }

  holds(s: RelaySession): boolean {
    return this.holder === s;
  }

  private grant(s: RelaySession): void {
    this.holder = s;
    s.onTurn();
  }
}

/** Follows message boundaries in a typed PostgreSQL stream without copying it. */
class MessageScanner {
  private header = Buffer.alloc(6);
  private headerLen = 0;
  private skip = 0;

  /** `onMessage` gets each message's type and, for ReadyForQuery, its status byte. */
  constructor(private readonly onMessage: (type: number, status?: number) => void) {}

  scan(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        continue;
      }
      const wanted = this.headerLen >= 5 && this.header[0] === 0x5a ? 6 : 5;
      this.header[this.headerLen++] = chunk[i++]!;
      if (this.headerLen < wanted) continue;
      const type = this.header[0]!;
      const body = this.header.readInt32BE(1) - 4;
      if (type === 0x5a && wanted === 5) continue; // ReadyForQuery: read its status byte too
      this.headerLen = 0;
      if (type === 0x5a) {
        this.skip = body - 1;
        this.onMessage(type, this.header[5]);
      } else {
        this.skip = body;
        this.onMessage(type);
      }
    }
  }
}

const QUERY = 0x51; // 'Q'
const SYNC = 0x53; // 'S'
const IDLE = 0x49; // 'I'

export interface RelayOptions {
  /** The start-up reply (AuthenticationOk … ReadyForQuery) every client gets at once. */
  startupReply: Buffer;
  /** How long a statement may wait for another session's transaction before its session is ended. */
  waitLimitMs: number;
}

export const WAITING_NOTICE =
  'the demo database (PGlite) runs one transaction at a time: this statement waits until the other session ends its transaction';
const WAITING_HINT = 'With PostgreSQL installed, `npm start` runs a real server and sessions do not wait (README, "The demo database").';

/** One client connection relayed to its own connection to the shared backend. */
export class RelaySession {
  private readonly pending: Buffer[] = [];
  private waitTimer?: NodeJS.Timeout;
  private outstanding = 0;
  private idle = true;
  private readonly upstream: Socket;
  private readonly clientScanner = new MessageScanner((type) => {
    if (type === QUERY || type === SYNC) this.outstanding++;
  });
  private readonly backendScanner = new MessageScanner((type, status) => {
    if (type !== 0x5a) return;
    this.outstanding = Math.max(0, this.outstanding - 1);
    this.idle = status === IDLE;
    if (this.outstanding === 0 && this.idle) this.turnstile.release(this);
  });

  constructor(
    private readonly client: Socket,
    backendPath: string,
    leftover: Buffer,
    private readonly turnstile: Turnstile,
    private readonly opts: RelayOptions,
  ) {
    client.write(opts.startupReply);
    if (leftover.length) this.pending.push(leftover);
    this.upstream = connect(backendPath);
    this.upstream.setNoDelay(true);
    this.upstream.on('data', (chunk: Buffer) => {
      this.backendScanner.scan(chunk);
      if (!this.client.write(chunk)) this.upstream.pause();
    });
    this.client.on('drain', () => this.upstream.resume());
    this.client.on('data', (chunk: Buffer) => {
      if (this.turnstile.holds(this)) this.forward(chunk);
      else {
        this.pending.push(chunk);
        if (this.connected) this.askForTurn();
      }
    });
    const close = (): void => this.close();
    this.client.on('close', close);
    this.client.on('error', close);
    this.upstream.on('close', close);
    this.upstream.on('error', close);
    this.upstream.once('connect', () => {
      this.connected = true;
      if (this.pending.length) this.askForTurn();
    });
  }

  private connected = false;

  private askForTurn(): void {
    if (this.turnstile.request(this) || this.waitTimer) return;
    this.client.write(notice(WAITING_NOTICE, WAITING_HINT));
    this.waitTimer = setTimeout(() => {
      const seconds = Math.round(this.opts.waitLimitMs / 1000);
      this.client.end(fatalError('55P03', `the demo database is busy: another session has held a transaction open for more than ${seconds} s`, WAITING_HINT));
      this.close();
    }, this.opts.waitLimitMs);
    this.waitTimer.unref();
  }

  onTurn(): void {
    clearTimeout(this.waitTimer);
    this.waitTimer = undefined;
    for (const chunk of this.pending.splice(0)) this.forward(chunk);
  }

  private forward(chunk: Buffer): void {
    this.clientScanner.scan(chunk);
    this.upstream.write(chunk);
  }

  private closed = false;
  private close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.waitTimer);
    this.turnstile.release(this);
    if (!this.client.writableEnded) this.client.destroy();
    this.upstream.end();
  }
}
