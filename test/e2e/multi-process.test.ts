// `processes: 2`: a real `airlock serve` supervising two gateway processes on one set of listeners,
// as one task of a fleet (dynalite holds the fleet registry) beside a second, one-process task.
// Sessions land on both processes; a PostgreSQL cancel reaches the process holding the session
// whichever process — or task — the cancel's connection lands on; SIGTERM drains both processes;
// each process keeps its own audit trail.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { stringify } from 'yaml';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { startLocalDynamo, type LocalDynamo, createFleetTable, localAwsEnv } from '../support/local-aws.js';
import { useProcessEnv } from '../support/process-env.js';
import { spawnWarmGateway, type WarmGateway } from '../support/gateway-process.js';
import { startPostgres, waitForActiveQuery, type RunningPostgres } from '../support/pg-server.js';
import { AGENT, AUDIENCE, TEST_POLICY, pgTarget, sendCancel } from '../support/gateway.js';
import { requestClientCredentialsToken } from '../../fargate-proxy/src/adapters/local/oidc-issuer.js';
import { createLocalAuditReader } from '../../fargate-proxy/src/adapters/local/audit-file-reader.js';
import { fleetTagOf, processIndexOf } from '../../fargate-proxy/src/protocols/postgres/cancel-registry.js';
import { localAuditDir } from '../../fargate-proxy/src/gateway.js';
import { parseConfig, ConfigError } from '../../fargate-proxy/src/config/load.js';
import type { GatewayRecord } from '../../fargate-proxy/src/cli/gateway-record.js';

let server: RunningPostgres;
let dynamo: LocalDynamo;
/** Another task of the fleet: one process, trusting the first task's issuer. */
let other: WarmGateway;
let otherPort: number;
const FLEET_TABLE = 'airlock-fleet';
let restoreEnv: (() => void) | undefined;
/** A stand-in for the ECS agent's task-protection endpoint: what the task asked for, in order. */
let agent: Server;
const protectionAsked: boolean[] = [];
let dir: string;
let child: ChildProcess;
let exited: Promise<number | null>;
let record: GatewayRecord;
let stderr = '';

const DRAIN_SECONDS = 60;

before(async () => {
  [server, dynamo] = await Promise.all([startPostgres(), startLocalDynamo()]);
  await createFleetTable(dynamo, FLEET_TABLE);
  // Both tasks (and the processes the supervisor forks) reach dynalite through the SDK's own settings.
  const aws = localAwsEnv({ dynamodb: dynamo.endpoint });
  restoreEnv = useProcessEnv(aws);
  const fleet = { table: FLEET_TABLE, advertiseHost: '127.0.0.1', heartbeatSeconds: 1, expireSeconds: 5 };
  agent = createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => (raw += d));
    req.on('end', () => {
      const enabled = (JSON.parse(raw || '{}') as { ProtectionEnabled?: boolean }).ProtectionEnabled === true;
      protectionAsked.push(enabled);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ protection: { ProtectionEnabled: enabled } }));
    });
  });
  await new Promise<void>((r) => agent.listen(0, '127.0.0.1', r));
  const agentUri = `http://127.0.0.1:${(agent.address() as AddressInfo).port}/api/task`;
  dir = mkdtempSync(join(tmpdir(), 'airlock-processes-'));
  writeFileSync(join(dir, 'policy.cedar'), TEST_POLICY);
  const config = {
    fleet: { ...fleet, scaleInProtection: { agentUri, checkSeconds: 0.1, expiresInMinutes: 30 } },
    dataDir: join(dir, 'data'),
    logLevel: 'warn',
    processes: 2,
    listeners: { postgres: { host: '127.0.0.1', port: 0, allowPlaintext: true } },
    identity: { issuer: 'http://127.0.0.1', audience: AUDIENCE, localIssuer: { port: 0, clients: [AGENT] } },
    targets: [pgTarget(server)],
    policy: { file: join(dir, 'policy.cedar') },
  };
  writeFileSync(join(dir, 'airlock.yaml'), stringify(config));
  // The other task warms (loads its modules) while this one starts; its configuration, which needs
  // this task's issuer, is written before it is told to start.
  other = spawnWarmGateway(join(dir, 'other.yaml'));
  child = spawn(process.execPath, ['--import', 'tsx', 'fargate-proxy/src/cli/main.ts', 'serve', '--config', join(dir, 'airlock.yaml')], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, AIRLOCK_DRAIN_SECONDS: String(DRAIN_SECONDS) },
  });
  exited = new Promise((r) => child.once('exit', (code) => r(code)));
  child.stderr!.on('data', (d) => (stderr += d));
  let stdout = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      stdout += d;
      if (stdout.includes('airlock: postgres listening on')) resolve();
    });
    void exited.then((code) => reject(new Error(`airlock serve exited (${code}): ${stderr.slice(-2000)}`)));
  });
  record = JSON.parse(readFileSync(join(dir, 'data', 'gateway.json'), 'utf8')) as GatewayRecord;
  writeFileSync(
    join(dir, 'other.yaml'),
    stringify({ ...config, fleet, processes: 1, dataDir: join(dir, 'other'), logLevel: 'error', identity: { issuer: record.issuer, audience: AUDIENCE } }),
  );
  otherPort = await other.start();
});

