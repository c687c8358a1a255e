// The local audit sink end to end on a real temporary directory: what lands on disk, how the index
// answers listing filters, masking and response caps, failing closed, and shipping the journal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rename, rm, writeFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, createPublicKey } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { verifyAuditStore } from '../../core/audit/verify.js';
import { createLocalAuditSink } from '../../fargate-proxy/src/adapters/local/audit-file-sink.js';
import { createLocalAuditReader } from '../../fargate-proxy/src/adapters/local/audit-file-reader.js';
import { AuditUnavailableError, type ShippedItem } from '../../core/audit/ports.js';
import { ResponseCapture, capturedBytes } from '../../core/audit/response-capture.js';
import type { AuditEventInput, AuditRecord } from '../../core/audit/events.js';
import { journalFiles, lastJournal, sessionRecords } from '../support/audit-journal.js';

const cleanups = new Map<object, Array<() => Promise<unknown>>>();

/** A temporary directory removed after the test, once everything deferred (sinks) has closed. */
async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'airlock-audit-sink-'));
  const list: Array<() => Promise<unknown>> = [];
  cleanups.set(t, list);
  t.after(async () => {
    for (const fn of list.reverse()) await fn();
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

function defer(t: object, fn: () => Promise<unknown>): void {
  cleanups.get(t)!.push(fn);
}

const start = (sessionId: string, principal: string, target: string): AuditEventInput => ({
  type: 'session.start',
  sessionId,
  principal: { id: principal, groups: ['agents'], issuer: 'https://idp.test', tokenId: 'jti-1' },
  target,
  targetKind: 'postgres',
  client: { address: '127.0.0.1', port: 40000 },
  protocol: 'postgres',
});

const statement = (sessionId: string, statementId: string, text: string, effect: 'allow' | 'deny' = 'allow'): AuditEventInput => ({
  type: 'statement',
  sessionId,
  statementId,
  text,
  class: 'read',
  statementTypes: ['SelectStmt'],
  tables: ['users'],
  functions: [],
  decision: { effect, policyIds: ['p1'], policyVersion: 'v7', reason: effect === 'deny' ? 'forbidden' : 'ok' },
});

const readLog = sessionRecords;

test('events land in the journal, chained per session with seq, time and links, sessions interleaved; SQL literals are masked', async (t) => {
  const dir = await tempDir(t);
  const sink = await createLocalAuditSink({ dir, ack: 'store', responseCapBytes: 64 });
  defer(t, () => sink.close());
  await sink.append(start('s1', 'alice', 'orders'));
  const rec = await sink.append(statement('s1', 'q1', "select * from users where email = 'alice@example.com' and card = 4111111111111111 limit 10"));
  assert.equal(rec.seq, 2);
  const log = await readLog(dir, 's1');
  assert.deepEqual(log.map((r) => [r.seq, r.type]), [[1, 'session.start'], [2, 'statement']]);
  assert.equal(log[1]!.prev, log[0]!.hash);
  assert.equal(log[0]!.v, 1);
  assert.match(log[0]!.at, /^\d{4}-\d\d-\d\dT/);
  const text = (log[1] as Extract<AuditRecord, { type: 'statement' }>).text;
  assert.equal(text, "select * from users where email = '***' and card = 0 limit 10");
  assert.doesNotMatch(await readFile(await lastJournal(dir), 'utf8'), /alice@example\.com|4111111111111111/);
  // Another session's events go to the same journal and chain on their own.
  await Promise.all([sink.append(start('s9', 'bob', 'orders')), sink.append(statement('s1', 'q2', 'select 2'))]);
  const journal = (await readFile(await lastJournal(dir), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as AuditRecord);
  assert.deepEqual(journal.map((r) => `${r.sessionId}:${r.seq}`), ['s1:1', 's1:2', 's9:1', 's1:3']);
  assert.deepEqual((await readLog(dir, 's9')).map((r) => r.seq), [1]);
  const keyMode = (await stat(join(dir, 'keys', 'audit-signing.key'))).mode & 0o777;
  assert.equal(keyMode, 0o600);
});

test('a deferred event is chained when offered and written with the session\'s next event, or after deferMs', async (t) => {
  const dir = await tempDir(t);
  const sink = await createLocalAuditSink({ dir, ack: 'local', responseCapBytes: 64, deferMs: 300 });
  defer(t, () => sink.close());
  const outcome = (statementId: string): AuditEventInput => ({ type: 'statement.outcome', sessionId: 'd1', statementId, status: 'ok', rows: 1, bytes: 5, durationMs: 1 });
  await sink.append(start('d1', 'alice', 'orders'));
  await sink.append(statement('d1', 'q1', 'select 1'));
  sink.appendDeferred(outcome('q1'));
  assert.deepEqual((await readLog(dir, 'd1')).map((r) => r.seq), [1, 2], 'not written yet');
  await sink.append(statement('d1', 'q2', 'select 2'));
  const log = await readLog(dir, 'd1');
  assert.deepEqual(log.map((r) => [r.seq, r.type]), [[1, 'session.start'], [2, 'statement'], [3, 'statement.outcome'], [4, 'statement']], 'the outcome keeps its place in the chain');
  assert.equal(log[3]!.prev, log[2]!.hash);
  sink.appendDeferred(outcome('q2'));
  await sleep(600);
  assert.deepEqual((await readLog(dir, 'd1')).map((r) => r.type).at(-1), 'statement.outcome', 'written after deferMs without another event');
  sink.appendDeferred(outcome('q3'));
  await sink.close();
  assert.equal((await readLog(dir, 'd1')).length, 6, 'close writes what is still deferred');
  const reader = createLocalAuditReader(dir);
  const publicKey = createPublicKey(await readFile(join(dir, 'keys', 'audit-signing.pub'), 'utf8'));
  const report = await verifyAuditStore(reader, { publicKey, sessionIds: ['d1'] });
  assert.deepEqual(report.problems, []);
  assert.equal(report.events, 6);
});

test('with ack local the write is the acknowledgement: appendNow returns the written record; ack store has none', async (t) => {
  const dir = await tempDir(t);
  const local = await createLocalAuditSink({ dir: join(dir, 'local'), ack: 'local', responseCapBytes: 64 });
  const store = await createLocalAuditSink({ dir: join(dir, 'store'), ack: 'store', responseCapBytes: 64 });
  defer(t, () => local.close());
  defer(t, () => store.close());
  assert.equal(store.appendNow, undefined, 'ack store must be awaited');
  local.appendNow!(start('n1', 'alice', 'orders'));
  const rec = local.appendNow!(statement('n1', 'q1', 'select 1'));
  assert.deepEqual((await readLog(join(dir, 'local'), 'n1')).map((r) => r.hash), [(await readLog(join(dir, 'local'), 'n1'))[0]!.hash, rec.hash]);
  await local.close();
  assert.throws(() => local.appendNow!(statement('n1', 'q2', 'select 2')), AuditUnavailableError);
});

test('responses are kept up to the cap, hashed and counted in full', async (t) => {
  const dir = await tempDir(t);
  const sink = await createLocalAuditSink({ dir, ack: 'local', responseCapBytes: 10 });
  defer(t, () => sink.close());
  const capture = sink.newResponseCapture();
  const sent = ['row one\n', 'row two\n', 'row three\n'];
  for (const piece of sent) capture.add(piece);
  await sink.append(start('s2', 'bob', 'orders'));
  await sink.append({ type: 'statement.outcome', sessionId: 's2', statementId: 'q1', status: 'ok', rows: 3, bytes: 26, durationMs: 3, response: capture.finish() });

  // A gateway that kept more than the cap is cut back to it, keeping its hash over everything.
  const loose = new ResponseCapture(1000);
  loose.add(Buffer.from('0123456789abcdefghij'));
  await sink.append({ type: 'statement.outcome', sessionId: 's2', statementId: 'q2', status: 'ok', bytes: 20, durationMs: 1, response: loose.finish() });

  const [, first, second] = (await readLog(dir, 's2')) as Array<Extract<AuditRecord, { type: 'statement.outcome' }>>;
  const all = sent.join('');
  assert.equal(capturedBytes(first!.response!).toString(), all.slice(0, 10));
  assert.equal(first!.response!.truncated, true);
  assert.equal(first!.response!.totalBytes, Buffer.byteLength(all));
  assert.equal(first!.response!.totalChunks, 3);
  assert.equal(first!.response!.sha256, createHash('sha256').update(all).digest('hex'));
  assert.equal(capturedBytes(second!.response!).toString(), '0123456789');
  assert.equal(second!.response!.encoding, 'base64');
  assert.equal(second!.response!.truncated, true);
  assert.equal(second!.response!.sha256, createHash('sha256').update('0123456789abcdefghij').digest('hex'));
});

test('the index lists sessions by principal, target, time and refusals', async (t) => {
  const dir = await tempDir(t);
  const sink = await createLocalAuditSink({ dir, ack: 'local', responseCapBytes: 0 });
  defer(t, () => sink.close());
  await sink.append({ ...start('a1', 'alice', 'orders'), at: '2026-01-01T10:00:00.000Z' });
  await sink.append(statement('a1', 'q1', 'drop table users', 'deny'));
  await sink.append({ type: 'session.end', sessionId: 'a1', reason: 'client closed', statements: 1, bytesIn: 1, bytesOut: 2, durationMs: 3 });
  await sink.append({ ...start('b1', 'bob', 'billing'), at: '2026-01-02T10:00:00.000Z' });
  await sink.append({ type: 'auth.refused', sessionId: 'c1', code: 'token_expired', reason: 'token expired', target: 'orders', client: { address: '10.0.0.9', port: 1 }, at: '2026-01-03T10:00:00.000Z' });
  const reader = createLocalAuditReader(dir);
  const ids = async (f?: Parameters<typeof reader.listSessions>[0]) => (await reader.listSessions(f)).map((s) => s.sessionId);
  assert.deepEqual(await ids(), ['c1', 'b1', 'a1']);
  assert.deepEqual(await ids({ principal: 'alice' }), ['a1']);
  assert.deepEqual(await ids({ target: 'orders' }), ['c1', 'a1']);
  assert.deepEqual(await ids({ from: '2026-01-02T00:00:00.000Z', to: '2026-01-02T23:59:59.999Z' }), ['b1']);
  assert.deepEqual(await ids({ refusedOnly: true }), ['c1', 'a1']);
  const [a1] = await reader.listSessions({ principal: 'alice' });
  assert.equal(a1!.endedAt !== undefined && a1!.statements === 1 && a1!.denied === 1, true);
});

test('fails closed when the audit directory is replaced: health says why and appends reject', async (t) => {
  const dir = await tempDir(t);
  const sink = await createLocalAuditSink({ dir, ack: 'local', responseCapBytes: 0, probeIntervalMs: 20 });
  defer(t, () => sink.close());
  await sink.append(start('f1', 'alice', 'orders'));
  assert.deepEqual(sink.health(), { ok: true });

  await rename(dir, `${dir}.moved`);
  t.after(() => rm(`${dir}.moved`, { recursive: true, force: true }));
  await writeFile(dir, 'not a directory');
  await assert.rejects(sink.append(statement('f1', 'q1', 'select 1')), AuditUnavailableError);
  await assert.rejects(sink.append(start('f2', 'bob', 'orders')), (e: Error) => e instanceof AuditUnavailableError && /replaced|gone/.test(e.message));
  const h = sink.health();
  assert.equal(h.ok, false);
  assert.match((h as { reason: string }).reason, /audit directory .* (was replaced|is gone)/);
  await rm(dir);
});

test('fails closed when the audit directory takes no writes', async (t) => {
  const dir = await tempDir(t);
  const sink = await createLocalAuditSink({ dir, ack: 'local', responseCapBytes: 0, probeIntervalMs: 20 });
  defer(t, () => sink.close());
  // A directory squatting on the probe's name makes its write fail even for root.
  await import('node:fs/promises').then((fs) => fs.mkdir(join(dir, '.probe')));
  for (let i = 0; i < 500 && sink.health().ok; i++) await sleep(10);
  assert.match((sink.health() as { reason: string }).reason, /audit directory .* is not writable \(EISDIR\)/);
  await assert.rejects(sink.append(start('g1', 'alice', 'orders')), AuditUnavailableError);
  await import('node:fs/promises').then((fs) => fs.rmdir(join(dir, '.probe')));
  for (let i = 0; i < 500 && !sink.health().ok; i++) await sleep(10);
  await sink.append(start('g1', 'alice', 'orders'));
  assert.deepEqual((await readLog(dir, 'g1')).map((r) => r.seq), [1], 'nothing of the refused event was written');
});

/** A store that is down until told otherwise; it keeps what it accepted so the test can look. */
function flakyStore() {
  const accepted: ShippedItem[] = [];
  let up = false;
  let writes = 0;
  return {
    accepted,
    setUp: (v: boolean) => void (up = v),
    get writes() {
      return writes;
    },
    async write(items: ShippedItem[]) {
      writes++;
      if (!up) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      accepted.push(...items);
    },
  };
}

test('ack local keeps events in the journal while the store is down; a restarted gateway ships them', async (t) => {
  const dir = await tempDir(t);
  const store = flakyStore();
  const first = await createLocalAuditSink({ dir, ack: 'local', responseCapBytes: 0, store, shipIntervalMs: 10 });
  await first.append(start('r1', 'alice', 'orders'));
  await first.append(statement('r1', 'q1', 'select 1'));
  // Shipping runs on a timer: wait for the first attempt (bounded), not a fixed sleep, so load cannot flake it.
  for (let i = 0; i < 500 && store.writes === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(store.writes > 0, 'the sink tried to ship');
  assert.equal(first.unshippedCount(), 2);
  await first.close(); // the final digest joins the journal
  assert.equal(store.accepted.length, 0);

  store.setUp(true);
  const second = await createLocalAuditSink({ dir, ack: 'local', responseCapBytes: 0, store, shipIntervalMs: 10 });
  defer(t, () => second.close());
  for (let i = 0; i < 1000 && second.unshippedCount() > 0; i++) await new Promise((r) => setTimeout(r, 10));
  const events = store.accepted.filter((i) => i.kind === 'event').map((i) => (i as { record: AuditRecord }).record);
  // The session the first gateway left open is closed out by the second, and ships with the rest.
  assert.deepEqual(events.map((r) => [r.sessionId, r.seq, r.type]), [['r1', 1, 'session.start'], ['r1', 2, 'statement'], ['r1', 3, 'session.end']]);
  assert.equal((events[2] as { reason?: string }).reason, 'gateway_crashed');
  assert.ok(store.accepted.some((i) => i.kind === 'digest'));
  const state = JSON.parse(await readFile(join(dir, 'journal', 'state.json'), 'utf8')) as Record<string, { shipped?: number }>;
  for (const file of await journalFiles(dir)) assert.equal(state[file.split('/').pop()!.slice(0, -'.jsonl'.length)]?.shipped, (await stat(file)).size, 'every journal shipped to its end');
});

test('a statement and its outcome ship in chain order; a gateway killed mid-ship resumes from the saved mark with no gap', async (t) => {
  const dir = await tempDir(t);
  const copy = await tempDir(t);
  // Accepts two batches, then hangs on the third: the first gateway "dies" with a pass in flight.
  // Batches of three split an outcome from the statement it was written with.
  const accepted: ShippedItem[] = [];
  let release: () => void = () => {};
  let calls = 0;
  const hanging = {
    async write(items: ShippedItem[]) {
      if (++calls === 3) await new Promise<void>((r) => (release = r));
      accepted.push(...items);
    },
  };
  const first = await createLocalAuditSink({ dir, ack: 'local', responseCapBytes: 0, store: hanging, shipIntervalMs: 50, shipBatchSize: 3 });
  defer(t, async () => {
    release();
    await first.close();
  });
  const outcome = (statementId: string): AuditEventInput => ({ type: 'statement.outcome', sessionId: 'm1', statementId, status: 'ok', rows: 1, bytes: 5, durationMs: 1 });
  first.appendNow!(start('m1', 'alice', 'orders'));
  for (let i = 1; i <= 4; i++) {
    first.appendNow!(statement('m1', `q${i}`, `select ${i}`));
    first.appendDeferred(outcome(`q${i}`));
  }
  first.appendNow!(statement('m1', 'q5', 'select 5'));
  const journal = await lastJournal(dir);
  const lines = (await readFile(journal, 'utf8')).trimEnd().split('\n');
  const spooled = lines.map((l) => JSON.parse(l) as AuditRecord | ShippedItem);
  const chainOrder = spooled.map((i) => ('kind' in i ? i.kind : `${i.seq}:${i.type}`));
  assert.deepEqual(chainOrder, (await readLog(dir, 'm1')).map((r) => `${r.seq}:${r.type}`), 'the journal is what ships, in order');
  assert.equal(chainOrder.length, 10);

  for (let i = 0; i < 500 && calls < 3; i++) await sleep(10);
  assert.equal(calls, 3, 'the third batch is in flight');
  assert.equal(accepted.length, 6);
  // The crash: what is on disk now is all a restarted gateway has.
  await cp(dir, copy, { recursive: true });
  const name = journal.split('/').pop()!.slice(0, -'.jsonl'.length);
  const cursor = (JSON.parse(await readFile(join(copy, 'journal', 'state.json'), 'utf8')) as Record<string, { shipped: number }>)[name]!.shipped;
  const offsets = lines.map((_, i) => lines.slice(0, i + 1).reduce((n, line) => n + Buffer.byteLength(line) + 1, 0));
  assert.ok([offsets[2], offsets[5]].includes(cursor), `the shipped mark (${cursor}) ends an acknowledged batch`);

  const reshipped: ShippedItem[] = [];
  const second = await createLocalAuditSink({ dir: copy, ack: 'local', responseCapBytes: 0, store: { write: async (items) => void reshipped.push(...items) }, shipIntervalMs: 10 });
  defer(t, () => second.close());
  for (let i = 0; i < 500 && second.unshippedCount() > 0; i++) await sleep(10);
  assert.equal(second.unshippedCount(), 0);
  const seqs = (items: ShippedItem[]) => items.flatMap((i) => (i.kind === 'event' ? [i.record.seq] : []));
  const resumedAt = seqs(reshipped)[0]!;
  assert.ok(resumedAt <= seqs(accepted).at(-1)! + 1, 'no event is skipped');
  // …followed by seq 11: the session.end the restart writes for the session the crash cut.
  assert.deepEqual(seqs(reshipped), Array.from({ length: 11 - resumedAt + 1 }, (_, i) => resumedAt + i), 'the rest ships once, in order');
});

test('ack store waits for the store; when it stays down the append is refused and health says why', async (t) => {
  const dir = await tempDir(t);
  const store = flakyStore();
  store.setUp(true);
  const sink = await createLocalAuditSink({ dir, ack: 'store', responseCapBytes: 0, store, storeTimeoutMs: 200, shipIntervalMs: 10 });
  defer(t, () => sink.close());
  // Concurrent sessions share one store write (group commit).
  await Promise.all([sink.append(start('k1', 'alice', 'orders')), sink.append(start('k2', 'bob', 'orders')), sink.append(start('k3', 'carol', 'orders'))]);
  assert.equal(store.accepted.length, 3);
  assert.equal(store.writes, 1);

  store.setUp(false);
  await assert.rejects(sink.append(statement('k1', 'q1', 'select 1')), /audit store did not acknowledge within 200 ms: audit store write failed \(ECONNREFUSED\)/);
  assert.deepEqual(sink.health(), { ok: false, reason: 'audit store write failed (ECONNREFUSED)' });
  await assert.rejects(sink.append(statement('k1', 'q2', 'select 2')), AuditUnavailableError);

  store.setUp(true);
  for (let i = 0; i < 1000 && !sink.health().ok; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(sink.health(), { ok: true });
  await sink.append(statement('k1', 'q3', 'select 3'));
});

/** Counts (and can fail) write(2) calls on the journal: the sink's own `writeSync`, patched where it imports it from. */
async function watchJournalWrites(t: { after(fn: () => void): void }) {
  const fs = (await import('node:fs')).default;
  const { syncBuiltinESMExports } = await import('node:module');
  const original = fs.writeSync;
  const state = { writes: 0, failNext: undefined as string | undefined };
  const isJournal = (fd: number) => {
    try {
      return /\/journal\/[^/]+\.jsonl$/.test(fs.readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      return false;
    }
  };
  (fs as { writeSync: unknown }).writeSync = (fd: number, ...rest: unknown[]) => {
    if (isJournal(fd)) {
      state.writes++;
      if (state.failNext) {
        const code = state.failNext;
        state.failNext = undefined;
        throw Object.assign(new Error(`${code}: no space left on device, write`), { code });
      }
    }
    return (original as (...a: unknown[]) => number)(fd, ...rest);
  };
  syncBuiltinESMExports();
  t.after(() => {
    (fs as { writeSync: unknown }).writeSync = original;
    syncBuiltinESMExports();
  });
  return state;
}

test("every session's events of one event-loop turn go out in one write(2)", async (t) => {
  const dir = await tempDir(t);
  const writes = await watchJournalWrites(t);
  const sink = await createLocalAuditSink({ dir, ack: 'local', responseCapBytes: 0, deferMs: 60_000 });
  defer(t, () => sink.close());
  const ids = Array.from({ length: 16 }, (_, i) => `w${i}`);
  await Promise.all(ids.map((id) => sink.append(start(id, 'alice', 'orders'))));
  const before = writes.writes;
  // Sixteen sessions' statements in one turn, and outcomes nothing waits for: one write carries them all.
  for (const id of ids) sink.appendDeferred({ type: 'statement.outcome', sessionId: id, statementId: 'q0', status: 'ok', rows: 0, bytes: 0, durationMs: 0 });
  await Promise.all(ids.map((id) => sink.append(statement(id, 'q1', 'select 1'))));
  assert.equal(writes.writes - before, 1);
  for (const id of ids) assert.deepEqual((await readLog(dir, id)).map((r) => `${r.seq}:${r.type}`), ['1:session.start', '2:statement.outcome', '3:statement']);
});

test('a failed journal write refuses what waits on it and steps its chain back; deferred events stay and go out later', async (t) => {
  const dir = await tempDir(t);
  const writes = await watchJournalWrites(t);
  const sink = await createLocalAuditSink({ dir, ack: 'local', responseCapBytes: 0, deferMs: 60_000, probeIntervalMs: 20 });
  defer(t, () => sink.close());
  await Promise.all([sink.append(start('x1', 'alice', 'orders')), sink.append(start('x2', 'bob', 'orders'))]);
  sink.appendDeferred({ type: 'statement.outcome', sessionId: 'x1', statementId: 'q0', status: 'ok', rows: 0, bytes: 0, durationMs: 0 });
  writes.failNext = 'ENOSPC';
  const refused = await Promise.allSettled([sink.append(statement('x1', 'q1', 'select 1')), sink.append(statement('x2', 'q1', 'select 1'))]);
  assert.deepEqual(refused.map((r) => r.status), ['rejected', 'rejected']);
  assert.match(String((refused[0] as PromiseRejectedResult).reason), /cannot write audit journal \(ENOSPC\)/);
  assert.equal(sink.health().ok, false);
  // The probe finds the disk writable again; the refused statements left no trace and no gap.
  for (let i = 0; i < 500 && !sink.health().ok; i++) await sleep(10);
  await sink.append(statement('x1', 'q2', 'select 2'));
  await sink.append(statement('x2', 'q2', 'select 2'));
  assert.deepEqual((await readLog(dir, 'x1')).map((r) => `${r.seq}:${r.type}:${'statementId' in r ? r.statementId : ''}`), ['1:session.start:', '2:statement.outcome:q0', '3:statement:q2']);
  assert.deepEqual((await readLog(dir, 'x2')).map((r) => `${r.seq}:${'statementId' in r ? r.statementId : ''}`), ['1:', '2:q2']);
  await sink.close();
  const reader = createLocalAuditReader(dir);
  const publicKey = createPublicKey(await readFile(join(dir, 'keys', 'audit-signing.pub'), 'utf8'));
  assert.deepEqual((await verifyAuditStore(reader, { publicKey, sessionIds: await reader.sessionIds() })).problems, []);
});
