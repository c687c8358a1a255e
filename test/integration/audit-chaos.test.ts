// Chaos: ten kill -9s at random points of a mixed workload of several concurrent sessions, each
// followed by a restart. At the end `airlock audit verify` passes, no session is left open, and
// every statement PostgreSQL logged (`log_statement=all`) is in the audit trail.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { AGENT, AUDIENCE } from '../support/gateway.js';
import { expectAuditVerifies } from '../support/audit-trail.js';
import { spawnWarmGateway, type WarmGateway } from '../support/gateway-process.js';
import { writeProcessGatewayConfig } from '../support/gateway-config.js';
import { createLocalAuditReader } from '../../fargate-proxy/src/adapters/local/audit-file-reader.js';
import { requestClientCredentialsToken } from '../../fargate-proxy/src/adapters/local/oidc-issuer.js';
import type { AuditRecord } from '../../core/audit/events.js';

const KILLS = 10;
const WORKERS = 4;
/** Gateway processes warming while one serves. */
const WARM_AHEAD = 2;

let server: RunningPostgres;
let dir: string;
before(async () => {
  server = await startPostgres({ logStatements: true });
  await server.psqlDirect('CREATE TABLE chaos_t (n int); GRANT ALL ON chaos_t TO app', server.database);
  dir = mkdtempSync(join(tmpdir(), 'airlock-chaos-'));
});
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await server?.stop();
});

let marker = 0;
let completed = 0;

/** A mixed statement: reads, writes, a transaction, an extended-protocol query, a refusal (and, per round, a held DDL). */
async function oneStatement(c: pg.Client): Promise<void> {
  const n = ++marker;
  switch (n % 6) {
    case 0:
      await c.query(`SELECT ${n} AS chaos_${n}`);
      break;
    case 1:
      await c.query(`INSERT INTO chaos_t SELECT ${n} AS chaos_${n}`);
      break;
    case 2:
      await c.query({ text: `SELECT $1::int AS chaos_${n}`, values: [n] });
      break;
    case 3:
      await c.query(`BEGIN; WITH chaos_${n} AS (SELECT 1) UPDATE chaos_t SET n = n WHERE n = ${n}; COMMIT`);
      break;
    case 4:
      await c.query(`DROP TABLE chaos_${n}`).catch(() => undefined); // refused by policy: never reaches the server
      break;
    default:
      await c.query(`SELECT count(*) AS chaos_${n} FROM chaos_t, pg_sleep(0.01)`);
  }
}

/** Sessions come and go: connect, a few statements, disconnect; until the gateway dies. */
async function worker(port: number, token: string): Promise<void> {
  for (;;) {
    const c = new pg.Client({ host: '127.0.0.1', port, database: 'app', user: 'agent', password: token, connectionTimeoutMillis: 3000 });
    c.on('error', () => undefined);
    try {
      await c.connect();
      const statements = 1 + Math.floor(Math.random() * 8);
      for (let i = 0; i < statements; i++) {
        await oneStatement(c);
        completed++;
      }
      await c.end();
    } catch {
      return; // the gateway was killed
    }
  }
}

/** A session whose DDL waits for a reviewer who never comes: the kill finds it held. */
async function holder(port: number, token: string): Promise<void> {
  const c = new pg.Client({ host: '127.0.0.1', port, database: 'app', user: 'agent', password: token, connectionTimeoutMillis: 3000 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.query(`CREATE TABLE chaos_held_${++marker} (a int)`);
  } catch {
    /* the gateway was killed */
  }
}

test('ten kill -9s under a mixed workload: the trail verifies and holds every statement the server ran', async () => {
  const started = Date.now();
  const { file: cfgFile, tokenEndpoint } = writeProcessGatewayConfig(dir, server, {
    // Small responses kept, and the default digest interval: kills land before, between and after digests.
    audit: { responseCapBytes: 256 },
  });
  let token: string | undefined;
  // The next gateway processes are spawned and warmed while the current one serves: warming one
  // (loading the modules) takes several times as long as a round, so two warm side by side.
  const gateways: WarmGateway[] = [];
  const warmUpTo = (count: number) => {
    while (gateways.length < Math.min(count, KILLS + 1)) gateways.push(spawnWarmGateway(cfgFile));
  };
  warmUpTo(WARM_AHEAD);
  try {
    for (let kill = 0; kill <= KILLS; kill++) {
      const gw = gateways[kill]!;
      const port = await gw.start();
      warmUpTo(kill + 1 + WARM_AHEAD);
      if (kill === KILLS) {
        // The last start closes out what the last kill cut; then a graceful stop.
        await gw.stop('SIGTERM');
        break;
      }
      token ??= await requestClientCredentialsToken({ tokenEndpoint, clientId: AGENT.clientId, clientSecret: AGENT.clientSecret, audience: AUDIENCE });
      const before = completed;
      const workers = [...Array.from({ length: WORKERS }, () => worker(port, token!)), holder(port, token)];
      // A random point once the workload runs: mid-login, mid-statement, between sessions.
      for (let i = 0; i < 400 && completed === before; i++) await new Promise((r) => setTimeout(r, 25));
      await new Promise((r) => setTimeout(r, Math.random() * 600));
      await gw.stop('SIGKILL');
      await Promise.all(workers);
    }
  } finally {
    await Promise.all(gateways.map((g) => g.stop('SIGKILL'))); // after a failure: none is left behind
  }

  const auditDir = join(dir, 'data', 'audit');
  await expectAuditVerifies(auditDir);
  const reader = createLocalAuditReader(auditDir);
  const sessions = await reader.listSessions();
  assert.deepEqual(sessions.filter((s) => !s.endedAt && !s.authRefused).map((s) => s.sessionId), [], 'no session is left open');
  assert.ok(sessions.filter((s) => s.endReason === 'gateway_crashed').length >= 1, 'sessions cut by the kills are closed as gateway_crashed');

  const audited = new Set<string>();
  for (const s of sessions) {
    for (const e of ((await reader.readSession(s.sessionId)) ?? []) as AuditRecord[]) {
      if (e.type === 'statement') for (const m of e.text.matchAll(/chaos_(\d+)/g)) audited.add(m[1]!);
    }
  }
  const ran = new Set([...readFileSync(server.logFile, 'utf8').matchAll(/(?:statement|execute [^:]*): .*?chaos_(\d+)/g)].map((m) => m[1]!));
  assert.ok(ran.size >= KILLS, `only ${ran.size} statements reached the server`);
  const missing = [...ran].filter((n) => !audited.has(n));
  assert.deepEqual(missing, [], `${missing.length} of ${ran.size} statements the server ran have no audit event`);
  console.log(`chaos: ${KILLS} kills, ${sessions.length} sessions, ${ran.size} statements run, ${Date.now() - started} ms`);
});
