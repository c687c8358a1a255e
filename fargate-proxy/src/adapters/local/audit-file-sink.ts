// The audit sink over local files: one append-only JSON-lines log per session, an index, signed
// digests and, when a remote store is configured, a spool shipped to it in batches.
//
// Writes are synchronous `write(2)` calls on O_APPEND descriptors: when `append` resolves the
// bytes belong to the kernel, so killing the gateway loses nothing acknowledged. fsync is batched
// on a short interval; ack level `store` waits for it (no remote store) or for the remote store.
import { closeSync, fstatSync, fsync, ftruncateSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, statSync, truncateSync, unlinkSync, watch, writeFileSync, writeSync, constants, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { hostname } from 'node:os';
import { randomBytes, type KeyObject } from 'node:crypto';
import { isValidSessionId, type AuditEventInput, type AuditRecord, type CapturedResponse } from '../../../../core/audit/events.js';
import { SessionChains } from '../../../../core/audit/chain.js';
import { digestGenesis, digestHash, signDigest, signDigestWith, toPrivateKey, type DigestEntry, type DigestSigner, type SignedDigest } from '../../../../core/audit/digest.js';
import { AuditUnavailableError, type AuditHealth, type AuditSink, type AuditStoreWriter, type ShippedItem } from '../../../../core/audit/ports.js';
import { ResponseCapture } from '../../../../core/audit/response-capture.js';
import { maskSqlLiterals, prepareSqlLiteralMasking } from '../../../../core/audit/sql-literals.js';
import { loadOrCreateSigningKey } from './audit-signing-key.js';
import { auditPaths, type IndexLine } from './audit-layout.js';
import { cutTornTail, readLogHead, readLogTail } from './audit-log-tail.js';

export interface LocalAuditSinkOptions {
  dir: string;
  /** `local`: handed to the OS; `store`: fsynced (no remote store) or acknowledged by the remote store. */
  ack: 'local' | 'store';
  /** Ed25519 private key (KeyObject or PEM). Default: `<dir>/keys/audit-signing.key`, created on first run. */
  signingKey?: KeyObject | string;
  /** Signs digests instead of `signingKey` (KMS in AWS: the private key never reaches the task). */
  signer?: DigestSigner;
  /** Bytes of each statement's response kept; the rest is hashed and counted. */
  responseCapBytes: number;
  /** Remote store the spool ships to (e.g. DynamoDB + S3). */
  store?: AuditStoreWriter;
  /** How long writes wait to share an fsync. Default: 20 ms with ack `store` (it waits for it), 200 ms with `local`. */
  fsyncIntervalMs?: number;
  digestIntervalMs?: number;
  shipIntervalMs?: number;
  shipBatchSize?: number;
  /** How long ack `store` waits for the remote store before refusing. */
  storeTimeoutMs?: number;
  /** Unshipped spool bytes beyond which the sink refuses events (the store has been down too long). */
  maxSpoolBytes?: number;
  probeIntervalMs?: number;
  /** How long a deferred event (`appendDeferred`) may wait for its session's next event. Default 20 ms. */
  deferMs?: number;
  /** Names this writer's digest chain; default: host, start time and random bits. */
  writer?: string;
}

export interface LocalAuditSink extends AuditSink {
  appendDeferred(e: AuditEventInput): void;
  /** A capture bounded by the configured cap, for the response of one statement. */
  newResponseCapture(): ResponseCapture;
  /** Events written to the spool and not yet acknowledged by the remote store. */
  unshippedCount(): number;
  /** When the oldest event (or digest) not yet acknowledged by the remote store was written, ms since epoch; undefined when none. */
  oldestUnshippedAt(): number | undefined;
}

interface Waiter {
  resolve: () => void;
  reject: (e: Error) => void;
}

interface Rendered {
  record: AuditRecord;
  line: string;
}

interface SpoolEntry {
  item: ShippedItem;
  end: number;
}

/** Asked before every statement: one shared answer rather than a new object each time. */
const HEALTHY: AuditHealth = Object.freeze({ ok: true });

/** The event that closes a session's log: its end, or a refusal at login (a session that never started). */
const endsSession = (r: AuditRecord): boolean => r.type === 'session.end' || (r.type === 'auth.refused' && r.seq === 1);

/** `session.end`'s reason for a session the gateway's crash cut (written by the next start). */
export const GATEWAY_CRASHED = 'gateway_crashed';

const errText = (e: unknown): string => ((e as NodeJS.ErrnoException).code ?? (e as Error).message ?? String(e));

export async function createLocalAuditSink(o: LocalAuditSinkOptions): Promise<LocalAuditSink> {
  await prepareSqlLiteralMasking();
  const paths = auditPaths(o.dir);
  mkdirSync(paths.sessions, { recursive: true, mode: 0o750 });
  const privateKey = o.signer ? undefined : toPrivateKey(o.signingKey ?? loadOrCreateSigningKey(o.dir));
  const dirIdentity = statSync(o.dir).ino;
  // `store` waits for the fsync, so it comes soon; `local` already has the kernel's copy, and each
  // fsync costs ~0.1 ms of CPU per session file (bench/experiments/fsync-cost.ts), so it is batched further.
  const fsyncIntervalMs = o.fsyncIntervalMs ?? (o.ack === 'store' ? 20 : 200);
  const shipIntervalMs = o.shipIntervalMs ?? 200;
  const shipBatchSize = o.shipBatchSize ?? 100;
  const storeTimeoutMs = o.storeTimeoutMs ?? 5000;
  const deferMs = o.deferMs ?? 20;
  const maxSpoolBytes = o.maxSpoolBytes ?? 256 * 1024 * 1024;
  const writer = o.writer ?? `${hostname()}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;

  const appendFlags = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT;
  const openAppend = (path: string): number => openSync(path, appendFlags, 0o640);

  const chains = new SessionChains();
  const sessionFds = new Map<string, number>();
  const postgresSessions = new Set<string>();
  const dirty = new Set<number>();
  let fsyncWaiters: Waiter[] = [];
  let fsyncRunning = false;
  let failure: string | undefined;
  let stickyFailure: string | undefined;
  let closed = false;

  // A crash in the middle of a write leaves a line without its newline; the next line must not run into it.
  cutTornTail(paths.index);
  cutTornTail(paths.digests);
  const indexFd = openAppend(paths.index);
  const digestsFd = openAppend(paths.digests);

  // Digest chain state for this writer.
  let dseq = 0;
  let prevDigest = digestGenesis(writer);
  const undigested = new Map<string, DigestEntry>();

  // Spool (only with a remote store).
  const spoolFd = o.store ? openAppend(paths.spool) : undefined;
  let spoolSize = spoolFd === undefined ? 0 : fstatSync(spoolFd).size;
  let cursor = 0;
  let savedCursor = 0;
  let cursorSavedAt = 0;
  const queue: SpoolEntry[] = [];
  let shipWaiters: Array<Waiter & { end: number; timer: NodeJS.Timeout }> = [];
  let shipping = false;
  let shipError: string | undefined;
  let shipBackoffMs = shipIntervalMs;
  let shipTimer: NodeJS.Timeout | undefined;

  if (spoolFd !== undefined) recoverSpool();

  function recoverSpool(): void {
    try {
      cursor = Number(readFileSync(paths.spoolCursor, 'utf8').trim()) || 0;
    } catch {
      cursor = 0;
    }
    savedCursor = cursor;
    // A crash between truncating the spool and saving the cursor leaves the cursor past the end.
    if (cursor > spoolSize) cursor = 0;
    const text = readFileSync(paths.spool).subarray(cursor);
    let offset = cursor;
    for (const line of text.toString('utf8').split('\n')) {
      const lineBytes = Buffer.byteLength(line);
      offset += lineBytes + 1;
      if (!line) continue;
      try {
        const item = JSON.parse(line) as ShippedItem;
        queue.push({ item, end: Math.min(offset, spoolSize) });
      } catch {
        // A torn line is a write that was never acknowledged: nothing to ship.
      }
    }
    if (spoolSize > 0 && !readFileSync(paths.spool).subarray(spoolSize - 1).equals(Buffer.from('\n'))) {
      writeSync(spoolFd!, '\n');
      spoolSize += 1;
    }
  }

  function fail(reason: string): never {
    failure ??= reason;
    throw new AuditUnavailableError(reason);
  }

  function health(): AuditHealth {
    const reason = stickyFailure ?? failure ?? (o.ack === 'store' && o.store ? shipError : undefined) ?? spoolOverflow();
    return reason ? { ok: false, reason } : HEALTHY;
  }

  function spoolOverflow(): string | undefined {
    const unshipped = spoolSize - cursor;
    return unshipped > maxSpoolBytes ? `audit spool holds ${unshipped} unshipped bytes (store unreachable: ${shipError ?? 'unknown'})` : undefined;
  }

  function checkDirectory(): void {
    let ino: number;
    try {
      ino = statSync(o.dir).ino;
    } catch (e) {
      stickyFailure ??= `audit directory ${o.dir} is gone (${errText(e)})`;
      return;
    }
    if (ino !== dirIdentity) stickyFailure ??= `audit directory ${o.dir} was replaced`;
  }

  // A moved or deleted audit directory must stop statements at once, not at the next probe. inotify
  // on the parent reports it before any later client bytes are read (the kernel queues the event at
  // rename/unlink time, and epoll hands ready descriptors over in order), so appends need not stat
  // the directory themselves. Without a watch (inotify exhausted, unsupported), every append stats.
  let directoryWatch: FSWatcher | undefined;
  try {
    const name = basename(o.dir);
    directoryWatch = watch(dirname(o.dir), { persistent: false }, (_event, changed) => {
      if (changed === null || changed === name) checkDirectory();
    });
    directoryWatch.on('error', () => {
      directoryWatch?.close();
      directoryWatch = undefined;
      checkDirectory();
    });
  } catch {
    directoryWatch = undefined;
  }

  function probe(): void {
    checkDirectory();
    if (stickyFailure) return;
    try {
      writeFileSync(paths.probe, new Date().toISOString());
      if (failure) {
        // The disk accepts writes again: reopen session logs lazily rather than trust old descriptors.
        for (const fd of sessionFds.values()) closeQuietly(fd);
        sessionFds.clear();
        failure = undefined;
      }
    } catch (e) {
      failure ??= `audit directory ${o.dir} is not writable (${errText(e)})`;
    }
  }

  function closeQuietly(fd: number): void {
    try {
      closeSync(fd);
    } catch {
      /* already gone */
    }
    dirty.delete(fd);
  }

  /**
   * Sessions whose log already ended (session.end, or refused at login) when an event came for them
   * (an approval cancelled as the session closed): such an event continues the chain on disk, and
   * the log is closed again right after it.
   */
  const reopened = new Set<string>();

  /**
   * The session's open log, opened (and its chain resumed from disk) on first use. Every event is
   * chained only after this: a session whose log was closed, or written by a gateway before a
   * restart, continues its chain and never starts a second one at seq 1.
   */
  function sessionFd(sessionId: string): number {
    let fd = sessionFds.get(sessionId);
    if (fd !== undefined) return fd;
    try {
      resumeChain(sessionId, paths.session(sessionId));
      fd = openAppend(paths.session(sessionId));
    } catch (e) {
      fail(`cannot write audit log for session ${sessionId} (${errText(e)})`);
    }
    sessionFds.set(sessionId, fd);
    return fd;
  }

  function resumeChain(sessionId: string, path: string): void {
    const tail = readLogTail(path);
    if (!tail) return;
    // Bytes of a write this or an earlier process did not finish: nothing acknowledged or signed them.
    if (tail.tornBytes > 0) truncateSync(path, tail.size - tail.tornBytes);
    // In memory the chain may be ahead of the disk (deferred events not yet written): memory wins.
    if (!tail.last || chains.head(sessionId)) return;
    chains.resume(sessionId, { seq: tail.last.seq, hash: tail.last.hash });
    if (endsSession(tail.last)) reopened.add(sessionId);
    // Literal masking must not lapse for a PostgreSQL session's late events.
    const first = tail.last.seq === 1 ? tail.last : readLogHead(path);
    if (first?.type === 'session.start' && first.targetKind === 'postgres') postgresSessions.add(sessionId);
  }

  function capResponse(r: CapturedResponse): CapturedResponse {
    // What was kept is never more than what was sent.
    if (!r.chunks || r.totalBytes <= o.responseCapBytes) return r;
    const kept = r.chunks.reduce((n, c) => n + Buffer.byteLength(c, r.encoding === 'base64' ? 'base64' : 'utf8'), 0);
    if (kept <= o.responseCapBytes) return r;
    // The gateway kept more than configured: re-cut, keeping its hash and counts over everything sent.
    const capture = new ResponseCapture(o.responseCapBytes);
    for (const c of r.chunks) capture.add(r.encoding === 'base64' ? Buffer.from(c, 'base64') : c);
    const cut = capture.finish();
    return { ...r, chunks: cut.chunks, truncated: true };
  }

  function prepare(input: AuditEventInput): AuditEventInput {
    if (input.type === 'session.start' && input.targetKind === 'postgres') postgresSessions.add(input.sessionId);
    // Copied only when something changed: most statements and responses need nothing masked or cut.
    if (input.type === 'statement' && postgresSessions.has(input.sessionId)) {
      const text = maskSqlLiterals(input.text);
      return text === input.text ? input : { ...input, text };
    }
    if (input.type === 'statement.outcome' && input.response) {
      const response = capResponse(input.response);
      return response === input.response ? input : { ...input, response };
    }
    return input;
  }

  function indexLineFor(r: AuditRecord): IndexLine | undefined {
    switch (r.type) {
      case 'session.start':
        return {
          sessionId: r.sessionId,
          kind: 'start',
          at: r.at,
          principal: r.principal.id,
          groups: r.principal.groups,
          target: r.target,
          targetKind: r.targetKind,
          client: `${r.client.address}:${r.client.port}`,
        };
      case 'auth.refused':
        // After a session started, a refusal (a protocol violation, an oversized message) is not a login refusal.
        if (r.seq > 1) return { sessionId: r.sessionId, kind: 'denied', at: r.at };
        return { sessionId: r.sessionId, kind: 'refused', at: r.at, target: r.target, client: `${r.client.address}:${r.client.port}`, reason: r.reason };
      case 'session.end':
        return { sessionId: r.sessionId, kind: 'end', at: r.at, statements: r.statements, reason: r.reason };
      // A statement refused after a reviewer's denial has both events: the reader counts it once by its id.
      case 'statement':
        return r.decision.effect === 'deny' ? { sessionId: r.sessionId, kind: 'denied', at: r.at, statementId: r.statementId } : undefined;
      case 'approval':
        return r.state === 'denied' || r.state === 'expired' ? { sessionId: r.sessionId, kind: 'denied', at: r.at, statementId: r.statementId } : undefined;
      default:
        return undefined;
    }
  }

  function writeLine(fd: number, line: string): void {
    const buf = Buffer.from(line, 'utf8');
    const n = writeSync(fd, buf);
    if (n !== buf.length) throw Object.assign(new Error(`short write (${n} of ${buf.length} bytes)`), { code: 'ESHORT' });
    dirty.add(fd);
  }

  /**
   * Spools items in one write(2) and queues them for shipping; returns the offset past the last.
   * An item is queued only once its line is written, so the queue never holds what a restart
   * would not find in the spool.
   */
  function toSpool(items: Array<{ item: ShippedItem; json: string }>): number {
    const text = items.length === 1 ? `${items[0]!.json}\n` : `${items.map((i) => i.json).join('\n')}\n`;
    writeLine(spoolFd!, text);
    for (const { item, json } of items) {
      spoolSize += Buffer.byteLength(json) + 1;
      queue.push({ item, end: spoolSize });
    }
    return spoolSize;
  }

  function writeDigest(): void {
    if (undigested.size === 0) return;
    if (o.signer) {
      signing = signing.then(() => signPending(o.signer!));
      return;
    }
    const unsigned = { v: 1 as const, writer, dseq: dseq + 1, at: new Date().toISOString(), prev: prevDigest, sessions: [...undigested.values()] };
    recordDigest(signDigest(unsigned, privateKey!));
    undigested.clear();
  }

  // An external signer answers asynchronously: digests are signed one at a time (each names the
  // hash of the one before), from the heads gathered when its turn comes.
  let signing: Promise<void> = Promise.resolve();
  async function signPending(signer: DigestSigner): Promise<void> {
    if (undigested.size === 0 || closed) return;
    const taken = new Map(undigested);
    undigested.clear();
    const unsigned = { v: 1 as const, writer, dseq: dseq + 1, at: new Date().toISOString(), prev: prevDigest, sessions: [...taken.values()] };
    let digest: SignedDigest;
    try {
      digest = await signDigestWith(unsigned, signer);
    } catch {
      // The signer is unreachable: these heads wait for the next digest (newer heads win).
      for (const [id, entry] of taken) if (!undigested.has(id)) undigested.set(id, entry);
      return;
    }
    try {
      recordDigest(digest);
    } catch (e) {
      failure ??= `cannot write audit digest (${errText(e)})`;
    }
  }

  function recordDigest(digest: SignedDigest): void {
    writeLine(digestsFd, `${JSON.stringify(digest)}\n`);
    if (spoolFd !== undefined) {
      const item: ShippedItem = { kind: 'digest', digest };
      toSpool([{ item, json: JSON.stringify(item) }]);
    }
    dseq = digest.dseq;
    prevDigest = digestHash(digest);
    scheduleFsync();
  }

  function writeDigestGuarded(): void {
    try {
      writeDigest();
    } catch (e) {
      failure ??= `cannot write audit digest (${errText(e)})`;
    }
  }

  // fsync: batched, so many events share one disk flush.
  let fsyncTimer: NodeJS.Timeout | undefined;
  function scheduleFsync(): void {
    fsyncTimer ??= setTimeout(runFsync, fsyncIntervalMs);
  }
  function runFsync(): void {
    fsyncTimer = undefined;
    if (fsyncRunning) return scheduleFsync();
    const fds = [...dirty];
    dirty.clear();
    const waiters = fsyncWaiters;
    fsyncWaiters = [];
    fsyncRunning = true;
    let pending = fds.length;
    let error: string | undefined;
    const done = (): void => {
      fsyncRunning = false;
      if (error) {
        failure ??= `audit fsync failed (${error})`;
        for (const w of waiters) w.reject(new AuditUnavailableError(failure));
      } else for (const w of waiters) w.resolve();
    };
    if (pending === 0) return done();
    for (const fd of fds)
      fsync(fd, (err) => {
        // EBADF: the descriptor was closed at session end after its own flush.
        if (err && err.code !== 'EBADF') error ??= errText(err);
        if (--pending === 0) done();
      });
  }
  function flushed(): Promise<void> {
    return new Promise((resolve, reject) => {
      fsyncWaiters.push({ resolve, reject });
      scheduleFsync();
    });
  }

  // Shipping: whatever is queued goes in one batch, so concurrent sessions share a store write.
  function scheduleShip(delayMs: number): void {
    if (!o.store || shipping || closed) return;
    if (shipTimer) {
      if (delayMs > 0) return;
      clearTimeout(shipTimer);
    }
    shipTimer = setTimeout(() => {
      shipTimer = undefined;
      void ship();
    }, delayMs);
  }

  async function ship(): Promise<void> {
    if (!o.store || shipping) return;
    shipping = true;
    try {
      while (queue.length > 0) {
        const batch = queue.slice(0, shipBatchSize);
        try {
          await o.store.write(batch.map((e) => e.item));
        } catch (e) {
          shipError = `audit store write failed (${errText(e)})`;
          shipBackoffMs = Math.min(shipBackoffMs * 2, 5000);
          return;
        }
        shipError = undefined;
        shipBackoffMs = shipIntervalMs;
        queue.splice(0, batch.length);
        cursor = batch[batch.length - 1]!.end;
        // Saving the cursor is a file write and a rename; under load a pass ships many batches, so
        // it is saved at most once per ship interval and when the pass ends.
        if (Date.now() - cursorSavedAt >= shipIntervalMs) saveCursorGuarded();
        const ready = shipWaiters.filter((w) => w.end <= cursor);
        shipWaiters = shipWaiters.filter((w) => w.end > cursor);
        for (const w of ready) {
          clearTimeout(w.timer);
          w.resolve();
        }
      }
      compactSpool();
    } finally {
      saveCursorGuarded();
      shipping = false;
      if (queue.length > 0) scheduleShip(shipError ? shipBackoffMs : 0);
    }
  }

  function saveCursor(): void {
    writeFileSync(paths.spoolCursorTmp, String(cursor));
    renameSync(paths.spoolCursorTmp, paths.spoolCursor);
    savedCursor = cursor;
    cursorSavedAt = Date.now();
  }

  function saveCursorGuarded(): void {
    if (cursor === savedCursor) return;
    try {
      saveCursor();
    } catch (e) {
      // Shipped but not remembered: a restart ships these again, which stores accept (idempotent writes).
      failure ??= `cannot save audit spool cursor (${errText(e)})`;
    }
  }

  function compactSpool(): void {
    // Everything queued was acknowledged; bytes past the cursor can only be a torn, unacknowledged line.
    if (spoolFd === undefined || queue.length > 0 || shipWaiters.length > 0 || spoolSize < 1024 * 1024) return;
    try {
      ftruncateSync(spoolFd, 0);
    } catch {
      return; // an ever-growing spool is harmless; the cursor still says what was shipped
    }
    spoolSize = 0;
    cursor = 0;
    saveCursorGuarded();
  }

  function shipped(end: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        shipWaiters = shipWaiters.filter((w) => w.timer !== timer);
        reject(new AuditUnavailableError(`audit store did not acknowledge within ${storeTimeoutMs} ms${shipError ? `: ${shipError}` : ''}`));
      }, storeTimeoutMs);
      shipWaiters.push({ resolve, reject, end, timer });
      scheduleShip(0);
    });
  }

  const fsyncKeepalive = setInterval(() => dirty.size > 0 && scheduleFsync(), Math.max(fsyncIntervalMs, 100));
  const digestTimer = setInterval(writeDigestGuarded, o.digestIntervalMs ?? 5000);
  const probeTimer = setInterval(probe, o.probeIntervalMs ?? 1000);
  const shipTicker = o.store ? setInterval(() => queue.length > 0 && scheduleShip(shipError ? shipBackoffMs : 0), shipIntervalMs) : undefined;
  for (const t of [fsyncKeepalive, digestTimer, probeTimer, shipTicker]) t?.unref();
  if (queue.length > 0) scheduleShip(0);

  /** Refuses an event the sink cannot take now; the caller must not go ahead with what it records. */
  function admit(input: AuditEventInput): void {
    if (closed) throw new AuditUnavailableError('audit sink is closed');
    if (!isValidSessionId(input.sessionId)) throw new AuditUnavailableError(`invalid session id for audit`);
    if (!directoryWatch) checkDirectory();
    const h = health();
    if (!h.ok) throw new AuditUnavailableError(h.reason);
  }

  /** Chains and writes one event (with the session's deferred ones); returns it and its spool offset. */
  function write(input: AuditEventInput): { record: AuditRecord; spoolEnd: number } {
    admit(input);
    sessionFd(input.sessionId);
    const { record, line } = chains.nextWithLine(prepare(input));
    return { record, spoolEnd: writeSessionLines(record.sessionId, [...takeDeferred(record.sessionId), { record, line }]) };
  }

  async function append(input: AuditEventInput): Promise<AuditRecord> {
    const { record, spoolEnd } = write(input);
    if (o.ack === 'store') {
      if (o.store) await shipped(spoolEnd);
      else await flushed();
    } else if (o.store) scheduleShip(shipIntervalMs);
    return record;
  }

  /** With ack `local` the write is the acknowledgement: no promise to wait for. */
  function appendNow(input: AuditEventInput): AuditRecord {
    const { record } = write(input);
    if (o.store) scheduleShip(shipIntervalMs);
    return record;
  }

  // Deferred events (a statement's outcome, which nothing waits for) are chained at once, so the
  // chain keeps the order they happened in, and written with the session's next event, at the
  // latest after `deferMs`: one write(2) carries an outcome and the next statement.
  const deferred = new Map<string, Rendered[]>();
  let deferTimer: NodeJS.Timeout | undefined;

  function appendDeferred(input: AuditEventInput): void {
    admit(input);
    sessionFd(input.sessionId);
    const rendered = chains.nextWithLine(prepare(input));
    chains.commit(rendered.record);
    requeue(input.sessionId, [rendered]);
  }

  function requeue(sessionId: string, events: Rendered[]): void {
    if (events.length === 0) return;
    const pending = deferred.get(sessionId);
    if (pending) pending.push(...events);
    else deferred.set(sessionId, events);
    deferTimer ??= setTimeout(writeDeferred, deferMs);
  }

  function takeDeferred(sessionId: string): Rendered[] {
    const pending = deferred.get(sessionId);
    if (!pending) return [];
    deferred.delete(sessionId);
    return pending;
  }

  /** Writes every deferred event. On failure the events stay queued (the sink reports the failure) and go with the next write. */
  function writeDeferred(): void {
    if (deferTimer) clearTimeout(deferTimer);
    deferTimer = undefined;
    let failed = false;
    for (const sessionId of [...deferred.keys()]) {
      try {
        writeSessionLines(sessionId, takeDeferred(sessionId));
      } catch {
        failed = true;
      }
    }
    // The sink reports the failure through health; unwritten events wait for the disk to come back.
    if (failed && deferred.size > 0 && !closed) {
      if (deferTimer) clearTimeout(deferTimer);
      deferTimer = setTimeout(writeDeferred, Math.max(deferMs, 1000));
    }
  }

  /**
   * Appends rendered events of one session in one write(2), then indexes, spools and digests them.
   * Returns the spool offset past the last one. Throws AuditUnavailableError; when the session log
   * itself could not be written, its deferred events (already chained) are queued again.
   */
  function writeSessionLines(sessionId: string, events: Rendered[]): number {
    try {
      writeLine(sessionFd(sessionId), events.length === 1 ? `${events[0]!.line}\n` : `${events.map((e) => e.line).join('\n')}\n`);
    } catch (e) {
      const committed = chains.head(sessionId)?.seq ?? 0;
      requeue(sessionId, events.filter((ev) => ev.record.seq <= committed));
      fail(`cannot write audit log for session ${sessionId} (${errText(e)})`);
    }
    let spoolEnd = 0;
    const last = events[events.length - 1]!.record;
    // Deferred events were committed when chained; an event appended now is committed once written.
    if (last.seq > (chains.head(sessionId)?.seq ?? 0)) chains.commit(last);
    undigested.set(sessionId, { sessionId, seq: last.seq, hash: last.hash });
    try {
      // Spool first: a session's events ship even if the (local-only) index cannot be written.
      if (spoolFd !== undefined) spoolEnd = toSpool(events.map(({ record, line }) => ({ item: { kind: 'event', record }, json: `{"kind":"event","record":${line}}` })));
      for (const { record } of events) {
        const idx = indexLineFor(record);
        if (idx) writeLine(indexFd, `${JSON.stringify(idx)}\n`);
      }
      if (endsSession(last) || reopened.has(sessionId)) endSession(sessionId);
    } catch (e) {
      fail(`cannot write audit index or spool (${errText(e)})`);
    }
    scheduleFsync();
    return spoolEnd;
  }

  /** A finished session gets its digest now rather than at the next tick, and releases its descriptor. */
  function endSession(sessionId: string): void {
    if (!closingOut) writeDigest();
    const fd = sessionFds.get(sessionId);
    sessionFds.delete(sessionId);
    postgresSessions.delete(sessionId);
    reopened.delete(sessionId);
    chains.forget(sessionId);
    if (fd !== undefined) {
      // Flush before closing so the session's last events share the batched fsync guarantee.
      dirty.delete(fd);
      fsync(fd, () => closeQuietly(fd));
    }
  }

  async function close(): Promise<void> {
    if (closed) return;
    for (const t of [fsyncKeepalive, digestTimer, probeTimer, shipTicker]) if (t) clearInterval(t);
    directoryWatch?.close();
    writeDeferred();
    try {
      writeDigest();
    } catch {
      /* reported by health already or nothing more we can do */
    }
    await signing;
    await flushed().catch(() => undefined);
    if (o.store) {
      if (shipTimer) clearTimeout(shipTimer);
      shipTimer = undefined;
      while (shipping) await new Promise((r) => setTimeout(r, 5));
      await ship().catch(() => undefined);
    }
    closed = true;
    if (deferTimer) clearTimeout(deferTimer);
    if (fsyncTimer) clearTimeout(fsyncTimer);
    if (shipTimer) clearTimeout(shipTimer);
    for (const w of shipWaiters) {
      clearTimeout(w.timer);
      w.reject(new AuditUnavailableError('audit sink closed before the store acknowledged'));
    }
    shipWaiters = [];
    for (const fd of sessionFds.values()) closeQuietly(fd);
    sessionFds.clear();
    for (const fd of [indexFd, digestsFd, spoolFd]) if (fd !== undefined) closeQuietly(fd);
  }

  // Close out what a crash left open: a session without its end gets one, chained and signed.
  let closingOut = true;
  try {
    closeOutCrashedSessions();
  } finally {
    closingOut = false;
  }
  writeDigestGuarded();

  /**
   * Sessions the index shows open, and session logs it does not list at all (a crash between the
   * two writes), are what a crash cut: no live session survives its gateway. Each gets a chained
   * `session.end` (reason gateway_crashed) and the digest written after them signs their heads.
   */
  function closeOutCrashedSessions(): void {
    const open = new Set<string>();
    const indexed = new Set<string>();
    for (const line of readFileSync(paths.index, 'utf8').split('\n')) {
      let idx: IndexLine;
      try {
        idx = JSON.parse(line) as IndexLine;
      } catch {
        continue;
      }
      indexed.add(idx.sessionId);
      if (idx.kind === 'start') open.add(idx.sessionId);
      else if (idx.kind === 'end' || idx.kind === 'refused') open.delete(idx.sessionId);
    }
    const unindexed = readdirSync(paths.sessions)
      .filter((n) => n.endsWith('.jsonl'))
      .map((n) => n.slice(0, -'.jsonl'.length))
      .filter((id) => isValidSessionId(id) && !indexed.has(id));
    for (const sessionId of [...open, ...unindexed]) {
      try {
        closeOut(sessionId, indexed.has(sessionId), open.has(sessionId));
      } catch (e) {
        // The sink reports the failure through health; the next start tries again.
        failure ??= `cannot close out session ${sessionId} (${errText(e)})`;
      }
    }
  }

  function closeOut(sessionId: string, isIndexed: boolean, isOpen: boolean): void {
    // A listed session whose log is gone is left for `audit verify` to report, not recreated here.
    const last = readLogTail(paths.session(sessionId))?.last;
    if (!last) {
      // A log created just before a crash, its first record unwritten (or torn and cut): no event of
      // it was acknowledged, so nothing was forwarded for it and it holds nothing to keep.
      if (!isIndexed) removeIfRecordless(paths.session(sessionId));
      return;
    }
    const records = readRecords(sessionId);
    if (!isIndexed) {
      for (const r of records) {
        const idx = indexLineFor(r);
        if (idx) writeLine(indexFd, `${JSON.stringify(idx)}\n`);
      }
    }
    if (endsSession(last)) {
      // Ended, but the crash came before its index line, and perhaps before the digest of its end.
      if (isOpen && last.type === 'session.end') writeLine(indexFd, `${JSON.stringify(indexLineFor(last))}\n`);
      undigested.set(sessionId, { sessionId, seq: last.seq, hash: last.hash });
      return;
    }
    const first = records[0];
    write({
      type: 'session.end',
      sessionId,
      reason: GATEWAY_CRASHED,
      statements: records.filter((r) => r.type === 'statement').length,
      // What the trail holds: the row data of recorded outcomes; what the client sent is not recorded.
      bytesIn: 0,
      bytesOut: records.reduce((n, r) => n + (r.type === 'statement.outcome' ? r.bytes : 0), 0),
      durationMs: first ? Math.max(0, Date.parse(last.at) - Date.parse(first.at)) : 0,
    });
  }

  function removeIfRecordless(path: string): void {
    const bytes = readFileSync(path);
    if (!bytes.includes(0x0a)) unlinkSync(path);
  }

  function readRecords(sessionId: string): AuditRecord[] {
    const out: AuditRecord[] = [];
    for (const line of readFileSync(paths.session(sessionId), 'utf8').split('\n')) {
      try {
        if (line) out.push(JSON.parse(line) as AuditRecord);
      } catch {
        /* damage is for verification to report */
      }
    }
    return out;
  }

  return {
    append,
    appendDeferred,
    ...(o.ack === 'local' ? { appendNow } : {}),
    health,
    close,
    newResponseCapture: () => new ResponseCapture(o.responseCapBytes),
    unshippedCount: () => queue.length,
    oldestUnshippedAt: () => {
      const oldest = queue[0]?.item;
      return oldest && Date.parse(oldest.kind === 'event' ? oldest.record.at : oldest.digest.at);
    },
  };
}