after(async () => {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const pid of record?.processes ?? []) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await other?.stop('SIGTERM');
  restoreEnv?.();
  agent?.closeAllConnections();
  agent?.close();
  await dynamo?.stop();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const token = () => requestClientCredentialsToken({ tokenEndpoint: record.tokenEndpoint!, clientId: AGENT.clientId, clientSecret: AGENT.clientSecret, audience: AUDIENCE });

async function connect(port = record.postgres!.port): Promise<pg.Client & { processID: number; secretKey: number }> {
  const c = new pg.Client({ host: '127.0.0.1', port, database: 'app', user: 'agent', password: await token() });
  await c.connect();
  return c as pg.Client & { processID: number; secretKey: number };
}

const waitForActive = (sql: string): Promise<void> => waitForActiveQuery(server, sql);

test('several processes need their approvals and tasks where every process sees them', () => {
  const base = { identity: { issuer: 'https://issuer.example', audience: AUDIENCE }, policy: { file: 'p.cedar' }, processes: 2, targets: [{ name: 'app', kind: 'postgres', environment: 'test', host: '127.0.0.1', port: 5432, database: 'app', user: 'app', credential: 'env:X' }] };
  assert.throws(() => parseConfig({ ...base, listeners: { console: { port: 0 } } }), (e: Error) => e instanceof ConfigError && /processes/.test(e.message));
  assert.throws(() => parseConfig({ ...base, processes: 'auto', listeners: { mcp: { port: 0 } } }), ConfigError);
  assert.equal(parseConfig({ ...base, listeners: { postgres: { port: 0 } } }).processes, 2);
});

test('gateway.json names the supervisor and its two processes; sessions land on both, each audited in its own trail', async () => {
  assert.equal(record.pid, child.pid);
  assert.equal(record.processes?.length, 2);
  const clients = await Promise.all([connect(), connect(), connect(), connect()]);
  try {
    const served = new Set(clients.map((c) => processIndexOf(c.processID)));
    assert.deepEqual([...served].sort(), [0, 1], 'connections are spread over both processes');
    // All four at once, each on its own session.
    const rows = await Promise.all(clients.map((c, i) => c.query(`SELECT ${i} AS n, pg_sleep(0.2)`)));
    assert.deepEqual(rows.map((r) => r.rows[0].n), [0, 1, 2, 3]);
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
  for (const index of [0, 1]) {
    const ids = await createLocalAuditReader(localAuditDir(join(dir, 'data'), index)).sessionIds();
    assert.ok(ids.length >= 1, `process ${index} wrote its sessions to ${localAuditDir('<dataDir>', index)}`);
  }
});

test('psql Ctrl-C: the cancel arrives on a new connection, which the next process takes, and ends pg_sleep(30)', async () => {
  // Round robin gives psql's cancel connection to the other process than its session's.
  for (let attempt = 0; attempt < 2; attempt++) {
    const sql = `SELECT pg_sleep(30), ${attempt}`;
    const started = Date.now();
    const psql = spawn('psql', [`host=127.0.0.1 port=${record.postgres!.port} dbname=app user=agent sslmode=disable`, '-X', '-c', sql], {
      env: { ...process.env, PGPASSWORD: await token(), PGCONNECT_TIMEOUT: '10' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    psql.stderr.on('data', (d) => (err += d));
    const code = new Promise<number | null>((r) => psql.on('close', (c) => r(c)));
    await waitForActive(sql);
    psql.kill('SIGINT');
    assert.notEqual(await code, 0);
    assert.match(err, /canceling statement due to user request/);
    assert.ok(Date.now() - started < 25_000, 'the statement was cancelled, not run to its end');
  }
});

test('cancels sent to either process reach the session; a wrong secret cancels nothing', async () => {
  const c = await connect();
  try {
    // Consecutive cancel connections alternate between the two processes: both paths are taken.
    const slow = c.query('SELECT pg_sleep(1), 43 AS n');
    await waitForActive('SELECT pg_sleep(1), 43 AS n');
    await sendCancel(record.postgres!.port, { processID: c.processID, secretKey: c.secretKey ^ 1 });
    await sendCancel(record.postgres!.port, { processID: c.processID, secretKey: c.secretKey ^ 1 });
    assert.equal((await slow).rows[0].n, 43);
    for (let i = 0; i < 2; i++) {
      // Awaited from the start: the query may fail before sendCancel resolves.
      const cancelled = assert.rejects(c.query(`SELECT pg_sleep(30), ${i}`), { code: '57014' });
      await waitForActive(`SELECT pg_sleep(30), ${i}`);
      await sendCancel(record.postgres!.port, c);
      await cancelled;
    }
    assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1, 'the session stays usable');
  } finally {
    await c.end();
  }
});

test('the supervisor holds one fleet tag for both processes and advertises their shared port', async () => {
  const items = ((await dynamo.client.send(new ScanCommand({ TableName: FLEET_TABLE }))).Items ?? []).map((i) => ({ tag: Number(i.tag!.N), port: Number(i.postgresPort!.N) }));
  assert.deepEqual(items.map((i) => i.port).sort(), [record.postgres!.port, otherPort].sort(), 'one entry per task, not per process');
  const clients = [await connect(), await connect()];
  try {
    assert.deepEqual(clients.map((c) => processIndexOf(c.processID)).sort(), [0, 1]);
    const tag = items.find((i) => i.port === record.postgres!.port)!.tag;
    assert.deepEqual(clients.map((c) => fleetTagOf(c.processID)), [tag, tag]);
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
});

test('across tasks: a cancel sent to the other task reaches the right process here, and one sent here reaches the other task', async () => {
  const mine = await connect();
  const theirs = await connect(otherPort);
  try {
    // Each forwarded cancel opens a new connection to this task, taken by the next process: both paths.
    for (let i = 0; i < 2; i++) {
      const cancelled = assert.rejects(mine.query(`SELECT pg_sleep(30), ${i} AS mine`), { code: '57014' });
      await waitForActive(`SELECT pg_sleep(30), ${i} AS mine`);
      await sendCancel(otherPort, mine);
      await cancelled;
    }
    // Whichever process takes the cancel, its supervisor forwards it to the task holding the tag.
    for (let i = 0; i < 2; i++) {
      const cancelled = assert.rejects(theirs.query(`SELECT pg_sleep(30), ${i} AS theirs`), { code: '57014' });
      await waitForActive(`SELECT pg_sleep(30), ${i} AS theirs`);
      await sendCancel(record.postgres!.port, theirs);
      await cancelled;
    }
  } finally {
    await Promise.all([mine.end(), theirs.end()]);
  }
});

test('a process killed with SIGKILL is replaced under its index; the replacement closes out the sessions it left open', async () => {
  const clients: Awaited<ReturnType<typeof connect>>[] = [];
  while (!clients.some((c) => processIndexOf(c.processID) === 1)) clients.push(await connect());
  const victim = clients.find((c) => processIndexOf(c.processID) === 1)!;
  const lost = new Promise<void>((r) => victim.once('error', () => r()).once('end', () => r()));
  const killed = record.processes![1]!;
  process.kill(killed, 'SIGKILL');
  await lost;
  for (const c of clients) if (c !== victim) await c.end();
  const recordPath = join(dir, 'data', 'gateway.json');
  for (let i = 0; i < 600 && (JSON.parse(readFileSync(recordPath, 'utf8')) as GatewayRecord).processes![1] === killed; i++) await new Promise((r) => setTimeout(r, 100));
  record = JSON.parse(readFileSync(recordPath, 'utf8')) as GatewayRecord;
  assert.notEqual(record.processes![1], killed, 'gateway.json names the replacement');
  const again: Awaited<ReturnType<typeof connect>>[] = [];
  while (!again.some((c) => processIndexOf(c.processID) === 1)) again.push(await connect());
  for (const c of again) assert.equal((await c.query('SELECT 1 AS n')).rows[0].n, 1);
  await Promise.all(again.map((c) => c.end()));
  const sessions = await createLocalAuditReader(localAuditDir(join(dir, 'data'), 1)).listSessions();
  assert.ok(sessions.some((s) => s.endReason === 'gateway_crashed'), 'the killed session is closed as gateway_crashed in process 1\'s trail');
  const other = await createLocalAuditReader(localAuditDir(join(dir, 'data'), 0)).listSessions();
  assert.ok(!other.some((s) => s.endReason === 'gateway_crashed'), 'process 0\'s trail is not touched');
});

test('scale-in protection is the task\'s: held while either process has sessions, released when neither has', async () => {
  const clients: Awaited<ReturnType<typeof connect>>[] = [];
  while (new Set(clients.map((c) => processIndexOf(c.processID))).size < 2) clients.push(await connect());
  const first = clients.find((c) => processIndexOf(c.processID) === 0)!;
  const second = clients.find((c) => processIndexOf(c.processID) === 1)!;
  await Promise.all(clients.filter((c) => c !== first && c !== second).map((c) => c.end()));
  const last = () => protectionAsked.at(-1);
  for (let i = 0; i < 400 && last() !== true; i++) await new Promise((r) => setTimeout(r, 25));
  assert.equal(last(), true, 'protected while sessions are live');
  await first.end();
  // Several report and check intervals (250 ms, 100 ms): process 0 is idle, process 1 is not.
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(last(), true, 'still protected: the other process holds a session');
  await second.end();
  for (let i = 0; i < 400 && last() !== false; i++) await new Promise((r) => setTimeout(r, 25));
  assert.equal(last(), false, 'released once no process holds a session');
});

test('SIGTERM: both processes stop taking sessions, finish the live ones, and the supervisor exits 0', async () => {
  const clients: Awaited<ReturnType<typeof connect>>[] = [];
  while (new Set(clients.map((c) => processIndexOf(c.processID))).size < 2) clients.push(await connect());
  const statements = clients.map((c) => c.query('SELECT pg_sleep(1), 7 AS n'));
  const signalled = Date.now();
  child.kill('SIGTERM');
  assert.deepEqual((await Promise.all(statements)).map((r) => r.rows[0].n), clients.map(() => 7), 'statements in flight finish');
  // Still draining: the live sessions are served on both processes, and no new session is taken.
  for (const c of clients) assert.equal((await c.query('SELECT 2 AS n')).rows[0].n, 2);
  await assert.rejects(connect());
  assert.equal(child.exitCode, null, 'the supervisor waits for its processes');
  await Promise.all(clients.map((c) => c.end()));
  assert.equal(await exited, 0);
  assert.ok(Date.now() - signalled < DRAIN_SECONDS * 1000, 'it exited when the sessions ended, not at the drain deadline');
  assert.equal(existsSync(join(dir, 'data', 'gateway.json')), false, 'gateway.json is removed');
  for (const pid of record.processes!) assert.throws(() => process.kill(pid, 0), 'no gateway process is left');
  for (const [index, c] of clients.entries()) {
    const owner = processIndexOf(c.processID);
    const reader = createLocalAuditReader(localAuditDir(join(dir, 'data'), owner));
    const ends = [];
    for (const id of await reader.sessionIds()) for (const e of (await reader.readSession(id)) ?? []) if ('type' in e && e.type === 'session.end') ends.push(e);
    assert.ok(ends.length >= 1, `client ${index}'s process ${owner} recorded its sessions' ends`);
  }
});
