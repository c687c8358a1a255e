// The audit trail as the PostgreSQL gateway writes it: every statement and decision, its outcome
// and response, hash-chained; and a gateway killed mid-workload loses no event of a statement that
// reached the database.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { Parser } from 'pg-protocol/dist/parser.js';
import { startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { AGENT, AUDIENCE, startTestGateway, type TestGateway } from '../support/gateway.js';
import { createLocalAuditReader } from '../../fargate-proxy/src/adapters/local/audit-file-reader.js';
import { auditVerifyCommand, replayCommand } from '../../fargate-proxy/src/cli/audit-commands.js';
import { capturedBytes } from '../../core/audit/response-capture.js';
import { requestClientCredentialsToken } from '../../fargate-proxy/src/adapters/local/oidc-issuer.js';
import { expectAuditVerifies } from '../support/audit-trail.js';
import { writeProcessGatewayConfig } from '../support/gateway-config.js';
import { editJournals } from '../support/audit-journal.js';

let server: RunningPostgres;

before(async () => {
  server = await startPostgres({ logStatements: true });
});
after(async () => {
  await server?.stop();
});

function sink(): { text: string; write(t: string): void } {
  return {
    text: '',
    write(t: string) {
      this.text += t;
    },
  };
}

describe('what the gateway records', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway(server);
  });
  after(async () => gw?.stop());

  test('statements, decisions, outcomes and responses are recorded, chained and verifiable', async () => {
    const c = new pg.Client(gw.pgOptions(await gw.token()));
    await c.connect();
    await c.query("SELECT 'visible-marker' AS label, 7 AS n");
    await c.query('DROP TABLE IF EXISTS nothing_here').catch(() => undefined);
    await c.query('SELECT * FROM missing_table').catch(() => undefined);
    await c.end();
    await new Promise((r) => setTimeout(r, 300)); // session.end is appended as the connection closes

    const reader = createLocalAuditReader(join(gw.dir, 'data', 'audit'));
    const [session] = await reader.listSessions({ principal: AGENT.clientId });
    assert.ok(session, 'no session listed for the agent');
    const entries = (await reader.readSession(session.sessionId))!;
    const events = entries.map((e) => ('record' in e ? (e as { record: unknown }).record : e)) as any[];
    const types = events.map((e) => e.type);
    assert.equal(types[0], 'session.start');
    assert.equal(types.at(-1), 'session.end');

    const statements = events.filter((e) => e.type === 'statement');
    const select = statements.find((e) => e.text.startsWith('SELECT') && e.text.includes('AS label'));
    assert.ok(select);
    assert.equal(select.decision.effect, 'allow');
    assert.doesNotMatch(select.text, /visible-marker/, 'literals are masked in the recorded statement text');
    const drop = statements.find((e) => e.text.startsWith('DROP'));
    assert.equal(drop.decision.effect, 'deny');
    assert.deepEqual(drop.decision.policyIds, ['no-destructive']);

    const outcome = events.find((e) => e.type === 'statement.outcome' && e.statementId === select.statementId);
    assert.equal(outcome.status, 'ok');
    assert.equal(outcome.rows, 1);
    assert.ok(capturedBytes(outcome.response).includes('visible-marker'), 'the response the agent got is recorded');
    const failed = events.find((e) => e.type === 'statement.outcome' && e.status === 'error');
    assert.equal(failed.error.code, '42P01');
    // The refused DROP has no outcome: it never ran.
    assert.equal(events.filter((e) => e.type === 'statement.outcome' && e.statementId === drop.statementId).length, 0);

    const out = sink();
    assert.equal(await auditVerifyCommand({ dir: join(gw.dir, 'data', 'audit') }, out), 0, out.text);
    const replay = sink();
    assert.equal(await replayCommand({ dir: join(gw.dir, 'data', 'audit'), sessionId: session.sessionId }, replay), 0);
    assert.match(replay.text, /DROP TABLE/);
    assert.match(replay.text, /no-destructive/);
    // The response the agent got, decoded from the wire bytes as a table (the console's decoder).
    assert.match(replay.text, /\| label\s+\| n\n\s+\| -+-\+-+\n\s+\| visible-marker \| 7\n\s+\| \(1 row\)\n\s+\| SELECT 1\n/);

    // Tampering is detected.
    let forged = 0;
    await editJournals(join(gw.dir, 'data', 'audit'), (text) => text.replace(/"effect":"deny"/g, () => (forged++, '"effect":"allow"')));
    assert.ok(forged > 0);
    assert.equal(await auditVerifyCommand({ dir: join(gw.dir, 'data', 'audit') }, sink()), 1);
  });

  test('refused logins are recorded', async () => {
    const c = new pg.Client(gw.pgOptions('not-a-token'));
    await assert.rejects(c.connect(), { code: '28P01' });
    const reader = createLocalAuditReader(join(gw.dir, 'data', 'audit'));
    const refused = await reader.listSessions({ refusedOnly: true });
    assert.ok(refused.length >= 1);
  });

  test('a client that leaves before its answer: the statement still gets an outcome, before the session end', async () => {
    const reader = createLocalAuditReader(join(gw.dir, 'data', 'audit'));
    const before = new Set((await reader.listSessions({ principal: AGENT.clientId })).map((s) => s.sessionId));
    const token = await gw.token();
    const socket = net.connect(gw.port, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      const parser = new Parser();
      socket.on('data', (d: Buffer) =>
        parser.parse(d, (m) => {
          if (m.name === 'authenticationCleartextPassword') socket.write(serialize.password(token));
          else if (m.name === 'error') reject(new Error('login failed'));
          else if (m.name === 'readyForQuery') resolve();
        }),
      );
      socket.write(serialize.startup({ user: 'agent', database: 'app' }));
    });
    // The query and Terminate in one write, then gone: the server's answer can only come after.
    socket.end(Buffer.concat([serialize.query('SELECT pg_sleep(0.3), 1 AS slow'), serialize.end()]));
    await new Promise((r) => setTimeout(r, 1500));

    const session = (await reader.listSessions({ principal: AGENT.clientId })).find((s) => !before.has(s.sessionId));
    assert.ok(session, 'the raw session is listed');
    const events = (await reader.readSession(session.sessionId))!.map((e) => ('record' in e ? (e as { record: unknown }).record : e)) as any[];
    assert.equal(events.at(-1).type, 'session.end', events.map((e) => e.type).join(' '));
    const statement = events.find((e) => e.type === 'statement' && e.text.includes('slow'));
    const outcome = events.find((e) => e.type === 'statement.outcome' && e.statementId === statement.statementId);
    assert.ok(outcome, 'the statement has an outcome');
    assert.equal(events.filter((e) => e.type === 'statement.outcome' && e.statementId === statement.statementId).length, 1);
    assert.equal(outcome.status, 'error');
    assert.equal(outcome.error.code, '08006');
    // The first test forged another session of this directory; this one's chain must verify.
    const out = sink();
    await auditVerifyCommand({ dir: join(gw.dir, 'data', 'audit'), sessionIds: [session.sessionId], format: 'json' }, out);
    const report = JSON.parse(out.text) as { problems: { sessionId?: string; message: string }[] };
    assert.deepEqual(report.problems.filter((p) => p.sessionId === session.sessionId), []);
  });
});

