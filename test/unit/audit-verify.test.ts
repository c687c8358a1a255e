// Tamper evidence: sessions written by the real local sink, then edited on disk like an attacker
// with file access would; verification must name each kind of damage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync, createPublicKey } from 'node:crypto';
import { createLocalAuditSink } from '../../fargate-proxy/src/adapters/local/audit-file-sink.js';
import { createLocalAuditReader } from '../../fargate-proxy/src/adapters/local/audit-file-reader.js';
import { verifyAuditStore, type VerifyReport } from '../../core/audit/verify.js';
import { signDigest, type SignedDigest } from '../../core/audit/digest.js';
import { recordHash } from '../../core/audit/chain.js';
import type { AuditRecord } from '../../core/audit/events.js';
import { rewriteSessionLines, sessionLines } from '../support/audit-journal.js';

const SESSION = '20261125T000000Z-aaaaaaaaaaaaaaaa';

async function writeSession(t: { after(fn: () => Promise<void>): void }) {
  const dir = await mkdtemp(join(tmpdir(), 'airlock-audit-verify-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const sink = await createLocalAuditSink({ dir, ack: 'local', responseCapBytes: 1024 });
  await sink.append({
    type: 'session.start',
    sessionId: SESSION,
    principal: { id: 'agent-1', groups: ['agents'], issuer: 'https://idp.test' },
    target: 'orders',
    targetKind: 'postgres',
    client: { address: '127.0.0.1', port: 50000 },
    protocol: 'postgres',
  });
  for (let i = 0; i < 4; i++) {
    await sink.append({
      type: 'statement',
      sessionId: SESSION,
      statementId: `st-${i}`,
      text: `select * from orders where id = ${i}`,
      class: 'read',
      statementTypes: ['SelectStmt'],
      tables: ['orders'],
      functions: [],
      decision: { effect: 'allow', policyIds: ['read-orders'], policyVersion: 'v1', reason: 'reads allowed' },
    });
  }
  await sink.append({ type: 'session.end', sessionId: SESSION, reason: 'client closed', statements: 4, bytesIn: 10, bytesOut: 20, durationMs: 5 });
  await sink.close();
  const publicKey = createPublicKey(await readFile(join(dir, 'keys', 'audit-signing.pub'), 'utf8'));
  // The session's lines where they lie in the journal: edited in place, as an attacker would.
  const lines = () => sessionLines(dir, SESSION);
  const save = (ls: string[]) => rewriteSessionLines(dir, SESSION, ls);
  const verify = async (): Promise<VerifyReport> => {
    const reader = createLocalAuditReader(dir);
    return verifyAuditStore(reader, { publicKey, sessionIds: await reader.sessionIds() });
  };
  return { dir, lines, save, verify, publicKey };
}

const kinds = (r: VerifyReport) => [...new Set(r.problems.map((p) => p.kind))].sort();

test('an untouched audit trail verifies, with every event covered by a signed digest', async (t) => {
  const s = await writeSession(t);
  const report = await s.verify();
  assert.equal(report.ok, true, JSON.stringify(report.problems));
  assert.equal(report.events, 6);
  assert.ok(report.digests >= 1);
  assert.deepEqual(report.warnings, []);
});

test('an edited event is detected', async (t) => {
  const s = await writeSession(t);
  const ls = await s.lines();
  ls[2] = ls[2]!.replace('"read"', '"write"');
  await s.save(ls);
  const report = await s.verify();
  assert.equal(report.ok, false);
  assert.deepEqual(kinds(report), ['edited']);
  assert.equal(report.problems[0]!.seq, 3);
});

test('an edited event whose hash was recomputed breaks the chain, and a rewritten chain contradicts the digest', async (t) => {
  const s = await writeSession(t);
  const ls = await s.lines();
  const rec = JSON.parse(ls[2]!) as AuditRecord & { text: string };
  rec.text = 'select 1';
  rec.hash = recordHash(rec);
  ls[2] = JSON.stringify(rec);
  await s.save(ls);
  assert.deepEqual(kinds(await s.verify()), ['broken-link']);

  // Relinking every later event makes the chain consistent again: only the signed digest knows.
  let prev = rec.hash;
  for (let i = 3; i < ls.length; i++) {
    const later = JSON.parse(ls[i]!) as AuditRecord;
    later.prev = prev;
    later.hash = recordHash(later);
    prev = later.hash;
    ls[i] = JSON.stringify(later);
  }
  await s.save(ls);
  assert.deepEqual(kinds(await s.verify()), ['digest-mismatch']);
});

test('a removed event is detected', async (t) => {
  const s = await writeSession(t);
  const ls = await s.lines();
  ls.splice(3, 1);
  await s.save(ls);
  const report = await s.verify();
  assert.deepEqual(kinds(report), ['broken-link', 'sequence']);
  assert.equal(report.problems.length, 2, 'one removal is reported once per check, not cascaded');
});

test('reordered events are detected', async (t) => {
  const s = await writeSession(t);
  const ls = await s.lines();
  [ls[1], ls[2]] = [ls[2]!, ls[1]!];
  await s.save(ls);
  assert.ok(kinds(await s.verify()).includes('sequence'));
  assert.ok(kinds(await s.verify()).includes('broken-link'));
});

test('a truncated tail is detected through the signed digest', async (t) => {
  const s = await writeSession(t);
  const ls = await s.lines();
  await s.save(ls.slice(0, 3));
  const report = await s.verify();
  assert.deepEqual(kinds(report), ['truncated']);
});

test('a damaged line is reported as unparsable', async (t) => {
  const s = await writeSession(t);
  const ls = await s.lines();
  ls[1] = ls[1]!.slice(0, 20);
  await s.save(ls);
  assert.ok(kinds(await s.verify()).includes('unparsable'));
});

test("a session's deleted lines are detected", async (t) => {
  const s = await writeSession(t);
  await s.save([]);
  assert.deepEqual(kinds(await s.verify()), ['missing-session']);
});

test('a digest forged with another key, or altered, is rejected', async (t) => {
  const s = await writeSession(t);
  const digestsFile = join(s.dir, 'digests.jsonl');
  const original = (await readFile(digestsFile, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as SignedDigest);
  const last = original[original.length - 1]!;

  // An attacker truncates the log and signs a digest matching the shorter chain with their own key.
  const ls = await s.lines();
  await s.save(ls.slice(0, 3));
  const head = JSON.parse(ls[2]!) as AuditRecord;
  const { privateKey: attackerKey } = generateKeyPairSync('ed25519');
  const { sig: _s, keyId: _k, ...unsigned } = last;
  const forged = signDigest({ ...unsigned, sessions: [{ sessionId: SESSION, seq: head.seq, hash: head.hash }] }, attackerKey);
  await writeFile(digestsFile, `${[...original.slice(0, -1), forged].map((d) => JSON.stringify(d)).join('\n')}\n`);
  assert.ok(kinds(await s.verify()).includes('forged-digest'));

  // Same edit, keeping the real key id and signature: the signature no longer matches.
  const altered = { ...last, sessions: [{ sessionId: SESSION, seq: head.seq, hash: head.hash }] };
  await writeFile(digestsFile, `${[...original.slice(0, -1), altered].map((d) => JSON.stringify(d)).join('\n')}\n`);
  assert.ok(kinds(await s.verify()).includes('forged-digest'));
});

test('verification against a pinned key rejects a data directory whose key was swapped', async (t) => {
  const s = await writeSession(t);
  const reader = createLocalAuditReader(s.dir);
  const other = generateKeyPairSync('ed25519').publicKey;
  const report = await verifyAuditStore(reader, { publicKey: other, sessionIds: await reader.sessionIds() });
  assert.deepEqual(kinds(report), ['forged-digest']);
});
