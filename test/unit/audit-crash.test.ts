// Crash safety: a gateway process appending audit events is killed with SIGKILL; every event it
// acknowledged must be on disk with an intact chain. The same file is the child (see the bottom).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createPublicKey } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLocalAuditSink } from '../../fargate-proxy/src/adapters/local/audit-file-sink.js';
import { createLocalAuditReader } from '../../fargate-proxy/src/adapters/local/audit-file-reader.js';
import { verifyAuditStore } from '../../core/audit/verify.js';
import { expectAuditVerifies } from '../support/audit-trail.js';
import { sessionRecords } from '../support/audit-journal.js';

const CHILD_ENV = 'AIRLOCK_AUDIT_CRASH_CHILD_DIR';
const SESSION = 'crash-session';

async function runChild(dir: string): Promise<void> {
  // A long fsync interval: only write(2) stands between an acknowledgement and the kill.
  const sink = await createLocalAuditSink({ dir, ack: 'local', responseCapBytes: 0, fsyncIntervalMs: 60_000, digestIntervalMs: 50 });
  await sink.append({
    type: 'session.start',
    sessionId: SESSION,
    principal: { id: 'agent', groups: [], issuer: 'https://idp.test' },
    target: 'orders',
    targetKind: 'postgres',
    client: { address: '127.0.0.1', port: 1 },
    protocol: 'postgres',
  });
  for (let i = 0; ; i++) {
    const rec = await sink.append({
      type: 'statement',
      sessionId: SESSION,
      statementId: `q${i}`,
      text: `select ${i}`,
      class: 'read',
      statementTypes: ['SelectStmt'],
      tables: [],
      functions: [],
      decision: { effect: 'allow', policyIds: ['p'], policyVersion: 'v1', reason: 'ok' },
    });
    process.stdout.write(`${rec.seq}\n`);
    if (i % 50 === 0) await new Promise((r) => setImmediate(r));
  }
}

if (process.env[CHILD_ENV]) {
  await runChild(process.env[CHILD_ENV]);
} else {
  test('events acknowledged before a SIGKILL are all on disk and the chain verifies', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'airlock-audit-crash-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
      env: { ...process.env, [CHILD_ENV]: dir },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    t.after(() => void child.kill('SIGKILL'));
    let acked = 0;
    let firstAckAt: number | undefined;
    let buffered = '';
    await new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`child exited early: ${code}`))));
      child.stdout.on('data', (d: Buffer) => {
        buffered += d.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop()!;
        for (const l of lines) acked = Math.max(acked, Number(l));
        firstAckAt ??= Date.now();
        // Long enough for several 50 ms digests: a fast machine acknowledges 1000 events sooner.
        if (acked >= 1000 && Date.now() - firstAckAt >= 300 && child.exitCode === null && !child.killed) child.kill('SIGKILL');
      });
    });
    assert.ok(acked >= 1000);

    const seqs = (await sessionRecords(dir, SESSION)).map((r) => r.seq);
    assert.ok(seqs.length >= acked, `acknowledged ${acked}, on disk ${seqs.length}`);
    assert.deepEqual(seqs.slice(0, acked), Array.from({ length: acked }, (_, i) => i + 1));

    const reader = createLocalAuditReader(dir);
    const publicKey = createPublicKey(await readFile(join(dir, 'keys', 'audit-signing.pub'), 'utf8'));
    const report = await verifyAuditStore(reader, { publicKey, sessionIds: await reader.sessionIds() });
    assert.deepEqual(report.problems, []);
    assert.ok(report.digests >= 1, 'periodic digests were written while the child ran');

    // The restarted gateway closes the cut session with a chained, signed session.end.
    await (await createLocalAuditSink({ dir, ack: 'local', responseCapBytes: 0 })).close();
    const last = (await sessionRecords(dir, SESSION)).pop()!;
    assert.equal(last.type === 'session.end' && last.reason, 'gateway_crashed');
    assert.deepEqual((await expectAuditVerifies(dir)).warnings, []);
  });
}
