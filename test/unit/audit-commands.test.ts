// The audit CLI functions over a data directory written by the real sink.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalAuditSink } from '../../fargate-proxy/src/adapters/local/audit-file-sink.js';
import { auditExportCommand, auditVerifyCommand, replayCommand, sessionsCommand } from '../../fargate-proxy/src/cli/audit-commands.js';
import type { AuditRecord } from '../../core/audit/events.js';
import { editJournals } from '../support/audit-journal.js';

let dir: string;

class Capture {
  text = '';
  write(s: string) {
    this.text += s;
  }
}

/** `text`: what went to stdout; `errors`: to stderr. */
async function run(fn: (out: Capture, err: Capture) => Promise<number>): Promise<{ code: number; text: string; errors: string }> {
  const out = new Capture();
  const err = new Capture();
  const code = await fn(out, err);
  return { code, text: out.text, errors: err.text };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airlock-audit-cli-'));
  const sink = await createLocalAuditSink({ dir, ack: 'local', responseCapBytes: 32 });
  const id = 'cli-1';
  await sink.append({
    type: 'session.start',
    sessionId: id,
    at: '2026-05-01T09:00:00.000Z',
    principal: { id: 'alice', groups: ['agents'], issuer: 'https://idp.test', tokenId: 'jti-9' },
    target: 'orders',
    targetKind: 'postgres',
    client: { address: '10.0.0.5', port: 51000 },
    protocol: 'postgres',
  });
  const base = { class: 'read' as const, statementTypes: ['SelectStmt'], tables: ['users'], functions: [] };
  await sink.append({ type: 'statement', sessionId: id, at: '2026-05-01T09:00:01.000Z', statementId: 'q1', text: "select email from users where id = 'u1'", ...base, decision: { effect: 'allow', policyIds: ['read-users'], policyVersion: 'v3', reason: 'ok' } });
  const capture = sink.newResponseCapture();
  capture.add('email\n***@example.com\n');
  capture.add('more rows past the cap\n');
  await sink.append({ type: 'statement.outcome', sessionId: id, at: '2026-05-01T09:00:01.250Z', statementId: 'q1', status: 'ok', rows: 2, bytes: 44, durationMs: 250, masking: { counts: { email: 1 }, total: 1 }, response: capture.finish() });
  await sink.append({ type: 'statement', sessionId: id, at: '2026-05-01T09:00:02.000Z', statementId: 'q2', text: 'delete from users', ...base, class: 'destructive', decision: { effect: 'approve', policyIds: ['hold-destructive'], policyVersion: 'v3', reason: 'needs a reviewer' }, approvalId: 'ap-1' });
  await sink.append({ type: 'approval', sessionId: id, at: '2026-05-01T09:00:30.000Z', statementId: 'q2', approvalId: 'ap-1', state: 'denied', reviewer: 'bob', reason: 'no WHERE clause' });
  await sink.append({ type: 'session.end', sessionId: id, at: '2026-05-01T09:01:00.000Z', reason: 'client closed', statements: 2, bytesIn: 80, bytesOut: 44, durationMs: 60000 });
  await sink.append({ type: 'auth.refused', sessionId: 'cli-2', at: '2026-05-02T09:00:00.000Z', code: 'token_expired', reason: 'token expired', client: { address: '10.0.0.6', port: 2 } });
  await sink.close();
});

after(() => rm(dir, { recursive: true, force: true }));

test('sessions lists with filters, as a table or JSON', async () => {
  const all = await run((out) => sessionsCommand({ dir }, out));
  assert.equal(all.code, 0);
  assert.match(all.text, /^SESSION\s+STARTED\s+PRINCIPAL\s+TARGET\s+STATUS/);
  assert.match(all.text, /cli-1\s+2026-05-01T09:00:00.000Z\s+alice\s+orders\s+ended, 1 denied\s+2/);
  assert.match(all.text, /cli-2 .* refused: token expired/);
  const json = await run((out) => sessionsCommand({ dir, from: '2026-05-02', format: 'json' }, out));
  assert.deepEqual(JSON.parse(json.text).map((s: { sessionId: string }) => s.sessionId), ['cli-2']);
  const day = await run((out) => sessionsCommand({ dir, to: '2026-05-01', format: 'json' }, out));
  assert.deepEqual(JSON.parse(day.text).map((s: { sessionId: string }) => s.sessionId), ['cli-1']);
  assert.match((await run((out) => sessionsCommand({ dir, principal: 'nobody' }, out))).text, /no sessions match/);
  // Errors go to stderr, as with `airlock approvals`; stdout stays empty.
  const bad = await run((out, err) => sessionsCommand({ dir, from: 'yesterday-ish' }, out, err));
  assert.equal(bad.code, 2);
  assert.match(bad.errors, /^error: --from: not a date/);
  assert.equal(bad.text, '');
  const missingDir = await run((out, err) => sessionsCommand({ dir: join(dir, 'missing') }, out, err));
  assert.equal(missingDir.code, 2);
  assert.match(missingDir.errors, /audit directory .* does not exist/);
  assert.equal(missingDir.text, '');
});

