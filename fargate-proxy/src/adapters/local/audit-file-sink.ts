// The audit sink over local files: one append-only journal per gateway process holding every
// session's events (each session still its own hash chain), an index, signed digests and, when a
// remote store is configured, the journal doubles as the spool shipped to it in batches.
//
// Writes are synchronous `write(2)` calls on O_APPEND descriptors: when an event is acknowledged
// its bytes belong to the kernel, so killing the gateway loses nothing acknowledged. Events of one
// event-loop turn share one write(2) (every session's); one fsync of the journal per window; ack
// level `store` waits for it (no remote store) or for the remote store.
import { closeSync, existsSync, fsync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, readdirSync, statSync, truncateSync, unlinkSync, watch, writeFileSync, writeSync, constants, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { hostname } from 'node:os';
import { randomBytes, type KeyObject } from 'node:crypto';
import { isValidSessionId, type AuditEventInput, type AuditRecord, type CapturedResponse } from '../../../../core/audit/events.js';
import { SessionChains, type ChainHead } from '../../../../core/audit/chain.js';
import { digestGenesis, digestHash, signDigest, signDigestWith, toPrivateKey, type DigestEntry, type DigestSigner, type SignedDigest } from '../../../../core/audit/digest.js';
import { AuditUnavailableError, type AuditHealth, type AuditSink, type AuditStoreWriter, type ShippedItem } from '../../../../core/audit/ports.js';
import { ResponseCapture } from '../../../../core/audit/response-capture.js';
import { maskSqlLiterals, prepareSqlLiteralMasking } from '../../../../core/audit/sql-literals.js';
import { loadOrCreateSigningKey } from './audit-signing-key.js';
import { auditPaths, indexLineFor, type IndexLine } from './audit-layout.js';
import { cutTornTail, readLogHead, readLogTail } from './audit-log-tail.js';
import { forEachJournalLine, listJournals, newJournalName, parseJournalLine, readJournalStates, shippedItemOf, writeJournalStates, type JournalStates } from './audit-journal.js';

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
  /** Remote store the journal ships to (e.g. DynamoDB + S3). */
  store?: AuditStoreWriter;
  /** How long writes wait to share an fsync. Default: 20 ms with ack `store` (it waits for it), 200 ms with `local`. */
  fsyncIntervalMs?: number;
  digestIntervalMs?: number;
  shipIntervalMs?: number;
  shipBatchSize?: number;
  /** How long ack `store` waits for the remote store before refusing. */
  storeTimeoutMs?: number;
  /** Unshipped journal bytes beyond which the sink refuses events (the store has been down too long). */
  maxSpoolBytes?: number;
  probeIntervalMs?: number;
  /** How long a deferred event (`appendDeferred`) may wait for the next write. Default 20 ms. */
  deferMs?: number;
  /** Names this writer's digest chain; default: host, start time and random bits. */
  writer?: string;
}

export interface LocalAuditSink extends AuditSink {
  appendDeferred(e: AuditEventInput): void;
  /** A capture bounded by the configured cap, for the response of one statement. */
  newResponseCapture(): ResponseCapture;
  /** Events (and digests) written to the journal and not yet acknowledged by the remote store. */
  unshippedCount(): number;
  /** When the oldest event (or digest) not yet acknowledged by the remote store was written, ms since epoch; undefined when none. */
  oldestUnshippedAt(): number | undefined;
}

interface Waiter {
  resolve: () => void;
  reject: (e: Error) => void;
}

/** `appendNow`'s caller: it learns the outcome from the call itself, so it needs no callbacks. */
const NOW = Symbol('appendNow');

/** An event chained (its head committed in memory) and not yet written. */
interface Pending {
  record: AuditRecord;
  /** The record's line in UTF-8 with its newline: the bytes its hash was computed over, written as they are. */
  bytes: Buffer;
  /** Someone waits for it (append, appendNow); deferred events have none and survive a failed write. */
  waiter?: Waiter | typeof NOW;
}

interface QueueEntry {
  item: ShippedItem;
  journal: string;
  /** Journal offset past its line: the journal's shipped mark once it is acknowledged. */
  end: number;
  bytes: number;
  /** Position in the queue since start, so waiters compare one number. */
  n: number;
}

