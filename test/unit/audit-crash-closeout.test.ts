// What a crash leaves behind, and what the next start makes of it: sessions left open are closed
// with a chained, signed `session.end` (gateway_crashed); an unfinished write is cut; `audit verify`
// cross-checks the index against the logs both ways, so neither a deleted log nor a hidden one passes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalAuditSink } from '../../fargate-proxy/src/adapters/local/audit-file-sink.js';
import { createLocalAuditReader } from '../../fargate-proxy/src/adapters/local/audit-file-reader.js';
import { auditVerifyCommand, sessionsCommand } from '../../fargate-proxy/src/cli/audit-commands.js';
import { verifyAudit, type VerifyReport } from '../../core/audit/verify.js';
import { recordHash } from '../../core/audit/chain.js';
import type { AuditRecord } from '../../core/audit/events.js';
import type { ShippedItem } from '../../core/audit/ports.js';
import { sessionStart, statementEvent } from '../support/audit-events.js';
import { expectAuditVerifies } from '../support/audit-trail.js';
import { lastJournal, rewriteSessionLines, sessionRecords } from '../support/audit-journal.js';

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'airlock-audit-closeout-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A gateway that "crashes" with session `id` open: its sink is closed, which ends no session. */
async function crashedWith(dir: string, id: string, statements = 3): Promise<void> {
  const sink = await createLocalAuditSink({ dir, ack: 'local', responseCapBytes: 0 });
  await sink.append(sessionStart(id, 'alice', 'orders'));
  for (let i = 1; i <= statements; i++) await sink.append(statementEvent(id, `${id}/${i}`, `select ${i}`));
  await sink.close();
}

const restart = async (dir: string) => (await createLocalAuditSink({ dir, ack: 'local', responseCapBytes: 0 })).close();

const log = sessionRecords;

async function verify(dir: string): Promise<{ code: number; report: VerifyReport }> {
  let text = '';
  const code = await auditVerifyCommand({ dir, format: 'json' }, { write: (t: string) => (text += t) });
  return { code, report: JSON.parse(text) as VerifyReport };
}

const kinds = (r: VerifyReport) => [...new Set(r.problems.map((p) => p.kind))].sort();

test('the next start closes a session a crash left open: chained session.end, listed as ended, signed', async (t) => {
  const dir = await tempDir(t);
  await crashedWith(dir, 'c1');
  let listing = '';
  await sessionsCommand({ dir }, { write: (s: string) => (listing += s) });
  assert.match(listing, /c1 .* open/);

  await restart(dir);
  const events = await log(dir, 'c1');
  assert.deepEqual(events.map((e) => `${e.seq}:${e.type}`), ['1:session.start', '2:statement', '3:statement', '4:statement', '5:session.end']);
  const end = events[4]!;
  assert.ok(end.type === 'session.end');
  assert.equal(end.reason, 'gateway_crashed');
  assert.equal(end.statements, 3);
  assert.equal(end.prev, events[3]!.hash);

  listing = '';
  await sessionsCommand({ dir }, { write: (s: string) => (listing += s) });
  assert.match(listing, /c1 .* ended \(gateway crashed\)/);
  const report = await expectAuditVerifies(dir);
  assert.deepEqual(report.warnings, [], 'the closing event is covered by a signed digest');

  // A second start finds nothing to close.
  await restart(dir);
  assert.equal((await log(dir, 'c1')).length, 5);
});

test("rewriting a crashed session's last events with recomputed hashes fails verify once the restart signed them", async (t) => {
  const dir = await tempDir(t);
  await crashedWith(dir, 'c2');
  await restart(dir);
  const events = await log(dir, 'c2');
  // The attacker edits the last statement and recomputes every hash after it: the chain is consistent again.
  const edited = events[3] as AuditRecord & { text: string };
  edited.text = 'select 42';
  edited.hash = recordHash(edited);
  const end = events[4]!;
  end.prev = edited.hash;
  end.hash = recordHash(end);
  await rewriteSessionLines(dir, 'c2', events.map((e) => JSON.stringify(e)));
  const { code, report } = await verify(dir);
  assert.equal(code, 1);
  assert.deepEqual(kinds(report), ['digest-mismatch']);
});

test('a deleted session log that the index lists fails verify, even where no digest names it', async (t) => {
  const dir = await tempDir(t);
  await crashedWith(dir, 'c3');
  await restart(dir);
  await rewriteSessionLines(dir, 'c3', []);
  const { code, report } = await verify(dir);
  assert.equal(code, 1);
  assert.ok(report.problems.some((p) => p.kind === 'missing-session' && /index lists/.test(p.message)));
  // The index check on its own, without any digest.
  const alone = verifyAudit({ sessions: [], digests: [], publicKey: [], indexed: ['c3'] });
  assert.deepEqual(kinds(alone), ['missing-session']);
});

