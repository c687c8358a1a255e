// Session activity counted from the audit events sessions append, through the real local audit
// sink; and the audit lag the sink reports while its remote store does not acknowledge.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalAuditSink } from '../../fargate-proxy/src/adapters/local/audit-file-sink.js';
import { createLocalAuditReader } from '../../fargate-proxy/src/adapters/local/audit-file-reader.js';
import { CountingAuditSink } from '../../fargate-proxy/src/metrics/counting-audit-sink.js';
import { newAuditSessionId, type AuditEventInput } from '../../core/audit/events.js';
import { AuditUnavailableError, type AuditStoreWriter, type ShippedItem } from '../../core/audit/ports.js';
import type { Effect, TargetKind } from '../../core/model.js';

const principal = { id: 'agent-1', groups: ['agents'], issuer: 'https://idp.example.com/' };
const client = { address: '127.0.0.1', port: 50000 };

const start = (sessionId: string, targetKind: TargetKind, at?: string): AuditEventInput => ({
  type: 'session.start', sessionId, at, principal, target: targetKind === 'ssh' ? 'bastion' : 'app', targetKind, client, protocol: targetKind,
});
const statement = (sessionId: string, effect: Effect, n: number): AuditEventInput => ({
  type: 'statement', sessionId, statementId: `s${n}`, text: 'SELECT 1', class: 'read', statementTypes: ['SelectStmt'], tables: [], functions: [],
  decision: { effect, policyIds: [], policyVersion: 'sha256:test', reason: effect },
});
const end = (sessionId: string): AuditEventInput => ({ type: 'session.end', sessionId, reason: 'client closed', statements: 1, bytesIn: 0, bytesOut: 0, durationMs: 1 });
const refused = (sessionId: string): AuditEventInput => ({ type: 'auth.refused', sessionId, code: 'invalid_token', reason: 'expired', client });

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-metrics-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('counts sessions opened, statements and refusals per interval; open sessions by kind; events still reach the audit log', async (t) => {
  const dir = tempDir(t);
  const sink = await createLocalAuditSink({ dir, ack: 'local', responseCapBytes: 0 });
  const counted = new CountingAuditSink(sink);
  t.after(() => counted.close());
  const pgSession = newAuditSessionId();
  const sshSession = newAuditSessionId();
  const refusedSession = newAuditSessionId();

  await counted.append(start(pgSession, 'postgres'));
  await counted.append(statement(pgSession, 'allow', 1));
  await counted.append(statement(pgSession, 'deny', 2));
  await counted.append(statement(pgSession, 'approve', 3));
  await counted.append(start(sshSession, 'ssh'));
  await counted.append(refused(refusedSession));
  assert.equal(counted.openSessions(), 2);
  assert.equal(counted.openSessions('ssh'), 1);
  assert.equal(counted.openSessions('postgres'), 1);
  assert.deepEqual(counted.takeActivity(), { sessionsOpened: 2, statements: 3, refusals: 2 });
  assert.deepEqual(counted.takeActivity(), { sessionsOpened: 0, statements: 0, refusals: 0 }, 'taking resets');

  await counted.append(end(sshSession));
  assert.equal(counted.openSessions('ssh'), 0);
  assert.equal(counted.openSessions(), 1);
  assert.deepEqual(counted.health(), { ok: true });

  const types = (await createLocalAuditReader(dir).readSession(pgSession))!.map((l) => ('type' in l ? l.type : 'unparsable'));
  assert.deepEqual(types, ['session.start', 'statement', 'statement', 'statement'], 'every event went through to the sink');
});

test('events the sink refuses are still counted: the agent sent them', async (t) => {
  const dir = tempDir(t);
  const sink = await createLocalAuditSink({ dir, ack: 'local', responseCapBytes: 0 });
  const counted = new CountingAuditSink(sink);
  await counted.close();
  await assert.rejects(counted.append(statement(newAuditSessionId(), 'deny', 1)), AuditUnavailableError);
  assert.deepEqual(counted.takeActivity(), { sessionsOpened: 0, statements: 1, refusals: 1 });
});

test('the local sink reports when its oldest unshipped event was written, until the store acknowledges', async (t) => {
  const dir = tempDir(t);
  // A store that is down until told otherwise, as DynamoDB is during an outage.
  let up = false;
  const shipped: ShippedItem[] = [];
  const store: AuditStoreWriter = {
    write: async (items) => {
      if (!up) throw new Error('store unreachable');
      shipped.push(...items);
    },
  };
  const sink = await createLocalAuditSink({ dir, ack: 'local', responseCapBytes: 0, store, shipIntervalMs: 10 });
  t.after(() => sink.close());
  assert.equal(sink.oldestUnshippedAt(), undefined);
  const sessionId = newAuditSessionId();
  await sink.append(start(sessionId, 'postgres', '2026-01-01T00:00:00.000Z'));
  await sink.append(statement(sessionId, 'allow', 1));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(sink.oldestUnshippedAt(), Date.parse('2026-01-01T00:00:00.000Z'), 'the oldest waiting event, not the newest');
  up = true;
  for (let i = 0; i < 200 && sink.unshippedCount() > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(sink.unshippedCount(), 0);
  assert.equal(sink.oldestUnshippedAt(), undefined);
  assert.ok(shipped.length >= 2);
});