/** A session's chain as the journals left it, gathered at start for the crash close-out. */
interface SeenSession {
  first: AuditRecord;
  last: AuditRecord;
  statements: number;
  bytesOut: number;
  indexLines: IndexLine[];
}

/** Asked before every statement: one shared answer rather than a new object each time. */
const HEALTHY: AuditHealth = Object.freeze({ ok: true });

/** The event that closes a session's chain: its end, or a refusal at login (a session that never started). */
const endsSession = (r: AuditRecord): boolean => r.type === 'session.end' || (r.type === 'auth.refused' && r.seq === 1);

/** `session.end`'s reason for a session the gateway's crash cut (written by the next start). */
export const GATEWAY_CRASHED = 'gateway_crashed';

/** Heads of sessions ended in this process, kept for the late event that continues a chain after its end. */
const ENDED_HEADS_KEPT = 4096;

const errText = (e: unknown): string => ((e as NodeJS.ErrnoException).code ?? (e as Error).message ?? String(e));

export async function createLocalAuditSink(o: LocalAuditSinkOptions): Promise<LocalAuditSink> {
  await prepareSqlLiteralMasking();
  const paths = auditPaths(o.dir);
  mkdirSync(paths.journals, { recursive: true, mode: 0o750 });
  const privateKey = o.signer ? undefined : toPrivateKey(o.signingKey ?? loadOrCreateSigningKey(o.dir));
  const dirIdentity = statSync(o.dir).ino;
  // `store` waits for the fsync, so it comes soon; `local` already has the kernel's copy, so it is batched further.
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
  const postgresSessions = new Set<string>();
  /** Sessions whose chain is in memory and not ended: a clean close with none left seals the journal. */
  const live = new Set<string>();
  /** Sessions whose ending event was chained: their chain is released once it is written. */
  const closing = new Set<string>();
  const endedHeads = new Map<string, { head: ChainHead; postgres: boolean }>();
  /** Logs of versions before the journal: read for chains they hold, never written. */
  const legacySessions = existsSync(paths.sessions);
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

  const states: JournalStates = readJournalStates(paths.journalState);
  const earlier = listJournals(paths.journals);
  // Nothing writes an earlier journal any more: a torn last write there was never acknowledged.
  for (const name of earlier) if (!states[name]?.sealed) cutTornTail(paths.journal(name));
  const journalName = newJournalName();
  const journalFd = openAppend(paths.journal(journalName));
  let journalSize = 0;
  /** A write failed part-way: the journal is cut back to `journalSize` before the next one. */
  let journalDamaged = false;

  // Digest chain state for this writer.
  let dseq = 0;
  let prevDigest = digestGenesis(writer);
  const undigested = new Map<string, DigestEntry>();

  // Shipping (only with a remote store): the journal is the spool; `states` says how far each journal shipped.
  const queue: QueueEntry[] = [];
  let queued = 0;
  let shippedN = 0;
  let unshippedBytes = 0;
  let statesSavedAt = 0;
  let statesDirty = false;
  let shipWaiters: Array<Waiter & { n: number; timer: NodeJS.Timeout }> = [];
  let shipping = false;
  let shipError: string | undefined;
  let shipBackoffMs = shipIntervalMs;
  let shipTimer: NodeJS.Timeout | undefined;

  function enqueue(item: ShippedItem, journal: string, end: number, bytes: number): number {
    queue.push({ item, journal, end, bytes, n: ++queued });
    unshippedBytes += bytes;
    return queued;
  }

  if (o.store) {
    states[journalName] = { shipped: 0 };
    for (const name of earlier) {
      const shipped = states[name]?.shipped;
      if (shipped === undefined) continue;
      forEachJournalLine(paths.journal(name), shipped, (line, start, end) => {
        const item = shippedItemOf(parseJournalLine(line));
        if (item) enqueue(item, name, end, end - start);
      });
    }
    adoptLegacySpool();
  }
  saveStates();

  /** A spool written before the journal: its unshipped lines (already in the shipped form) move into this journal. */
  function adoptLegacySpool(): void {
    if (!existsSync(paths.spool)) return;
    let cursor = 0;
    try {
      cursor = Number(readFileSync(paths.spoolCursor, 'utf8').trim()) || 0;
    } catch {
      cursor = 0;
    }
    const items: Array<{ item: ShippedItem; line: Buffer }> = [];
    forEachJournalLine(paths.spool, cursor, (line) => {
      const parsed = parseJournalLine(line);
      if ('item' in parsed) items.push({ item: parsed.item, line: Buffer.concat([line, Buffer.from('\n')]) });
    });
    for (const { item, line } of items) {
      writeJournal(line);
      enqueue(item, journalName, journalSize, line.length);
    }
    fsyncSync(journalFd);
    for (const path of [paths.spool, paths.spoolCursor]) if (existsSync(path)) unlinkSync(path);
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
    return unshippedBytes > maxSpoolBytes ? `audit journal holds ${unshippedBytes} unshipped bytes (store unreachable: ${shipError ?? 'unknown'})` : undefined;
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
      // The journal itself must take bytes again: a full disk fails here, not only at the next event.
      if (journalDamaged) repairJournal();
      writeFileSync(paths.probe, new Date().toISOString());
      failure = undefined;
    } catch (e) {
      failure ??= `audit directory ${o.dir} is not writable (${errText(e)})`;
    }
  }

  /** Appends to the journal; a write that fails part-way is cut off before the next one. */
  function writeJournal(buf: Buffer): void {
    if (journalDamaged) repairJournal();
    try {
      writeLine(journalFd, buf);
    } catch (e) {
      journalDamaged = true;
      throw e;
    }
    journalSize += buf.length;
  }

  function repairJournal(): void {
    ftruncateSync(journalFd, journalSize);
    journalDamaged = false;
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
   * Makes sure the session's chain head is in memory before an event is chained: a session ended
   * in this process (an approval cancelled as it closed), or written by a gateway before a
   * restart, continues its chain and never starts a second one at seq 1.
   */
  function ensureHead(input: AuditEventInput): void {
    const sessionId = input.sessionId;
    if (chains.head(sessionId)) return;
    live.add(sessionId);
    const ended = endedHeads.get(sessionId);
    if (ended) {
      endedHeads.delete(sessionId);
      chains.resume(sessionId, ended.head);
      if (ended.postgres) postgresSessions.add(sessionId);
      closing.add(sessionId);
      return;
    }
    // A session's first event in this process: only an event that starts a session needs no search
    // of the journals (they are not indexed by session), just the cheap look for an older log.
    const starts = input.type === 'session.start' || input.type === 'auth.refused';
    const found = resumeFromLegacy(sessionId) ?? (starts ? undefined : headInJournals(sessionId));
    if (!found) return;
    chains.resume(sessionId, { seq: found.last.seq, hash: found.last.hash });
    if (found.postgres) postgresSessions.add(sessionId);
    if (endsSession(found.last)) closing.add(sessionId);
  }

  function resumeFromLegacy(sessionId: string): { last: AuditRecord; postgres: boolean } | undefined {
    if (!legacySessions) return undefined;
    const path = paths.session(sessionId);
    let tail;
    try {
      tail = readLogTail(path);
    } catch (e) {
      fail(`cannot read audit log for session ${sessionId} (${errText(e)})`);
    }
    if (!tail) return undefined;
    // Bytes of a write an earlier process did not finish: nothing acknowledged or signed them.
    if (tail.tornBytes > 0) truncateSync(path, tail.size - tail.tornBytes);
    if (!tail.last) return undefined;
    const later = headInJournals(sessionId);
    if (later) return later;
    const first = tail.last.seq === 1 ? tail.last : readLogHead(path);
    return { last: tail.last, postgres: first?.type === 'session.start' && first.targetKind === 'postgres' };
  }

  /** The session's last record in the journals, newest journal first. Rare (see ensureHead), so a scan. */
  function headInJournals(sessionId: string): { last: AuditRecord; postgres: boolean } | undefined {
    const needle = Buffer.from(`"sessionId":${JSON.stringify(sessionId)}`);
    let last: AuditRecord | undefined;
    let postgres = false;
    for (const name of [...listJournals(paths.journals)].reverse()) {
      let started = false;
      forEachJournalLine(paths.journal(name), 0, (line) => {
        if (line.indexOf(needle) < 0) return;
        const parsed = parseJournalLine(line);
        if (!('record' in parsed) || parsed.record.sessionId !== sessionId) return;
        if (!last || parsed.record.seq > last.seq) last = parsed.record;
        if (parsed.record.type === 'session.start') {
          started = true;
          postgres = parsed.record.targetKind === 'postgres';
        }
      });
      if (last && started) break;
    }
    return last && { last, postgres };
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

  function writeLine(fd: number, data: string | Buffer): number {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const n = writeSync(fd, buf);
    dirty.add(fd);
    if (n !== buf.length) throw Object.assign(new Error(`short write (${n} of ${buf.length} bytes)`), { code: 'ESHORT' });
    return n;
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
    if (o.store) {
      // Shipped from the journal like the events, after the events it signs.
      const item: ShippedItem = { kind: 'digest', digest };
      const line = Buffer.from(`${JSON.stringify(item)}\n`);
      writeJournal(line);
      enqueue(item, journalName, journalSize, line.length);
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

  // fsync: batched, so many events share one disk flush (one journal, whatever the number of sessions).
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
        for (const e of batch) {
          (states[e.journal] ??= {}).shipped = e.end;
          unshippedBytes -= e.bytes;
        }
        shippedN = batch[batch.length - 1]!.n;
        statesDirty = true;
        // Saving the shipped marks is a file write and a rename; under load a pass ships many
        // batches, so they are saved at most once per ship interval and when the pass ends.
        if (Date.now() - statesSavedAt >= shipIntervalMs) saveStatesGuarded();
        const ready = shipWaiters.filter((w) => w.n <= shippedN);
        shipWaiters = shipWaiters.filter((w) => w.n > shippedN);
        for (const w of ready) {
          clearTimeout(w.timer);
          w.resolve();
        }
      }
    } finally {
      saveStatesGuarded();
      shipping = false;
      if (queue.length > 0) scheduleShip(shipError ? shipBackoffMs : 0);
    }
  }

  function saveStates(): void {
    writeJournalStates(paths.journalState, states);
    statesDirty = false;
    statesSavedAt = Date.now();
  }

  function saveStatesGuarded(): void {
    if (!statesDirty) return;
    try {
      saveStates();
    } catch (e) {
      // Shipped but not remembered: a restart ships these again, which stores accept (idempotent writes).
      failure ??= `cannot save audit journal state (${errText(e)})`;
    }
  }

  function shipped(n: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        shipWaiters = shipWaiters.filter((w) => w.timer !== timer);
        reject(new AuditUnavailableError(`audit store did not acknowledge within ${storeTimeoutMs} ms${shipError ? `: ${shipError}` : ''}`));
      }, storeTimeoutMs);
      shipWaiters.push({ resolve, reject, n, timer });
      scheduleShip(0);
    });
  }

  const fsyncKeepalive = setInterval(() => dirty.size > 0 && scheduleFsync(), Math.max(fsyncIntervalMs, 100));
  const digestTimer = setInterval(writeDigestGuarded, o.digestIntervalMs ?? 5000);
  const probeTimer = setInterval(probe, o.probeIntervalMs ?? 1000);
  const shipTicker = o.store ? setInterval(() => queue.length > 0 && scheduleShip(shipError ? shipBackoffMs : 0), shipIntervalMs) : undefined;
  for (const t of [fsyncKeepalive, digestTimer, probeTimer, shipTicker]) t?.unref();

  /** Refuses an event the sink cannot take now; the caller must not go ahead with what it records. */
  function admit(input: AuditEventInput): void {
    if (closed) throw new AuditUnavailableError('audit sink is closed');
    if (!isValidSessionId(input.sessionId)) throw new AuditUnavailableError(`invalid session id for audit`);
    if (!directoryWatch) checkDirectory();
    const h = health();
    if (!h.ok) throw new AuditUnavailableError(h.reason);
  }

  // Every event is chained (its head committed in memory) when offered, so each session's chain
  // keeps the order its events happened in, and waits in `pending` for the next journal write:
  // at the end of the event-loop turn when someone waits for it (append), at once for appendNow
  // (the write is the acknowledgement), at the latest after `deferMs` for deferred events.
  let pending: Pending[] = [];
  let turnFlush: NodeJS.Immediate | undefined;
  let deferTimer: NodeJS.Timeout | undefined;

  function chain(input: AuditEventInput, waiter?: Waiter | typeof NOW): Pending {
    admit(input);
    ensureHead(input);
    const { record, bytes } = chains.nextWithLine(prepare(input));
    chains.commit(record);
    if (endsSession(record)) closing.add(record.sessionId);
    const p: Pending = waiter ? { record, bytes, waiter } : { record, bytes };
    pending.push(p);
    return p;
  }

  function append(input: AuditEventInput): Promise<AuditRecord> {
    return new Promise<AuditRecord>((resolve, reject) => {
      const p = chain(input, { resolve: () => resolve(p.record), reject });
      turnFlush ??= setImmediate(flushTurn);
    });
  }

  /** With ack `local` the write is the acknowledgement: no promise to wait for. */
  function appendNow(input: AuditEventInput): AuditRecord {
    const p = chain(input, NOW);
    nowRefused = undefined;
    writePending();
    if (nowRefused) throw nowRefused;
    return p.record;
  }
  let nowRefused: Error | undefined;

  function appendDeferred(input: AuditEventInput): void {
    chain(input);
    deferTimer ??= setTimeout(writeDeferred, deferMs);
  }

  function flushTurn(): void {
    turnFlush = undefined;
    writePending();
  }

  function writeDeferred(): void {
    deferTimer = undefined;
    writePending();
    // The sink reports the failure through health; unwritten events wait for the disk to come back.
    if (pending.length > 0 && !closed) deferTimer ??= setTimeout(writeDeferred, Math.max(deferMs, 1000));
  }

  /**
   * Writes every pending event, of every session, in one write(2), then indexes, queues for
   * shipping and acknowledges them. On failure, events someone waits for are refused (their
   * chains step back where nothing later was chained on them); deferred ones stay pending.
   */
  function writePending(): void {
    if (pending.length === 0) return;
    // The defer timer is left to fire (and find nothing): clearing and re-arming it per statement costs more.
    const batch = pending;
    pending = [];
    const start = journalSize;
    try {
      writeJournal(batch.length === 1 ? batch[0]!.bytes : Buffer.concat(batch.map((p) => p.bytes)));
    } catch (e) {
      refuseBatch(batch, `cannot write audit journal (${errText(e)})`);
      return;
    }
    scheduleFsync();
    afterWrite(batch, start);
  }

  function refuseBatch(batch: Pending[], reason: string): void {
    failure ??= reason;
    const error = new AuditUnavailableError(reason);
    // From the end: an awaited event nothing was chained on after it is dropped and its chain steps back.
    const keep: Pending[] = [];
    const chainedAfter = new Set<string>();
    for (let i = batch.length - 1; i >= 0; i--) {
      const p = batch[i]!;
      const id = p.record.sessionId;
      if (p.waiter && !chainedAfter.has(id)) {
        if (p.record.seq === 1) {
          chains.forget(id);
          live.delete(id);
        } else chains.resume(id, { seq: p.record.seq - 1, hash: p.record.prev });
        if (endsSession(p.record)) closing.delete(id);
        refuse(p.waiter, error);
        continue;
      }
      chainedAfter.add(id);
      if (p.waiter) refuse(p.waiter, error);
      keep.unshift(p.waiter ? { record: p.record, bytes: p.bytes } : p);
    }
    pending = [...keep, ...pending];
    if (pending.length > 0 && !closed) deferTimer ??= setTimeout(writeDeferred, Math.max(deferMs, 1000));
  }

  function refuse(w: Waiter | typeof NOW, error: Error): void {
    if (w === NOW) nowRefused = error;
    else w.reject(error);
  }

  function afterWrite(batch: Pending[], start: number): void {
    let index = '';
    let offset = start;
    for (const p of batch) {
      const r = p.record;
      undigested.set(r.sessionId, { sessionId: r.sessionId, seq: r.seq, hash: r.hash });
      const idx = indexLineFor(r);
      if (idx) index += `${JSON.stringify(idx)}\n`;
      if (o.store) {
        const bytes = p.bytes.length;
        offset += bytes;
        const n = enqueue({ kind: 'event', record: r }, journalName, offset, bytes);
        if (p.waiter) acknowledge(p.waiter, n);
      } else if (p.waiter) acknowledge(p.waiter, 0);
    }
    if (index) {
      try {
        writeLine(indexFd, index);
      } catch (e) {
        // The journal holds the events (and ships them); a restart rebuilds missing index lines from it.
        failure ??= `cannot write audit index (${errText(e)})`;
      }
    }
    // A session whose end was chained leaves memory once its last chained event is written.
    if (closing.size > 0) for (const p of batch) if (closing.has(p.record.sessionId) && chains.head(p.record.sessionId)?.seq === p.record.seq) endSession(p.record.sessionId);
    if (o.store) scheduleShip(o.ack === 'store' ? 0 : shipIntervalMs);
  }

  function acknowledge(w: Waiter | typeof NOW, n: number): void {
    if (w === NOW) return;
    if (o.ack === 'local') w.resolve();
    else if (o.store) shipped(n).then(w.resolve, w.reject);
    else flushed().then(w.resolve, w.reject);
  }

  /** A finished session gets its digest now rather than at the next tick, and its chain leaves memory. */
  function endSession(sessionId: string): void {
    const head = chains.head(sessionId)!;
    endedHeads.set(sessionId, { head, postgres: postgresSessions.has(sessionId) });
    if (endedHeads.size > ENDED_HEADS_KEPT) endedHeads.delete(endedHeads.keys().next().value!);
    chains.forget(sessionId);
    postgresSessions.delete(sessionId);
    closing.delete(sessionId);
    live.delete(sessionId);
    if (!closingOut) writeDigestGuarded();
  }

  async function close(): Promise<void> {
    if (closed) return;
    for (const t of [fsyncKeepalive, digestTimer, probeTimer, shipTicker]) if (t) clearInterval(t);
    directoryWatch?.close();
    if (turnFlush) clearImmediate(turnFlush);
    turnFlush = undefined;
    writePending();
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
    // No session left open and everything written: the next start has nothing to close out here.
    if (live.size === 0 && pending.length === 0 && !failure && !journalDamaged) {
      (states[journalName] ??= {}).sealed = true;
      statesDirty = true;
      saveStatesGuarded();
    }
    for (const fd of [journalFd, indexFd, digestsFd]) closeQuietly(fd);
  }

  // Close out what a crash left open: a session without its end gets one, chained and signed.
  let closingOut = true;
  try {
    closeOutCrashedSessions();
  } finally {
    closingOut = false;
  }
  writeDigestGuarded();
  if (queue.length > 0) scheduleShip(0);

  /**
   * Sessions the index shows open, sessions an unsealed journal holds without their end, and
   * session logs or journal records the index does not list at all (a crash between the two
   * writes) are what a crash cut: no live session survives its gateway. Each gets a chained
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
    const unsealed = earlier.filter((name) => !states[name]?.sealed);
    const seen = new Map<string, SeenSession>();
    for (const name of unsealed)
      forEachJournalLine(paths.journal(name), 0, (line) => {
        const parsed = parseJournalLine(line);
        if (!('record' in parsed)) return;
        const r = parsed.record;
        let s = seen.get(r.sessionId);
        if (!s) seen.set(r.sessionId, (s = { first: r, last: r, statements: 0, bytesOut: 0, indexLines: [] }));
        s.last = r;
        if (r.type === 'statement') s.statements++;
        if (r.type === 'statement.outcome') s.bytesOut += r.bytes;
        const idx = indexed.has(r.sessionId) ? undefined : indexLineFor(r);
        if (idx) s.indexLines.push(idx);
      });
    const unindexedLogs = legacySessions
      ? readdirSync(paths.sessions)
          .filter((n) => n.endsWith('.jsonl'))
          .map((n) => n.slice(0, -'.jsonl'.length))
          .filter((id) => isValidSessionId(id) && !indexed.has(id) && !seen.has(id))
      : [];
    let complete = true;
    for (const sessionId of new Set([...open, ...seen.keys(), ...unindexedLogs])) {
      try {
        const s = seen.get(sessionId);
        if (s) closeOutSeen(sessionId, s, indexed.has(sessionId), open.has(sessionId));
        else if (legacySessions) closeOutLegacy(sessionId, indexed.has(sessionId), open.has(sessionId));
      } catch (e) {
        // The sink reports the failure through health; the next start tries again.
        failure ??= `cannot close out session ${sessionId} (${errText(e)})`;
        complete = false;
      }
    }
    if (!complete || unsealed.length === 0) return;
    // The close-out is on disk before the journals it closed are marked as needing none.
    fsyncSync(journalFd);
    fsyncSync(indexFd);
    for (const name of unsealed) (states[name] ??= {}).sealed = true;
    saveStates();
  }

  function closeOutSeen(sessionId: string, s: SeenSession, isIndexed: boolean, isOpen: boolean): void {
    if (!isIndexed && s.indexLines.length > 0) writeLine(indexFd, s.indexLines.map((l) => `${JSON.stringify(l)}\n`).join(''));
    if (endsSession(s.last)) {
      // Ended, but the crash came before its index line, and perhaps before the digest of its end.
      if (isOpen && s.last.type === 'session.end') writeLine(indexFd, `${JSON.stringify(indexLineFor(s.last))}\n`);
      undigested.set(sessionId, { sessionId, seq: s.last.seq, hash: s.last.hash });
      return;
    }
    chains.resume(sessionId, { seq: s.last.seq, hash: s.last.hash });
    writeCloseOut(sessionId, s.first, s.last, s.statements, s.bytesOut);
  }

  function closeOutLegacy(sessionId: string, isIndexed: boolean, isOpen: boolean): void {
    // A listed session whose log is gone is left for `audit verify` to report, not recreated here.
    const tail = readLogTail(paths.session(sessionId));
    if (tail && tail.tornBytes > 0) truncateSync(paths.session(sessionId), tail.size - tail.tornBytes);
    const last = tail?.last;
    if (!last) {
      // A log created just before a crash, its first record unwritten (or torn and cut): no event of
      // it was acknowledged, so nothing was forwarded for it and it holds nothing to keep.
      if (!isIndexed && tail) removeIfRecordless(paths.session(sessionId));
      return;
    }
    const records = readLegacyRecords(sessionId);
    if (!isIndexed) {
      for (const r of records) {
        const idx = indexLineFor(r);
        if (idx) writeLine(indexFd, `${JSON.stringify(idx)}\n`);
      }
    }
    if (endsSession(last)) {
      if (isOpen && last.type === 'session.end') writeLine(indexFd, `${JSON.stringify(indexLineFor(last))}\n`);
      undigested.set(sessionId, { sessionId, seq: last.seq, hash: last.hash });
      return;
    }
    chains.resume(sessionId, { seq: last.seq, hash: last.hash });
    writeCloseOut(
      sessionId,
      records[0] ?? last,
      last,
      records.filter((r) => r.type === 'statement').length,
      records.reduce((n, r) => n + (r.type === 'statement.outcome' ? r.bytes : 0), 0),
    );
  }

  function writeCloseOut(sessionId: string, first: AuditRecord, last: AuditRecord, statements: number, bytesOut: number): void {
    // Nothing waits for it: should the write fail, it stays pending and goes out once the disk is back.
    chain({
      type: 'session.end',
      sessionId,
      reason: GATEWAY_CRASHED,
      statements,
      // What the trail holds: the row data of recorded outcomes; what the client sent is not recorded.
      bytesIn: 0,
      bytesOut,
      durationMs: Math.max(0, Date.parse(last.at) - Date.parse(first.at)),
    });
    writePending();
    if (pending.length > 0) throw new Error(failure ?? 'close-out not written');
  }

  function removeIfRecordless(path: string): void {
    const bytes = readFileSync(path);
    if (!bytes.includes(0x0a)) unlinkSync(path);
  }

  function readLegacyRecords(sessionId: string): AuditRecord[] {
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