test('a session log hidden from the index fails verify; a crash between the two writes is repaired at the next start', async (t) => {
  const dir = await tempDir(t);
  await crashedWith(dir, 'c4');
  await crashedWith(dir, 'c5');
  const index = join(dir, 'index.jsonl');
  const lines = (await readFile(index, 'utf8')).trimEnd().split('\n');
  await writeFile(index, `${lines.filter((l) => !l.includes('"c4"')).join('\n')}\n`);
  const { code, report } = await verify(dir);
  assert.equal(code, 1);
  assert.deepEqual(
    report.problems.filter((p) => p.kind === 'unindexed-session').map((p) => p.sessionId),
    ['c4'],
  );
  // A crash after the log write and before the index write looks the same: the next start indexes
  // the session again and closes it out.
  await restart(dir);
  const summaries = await createLocalAuditReader(dir).listSessions();
  assert.deepEqual(summaries.map((s) => [s.sessionId, s.endReason]).sort(), [
    ['c4', 'gateway_crashed'],
    ['c5', 'gateway_crashed'],
  ]);
  await expectAuditVerifies(dir);
});

test('a journal a crash left empty or with a torn first write raises no alarm; the torn bytes are cut at the next start', async (t) => {
  const dir = await tempDir(t);
  await crashedWith(dir, 'c11');
  // A kill -9 right after a start opened its journal leaves it empty; one during its first write
  // (several pages, several sessions) leaves a line without its newline. Nothing in either was acknowledged.
  await writeFile(join(dir, 'journal', '29990101T000000000Z-aaaaaa.jsonl'), '');
  await writeFile(join(dir, 'journal', '29990101T000000001Z-bbbbbb.jsonl'), '{"at":"2026-01-01T00:00:00.000Z","sessionId":"c12","se');
  assert.deepEqual(kinds((await verify(dir)).report), []);
  await restart(dir);
  assert.equal(await readFile(join(dir, 'journal', '29990101T000000001Z-bbbbbb.jsonl'), 'utf8'), '');
  assert.equal((await log(dir, 'c11')).at(-1)?.type, 'session.end');
  await expectAuditVerifies(dir);
});

test('a log (from before the journal) a crash created before its first record was whole is removed at the next start; verify passes', async (t) => {
  const dir = await tempDir(t);
  await crashedWith(dir, 'c8');
  await mkdir(join(dir, 'sessions'));
  // The sink opens a session's log, then writes session.start: a kill -9 between the two leaves an
  // empty log; one during the write leaves a torn first line. Neither is indexed.
  await writeFile(join(dir, 'sessions', 'c9.jsonl'), '');
  await writeFile(join(dir, 'sessions', 'c10.jsonl'), '{"type":"session.start","sessionId":"c10","se');
  assert.deepEqual(kinds((await verify(dir)).report), ['unindexed-session', 'unparsable']);
  await restart(dir);
  await assert.rejects(readFile(join(dir, 'sessions', 'c9.jsonl')), { code: 'ENOENT' });
  await assert.rejects(readFile(join(dir, 'sessions', 'c10.jsonl')), { code: 'ENOENT' });
  await expectAuditVerifies(dir);
});

test('an unfinished last write (no newline) is cut at the next start; the chain continues from the last whole event', async (t) => {
  const dir = await tempDir(t);
  await crashedWith(dir, 'c6', 2);
  await appendFile(await lastJournal(dir), '{"v":1,"sessionId":"c6","seq":4,"type":"statem');
  await appendFile(join(dir, 'digests.jsonl'), '{"v":1,"writer":"gone","dseq":');
  await restart(dir);
  const events = await log(dir, 'c6');
  assert.deepEqual(events.map((e) => `${e.seq}:${e.type}`), ['1:session.start', '2:statement', '3:statement', '4:session.end']);
  await expectAuditVerifies(dir);
});