describe('crash safety', () => {
  test('kill -9 mid-workload: every statement in the server log has its audit event after restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-crash-'));
    const { file: cfgFile, tokenEndpoint } = writeProcessGatewayConfig(dir, server);
    const exited = (child: ChildProcess) =>
      child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => child.once('exit', () => r()));
    const startServe = async (): Promise<{ child: ChildProcess; port: number }> => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'fargate-proxy/src/cli/main.ts', 'serve', '--config', cfgFile], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (d) => {
          out += d;
          const m = /postgres listening on [\d.]+:(\d+)/.exec(out);
          if (m) resolve(Number(m[1]));
        });
        child.on('exit', (code) => reject(new Error(`gateway exited early (${code})`)));
      });
      return { child, port };
    };
    try {
      const first = await startServe();
      const token = await requestClientCredentialsToken({ tokenEndpoint, clientId: AGENT.clientId, clientSecret: AGENT.clientSecret, audience: AUDIENCE });
      const clients = await Promise.all(
        [0, 1, 2].map(async () => {
          const c = new pg.Client({ host: '127.0.0.1', port: first.port, database: 'app', user: 'agent', password: token });
          c.on('error', () => undefined);
          await c.connect();
          return c;
        }),
      );
      let n = 0;
      let stop = false;
      const workers = clients.map(async (c) => {
        while (!stop) {
          const i = n++;
          try {
            await c.query(`SELECT ${i} AS crash_marker_${i}`);
          } catch {
            return;
          }
        }
      });
      await new Promise((r) => setTimeout(r, 1500));
      // Listen before killing: the exit can come before the workers have all seen their sockets close.
      const firstExited = exited(first.child);
      first.child.kill('SIGKILL');
      stop = true;
      await Promise.all(workers);
      await firstExited;
      // The restarted gateway opens the same spool and ships (and keeps) what it holds.
      const second = await startServe();
      const secondExited = exited(second.child);
      second.child.kill('SIGTERM');
      await secondExited;

      const logged = new Set([...readFileSync(server.logFile, 'utf8').matchAll(/statement: SELECT \d+ AS crash_marker_(\d+)/g)].map((m) => m[1] as string));
      assert.ok(logged.size > 10, `only ${logged.size} statements ran before the kill`);
      const reader = createLocalAuditReader(join(dir, 'data', 'audit'));
      const audited = new Set<string>();
      for (const s of await reader.listSessions({})) {
        for (const e of (await reader.readSession(s.sessionId)) ?? []) {
          const rec = ('record' in e ? (e as { record: Record<string, any> }).record : e) as Record<string, any>;
          const m = rec.type === 'statement' ? /crash_marker_(\d+)/.exec(rec.text) : null;
          if (m) audited.add(m[1] as string);
        }
      }
      const missing = [...logged].filter((i) => !audited.has(i));
      assert.deepEqual(missing, [], `${missing.length} of ${logged.size} statements that reached the database have no audit event`);
      // The restart closed the sessions the kill cut: none stays open, and the trail verifies.
      assert.deepEqual((await reader.listSessions({})).filter((s) => !s.endedAt && !s.authRefused).map((s) => s.sessionId), []);
      await expectAuditVerifies(join(dir, 'data', 'audit'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
