// `airlock replay` decodes captured responses as the console does: PostgreSQL wire bytes as result
// tables, SSH output as text, and never passes control characters (terminal escapes) through.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalAuditSink } from '../../fargate-proxy/src/adapters/local/audit-file-sink.js';
import { replayCommand, sessionsCommand } from '../../fargate-proxy/src/cli/audit-commands.js';
import { backendMessage, readyForQuery } from '../../fargate-proxy/src/protocols/postgres/backend.js';
import type { AuditEventInput } from '../../core/audit/events.js';
import { sessionStart, statementEvent } from '../support/audit-events.js';

const cstr = (s: string) => Buffer.from(`${s}\0`);
function rowDescription(names: string[]): Buffer {
  const cols = names.map((n) => {
    const meta = Buffer.alloc(18);
    meta.writeInt32BE(25, 6); // text
    meta.writeInt16BE(-1, 12);
    return Buffer.concat([cstr(n), meta]);
  });
  const count = Buffer.alloc(2);
  count.writeInt16BE(names.length);
  return backendMessage(0x54, Buffer.concat([count, ...cols]));
}
function dataRow(cells: Array<string | null>): Buffer {
  const parts: Buffer[] = [Buffer.alloc(2)];
  parts[0]!.writeInt16BE(cells.length);
  for (const c of cells) {
    const len = Buffer.alloc(4);
    len.writeInt32BE(c === null ? -1 : Buffer.byteLength(c));
    parts.push(len, ...(c === null ? [] : [Buffer.from(c)]));
  }
  return backendMessage(0x44, Buffer.concat(parts));
}
const commandComplete = (tag: string) => backendMessage(0x43, cstr(tag));

async function trail(t: { after(fn: () => Promise<void>): void }, events: (sink: Awaited<ReturnType<typeof createLocalAuditSink>>) => AuditEventInput[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'airlock-replay-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const sink = await createLocalAuditSink({ dir, ack: 'local', responseCapBytes: 4096 });
  for (const e of events(sink)) await sink.append(e);
  await sink.close();
  return dir;
}

async function replay(dir: string, sessionId: string): Promise<string> {
  let text = '';
  assert.equal(await replayCommand({ dir, sessionId }, { write: (s: string) => (text += s) }), 0);
  return text;
}

test('a PostgreSQL response is shown as a result table, not hex', async (t) => {
  const dir = await trail(t, (sink) => {
    const capture = sink.newResponseCapture();
    capture.add(Buffer.concat([rowDescription(['id', 'email']), dataRow(['1', 'a***@example.com']), dataRow(['22', null]), commandComplete('SELECT 2'), readyForQuery('I')]));
    return [
      sessionStart('pg-1', 'alice', 'orders'),
      statementEvent('pg-1', 'q1', 'select id, email from users'),
      { type: 'statement.outcome', sessionId: 'pg-1', statementId: 'q1', status: 'ok', rows: 2, bytes: 40, durationMs: 2, response: capture.finish() },
      statementEvent('pg-1', 'q2', 'insert into t values (1)'),
      { type: 'statement.outcome', sessionId: 'pg-1', statementId: 'q2', status: 'ok', rows: 1, bytes: 0, durationMs: 1 },
    ];
  });
  const text = await replay(dir, 'pg-1');
  assert.match(text, /\| id \| email\n\s+\| ---\+-----------------\n\s+\| 1  \| a\*\*\*@example.com\n\s+\| 22 \|\n\s+\| \(2 rows\)\n\s+\| SELECT 2\n/);
  assert.doesNotMatch(text, /[0-9a-f]{2} [0-9a-f]{2} [0-9a-f]{2}/, 'no hex dump');
  // An INSERT's count is rows affected; there is no row data to count bytes of.
  assert.match(text, /outcome q2: ok, 1 row, 1 ms/);
  assert.match(text, /outcome q1: ok, 2 rows, 40 bytes of row data, 2 ms/);
});

test('SSH output is shown as text, with control characters escaped', async (t) => {
  const dir = await trail(t, (sink) => {
    const capture = sink.newResponseCapture();
    capture.add(Buffer.from('total 8\n-rw-r--r-- 1 app app 42 notes.txt\n\x1b]0;owned\x07\x1b[2J'));
    return [
      { ...sessionStart('ssh-1', 'alice', 'web'), targetKind: 'ssh', protocol: 'ssh' } as AuditEventInput,
      { ...statementEvent('ssh-1', 'c1', 'ls -l'), class: 'read' },
      { type: 'statement.outcome', sessionId: 'ssh-1', statementId: 'c1', status: 'ok', bytes: 60, durationMs: 3, response: capture.finish() },
    ];
  });
  const text = await replay(dir, 'ssh-1');
  assert.match(text, /\| total 8\n\s+\| -rw-r--r-- 1 app app 42 notes.txt\n\s+\| \\x1b\]0;owned\\x07\\x1b\[2J\n/);
  assert.doesNotMatch(text, /\x1b/, 'no escape character reaches the terminal');
});

test('a statement denied by a reviewer and then refused counts as one denial', async (t) => {
  const dir = await trail(t, () => [
    sessionStart('d-1', 'alice', 'orders'),
    { ...statementEvent('d-1', 'q1', 'drop table t'), approvalId: 'ap-1', decision: { effect: 'approve', policyIds: ['p'], policyVersion: 'v1', reason: 'held' } } as AuditEventInput,
    { type: 'approval', sessionId: 'd-1', statementId: 'q1', approvalId: 'ap-1', state: 'denied', reviewer: 'bob', reason: 'no' },
    { ...statementEvent('d-1', 'q1', 'drop table t', 'deny'), approvalId: 'ap-1' } as AuditEventInput,
    statementEvent('d-1', 'q2', 'drop table u', 'deny'),
    { type: 'session.end', sessionId: 'd-1', reason: 'client closed', statements: 2, bytesIn: 0, bytesOut: 0, durationMs: 1 },
  ]);
  let text = '';
  await sessionsCommand({ dir }, { write: (s: string) => (text += s) });
  assert.match(text, /d-1 .* ended, 2 denied/);
});