test('replay shows statements, decisions, approvals, responses and timings', async () => {
  const { code, text } = await run((out) => replayCommand({ dir, sessionId: 'cli-1' }, out));
  assert.equal(code, 0);
  assert.match(text, /principal alice \(agents\) from https:\/\/idp.test, token jti-9/);
  assert.match(text, /target\s+orders \[postgres\] over postgres, from 10.0.0.5:51000/);
  assert.match(text, /\+1.000s  #2    statement q1 \[read\] ALLOW by read-users \(policy v3\)\n\s+select email from users where id = '\*\*\*'/);
  assert.match(text, /\+1.250s  #3    outcome q1: ok, 2 rows, 44 bytes of row data, 250 ms/);
  assert.match(text, /masked 1: email 1/);
  assert.match(text, /response: 45 bytes sent in 2 pieces, 32 kept \(cut at the cap\), sha256 [0-9a-f]{16}…\n\s+\| email\n\s+\| \*\*\*@example.com\n\s+\| more rows \n\s+\| …\n/);
  assert.match(text, /statement q2 \[destructive\] APPROVE by hold-destructive \(policy v3\), approval ap-1/);
  assert.match(text, /\+30.000s  #5    approval ap-1 for q2: denied by bob \(no WHERE clause\)/);
  assert.match(text, /session end: client closed; 2 statements, 80 bytes in, 44 bytes out, 60000 ms/);
  assert.match(text, /chain: intact/);

  const json = await run((out) => replayCommand({ dir, sessionId: 'cli-1', format: 'json' }, out));
  const parsed = JSON.parse(json.text) as { chainIntact: boolean; events: AuditRecord[] };
  assert.equal(parsed.chainIntact, true);
  assert.deepEqual(parsed.events.map((e) => e.type), ['session.start', 'statement', 'statement.outcome', 'statement', 'approval', 'session.end']);

  const missing = await run((out, err) => replayCommand({ dir, sessionId: 'nope' }, out, err));
  assert.equal(missing.code, 1);
  assert.match(missing.errors, /no audit log for session nope/);
});

test('export writes every event as one JSON line, oldest session first', async () => {
  const { code, text } = await run((out) => auditExportCommand({ dir }, out));
  assert.equal(code, 0);
  const events = text.trimEnd().split('\n').map((l) => JSON.parse(l) as AuditRecord);
  assert.deepEqual(events.map((e) => `${e.sessionId}#${e.seq}`), ['cli-1#1', 'cli-1#2', 'cli-1#3', 'cli-1#4', 'cli-1#5', 'cli-1#6', 'cli-2#1']);
  assert.ok(events.every((e) => e.v === 1 && /^[0-9a-f]{64}$/.test(e.hash)));
});

test('audit verify passes on an intact trail and fails, naming the damage, after an edit', async () => {
  const ok = await run((out) => auditVerifyCommand({ dir }, out));
  assert.equal(ok.code, 0, ok.text);
  assert.match(ok.text, /checked 2 sessions, 7 events, \d+ signed digests/);
  assert.match(ok.text, /note: using the public key stored in/);
  assert.match(ok.text, /audit trail verified/);

  const pinned = await run((out) => auditVerifyCommand({ dir, publicKeyFiles: [join(dir, 'keys', 'audit-signing.pub')], format: 'json' }, out));
  assert.equal(JSON.parse(pinned.text).ok, true);

  const restore = await editJournals(dir, (text) => text.replace('"effect":"approve"', '"effect":"allow"'));
  try {
    const bad = await run((out) => auditVerifyCommand({ dir }, out));
    assert.equal(bad.code, 1);
    assert.match(bad.text, /FAIL \[edited\] session cli-1: seq 4 was modified after it was written/);
    const replay = await run((out) => replayCommand({ dir, sessionId: 'cli-1' }, out));
    assert.match(replay.text, /chain: BROKEN/);
  } finally {
    await restore();
  }
});
