// PGlite is one backend shared by every connection. pglite-socket interleaves connections message
// by message, so two clients using the extended protocol at once can run each other's unnamed
// statements. The relay gives one connection at a time the floor, from its first message until
// the backend is idle again (ReadyForQuery 'I' with nothing outstanding), so whole request
// cycles and whole transactions never interleave.
import { connect, type Socket } from 'node:net';

/** Who may talk to the shared backend now; the rest wait in arrival order. */
export class Turnstile {
  private holder?: RelaySession;
  private readonly waiting: RelaySession[] = [];

  request(s: RelaySession): void {
    if (this.holder === s || this.waiting.includes(s)) return;
    if (this.holder) this.waiting.push(s);
    else this.grant(s);
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

/** One client connection relayed to its own connection to the shared backend. */
export class RelaySession {
  private readonly pending: Buffer[] = [];
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
  private startup?: Buffer;

  constructor(
    private readonly client: Socket,
    backendPath: string,
    startup: Buffer,
    leftover: Buffer,
    private readonly turnstile: Turnstile,
  ) {
    this.startup = startup;
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
        this.turnstile.request(this);
      }
    });
    const close = (): void => this.close();
    this.client.on('close', close);
    this.client.on('error', close);
    this.upstream.on('close', close);
    this.upstream.on('error', close);
    this.upstream.once('connect', () => this.turnstile.request(this));
  }

  onTurn(): void {
    if (this.startup) {
      // The backend's own start-up reply (AuthenticationOk … ReadyForQuery) ends with one 'Z'.
      this.upstream.write(this.startup);
      this.startup = undefined;
      this.outstanding++;
    }
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
    this.turnstile.release(this);
    this.client.destroy();
    this.upstream.end();
  }
}