test('a session that ended just before the crash gets its index line and its signed head at the next start', async (t) => {
  const dir = await tempDir(t);
  const sink = await createLocalAuditSink({ dir, ack: 'local', responseCapBytes: 0, digestIntervalMs: 60_000 });
  await sink.append(sessionStart('c7', 'alice', 'orders'));
  await sink.append({ type: 'session.end', sessionId: 'c7', reason: 'client closed', statements: 0, bytesIn: 0, bytesOut: 0, durationMs: 1 });
  await sink.close();
  // The crash came after the journal write: no index line for the end, no digest of it, and the
  // journal not marked closed (a clean close with no session open marks it).
  await rm(join(dir, 'journal', 'state.json'));
  const index = join(dir, 'index.jsonl');
  await writeFile(index, `${(await readFile(index, 'utf8')).trimEnd().split('\n').filter((l) => !l.includes('"end"')).join('\n')}\n`);
  await writeFile(join(dir, 'digests.jsonl'), '');
  await restart(dir);
  assert.equal((await log(dir, 'c7')).length, 2, 'no second end');
  const [summary] = await createLocalAuditReader(dir).listSessions();
  assert.equal(summary!.endReason, 'client closed');
  assert.deepEqual((await expectAuditVerifies(dir)).warnings, []);
});

test('logs written before the journal stay readable; a session one of them left open is closed out in the journal', async (t) => {
  const dir = await tempDir(t);
  await crashedWith(dir, 'old1');
  await crashedWith(dir, 'old2');
  // The layout of versions before the journal: each session's lines in sessions/<id>.jsonl.
  await mkdir(join(dir, 'sessions'));
  for (const id of ['old1', 'old2']) {
    await writeFile(join(dir, 'sessions', `${id}.jsonl`), `${(await log(dir, id)).map((r) => JSON.stringify(r)).join('\n')}\n`);
    await rewriteSessionLines(dir, id, []);
  }
  const legacyEnd = { type: 'session.end', sessionId: 'old2', reason: 'client closed', statements: 3, bytesIn: 0, bytesOut: 0, durationMs: 1 } as const;
  const old2 = await log(dir, 'old2');
  assert.deepEqual(old2.map((r) => r.seq), [1, 2, 3, 4], 'read from the old log alone');
  // old2 ended in the old version: only old1 is cut.
  const ended = { v: 1, seq: 5, at: old2[3]!.at, ...legacyEnd, prev: old2[3]!.hash } as unknown as AuditRecord;
  ended.hash = recordHash(ended);
  await appendFile(join(dir, 'sessions', 'old2.jsonl'), `${JSON.stringify(ended)}\n`);
  await appendFile(join(dir, 'index.jsonl'), `${JSON.stringify({ sessionId: 'old2', kind: 'end', at: ended.at, statements: 3, reason: 'client closed' })}\n`);

  await restart(dir);
  assert.deepEqual((await log(dir, 'old1')).map((r) => `${r.seq}:${r.type}`), ['1:session.start', '2:statement', '3:statement', '4:statement', '5:session.end']);
  assert.equal((await log(dir, 'old2')).length, 5, 'an ended session is left alone');
  const summaries = await createLocalAuditReader(dir).listSessions();
  assert.deepEqual(summaries.map((s) => [s.sessionId, s.endReason]).sort(), [['old1', 'gateway_crashed'], ['old2', 'client closed']]);
  await expectAuditVerifies(dir);
});

test('a spool written before the journal ships from the journal after the upgrade', async (t) => {
  const dir = await tempDir(t);
  await crashedWith(dir, 'sp1', 1);
  await restart(dir);
  const records = await log(dir, 'sp1');
  // The old spool: items in their shipped form, the cursor past the first one.
  const lines = records.map((record) => JSON.stringify({ kind: 'event', record }));
  await writeFile(join(dir, 'spool.jsonl'), `${lines.join('\n')}\n`);
  await writeFile(join(dir, 'spool.cursor'), String(Buffer.byteLength(lines[0]!) + 1));
  const accepted: ShippedItem[] = [];
  const sink = await createLocalAuditSink({ dir, ack: 'local', responseCapBytes: 0, store: { write: async (items) => void accepted.push(...items) }, shipIntervalMs: 10 });
  for (let i = 0; i < 500 && sink.unshippedCount() > 0; i++) await new Promise((r) => setTimeout(r, 10));
  await sink.close();
  const shipped = accepted.flatMap((i) => (i.kind === 'event' ? [i.record.seq] : []));
  assert.deepEqual(shipped, records.slice(1).map((r) => r.seq), 'what the old spool had not shipped, once');
  await assert.rejects(readFile(join(dir, 'spool.jsonl')), { code: 'ENOENT' });
  assert.equal((await log(dir, 'sp1')).length, records.length, 'the moved items are not events of the session a second time');
  await expectAuditVerifies(dir);
});
