// What a fleet tells about its tasks (issue 32). Two `airlock serve` processes, as two proxy tasks of
// one fleet, share the approvals table (dynalite, real SDK): `airlock task show` asked of one reports
// what the task did through the other — every counter, budgeted or not, added to the fleet's ledger
// by each proxy task at every poll — and says so; a task
// whose time runs out while it has sessions on both ends both sessions with task_expired, and the
// fleet's merged audit trail records its expiry exactly once. In-process proxy tasks then race on
// purpose: several noticing the expiry at the same moment, closes racing each other and the clock,
// and the slow sweep catching a task no session uses — one terminal event each time.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { stringify } from 'yaml';
import { compilePolicySet } from '../../core/policy/index.js';
import type { AuditRecord } from '../../core/audit/events.js';
import type { AuditSink } from '../../core/audit/ports.js';
import type { Principal, TargetInfo } from '../../core/model.js';
import type { Refusal } from '../../core/refusal.js';
import { DynamoBudgetLedger } from '../../fargate-proxy/src/adapters/aws/budget-dynamo-ledger.js';
import { DynamoTaskStore } from '../../fargate-proxy/src/adapters/aws/task-dynamo-store.js';
import { createLocalAuditReader } from '../../fargate-proxy/src/adapters/local/audit-file-reader.js';
import { createLocalAuditSink } from '../../fargate-proxy/src/adapters/local/audit-file-sink.js';
import { requestClientCredentialsToken, startLocalIssuer, type LocalIssuer } from '../../fargate-proxy/src/adapters/local/oidc-issuer.js';
import { taskOpen, taskShow } from '../../fargate-proxy/src/cli/task-commands.js';
import { loadOrCreateTaskKey } from '../../fargate-proxy/src/tasks/local-task-key.js';
import { readTaskEvents } from '../../fargate-proxy/src/tasks/task-audit.js';
import { startTasks } from '../../fargate-proxy/src/tasks/task-gateway.js';
import { consoleTaskService } from '../../fargate-proxy/src/tasks/console-task-client.js';
import { taskStatus } from '../../fargate-proxy/src/mcp/tools/tasks.js';
import { expectAuditVerifies } from '../support/audit-trail.js';
import { AGENT, AUDIENCE, pgTarget, psql } from '../support/gateway.js';
import { startLocalDynamo, type LocalDynamo, createApprovalsTable, localAwsEnv, stepFunctionsApprovals } from '../support/local-aws.js';
import { shareTaskKey } from '../support/task-key.js';
import { startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { startServeProcess, type ServeProcess } from '../support/serve-process.js';
import { startSfnStandIn, type SfnStandIn } from '../support/sfn-stand-in.js';

const TABLE = 'airlock-approvals-visibility';
const POLICY = `@id("c") permit (principal in Airlock::Group::"agents", action == Airlock::Action::"connect", resource);
@id("r") permit (principal in Airlock::Group::"agents", action == Airlock::Action::"read", resource);
@id("t") permit (principal in Airlock::Group::"agents", action == Airlock::Action::"task_open", resource);`;

let dir: string;
let dynamo: LocalDynamo;
let sfn: SfnStandIn;
let issuer: LocalIssuer;
let server: RunningPostgres;
let a: ServeProcess;
let b: ServeProcess;
let agentToken: string;
/** Ignored by the console client: the gateway verifies who calls from the token. */
const agentPrincipal: Principal = { id: AGENT.clientId, groups: AGENT.groups, issuer: 'unused' };
const dataDir = (name: string) => join(dir, name);

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
}

/** One proxy task's configuration: its own data directory and listeners; the fleet's issuer, table and key. */
function taskConfig(name: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    stringify({
      dataDir: dataDir(name),
      logLevel: 'error',
      listeners: { postgres: { host: '127.0.0.1', port: 0, allowPlaintext: true }, console: { host: '127.0.0.1', port: 0 } },
      identity: { issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: AUDIENCE },
      targets: [pgTarget(server)],
      policy: { file: join(dir, 'policy.cedar') },
      approvals: stepFunctionsApprovals(TABLE),
      // Each proxy task adds what its tasks did to the fleet's counts at every poll.
      tasks: { fleetPollSeconds: 1 },
    }),
  );
  return file;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-task-visibility-'));
  writeFileSync(join(dir, 'policy.cedar'), POLICY);
  [dynamo, sfn, issuer, server] = await Promise.all([
    startLocalDynamo(),
    startSfnStandIn(async () => undefined),
    startLocalIssuer({ host: '127.0.0.1', port: 0, audience: AUDIENCE, clients: [AGENT] }),
    startPostgres(),
  ]);
  await createApprovalsTable(dynamo, TABLE);
  // The fleet signs task tokens with one key (KMS in AWS): both data directories hold the same one.
  shareTaskKey(dataDir('a'), dataDir('b'));
  const env = localAwsEnv({ dynamodb: dynamo.endpoint, sfn: sfn.endpoint });
  [a, b] = await Promise.all([startServeProcess(taskConfig('a'), dataDir('a'), env), startServeProcess(taskConfig('b'), dataDir('b'), env)]);
  assert.notEqual(a.child.pid, b.child.pid);
  agentToken = await requestClientCredentialsToken({ tokenEndpoint: issuer.tokenEndpoint, clientId: AGENT.clientId, clientSecret: AGENT.clientSecret, audience: AUDIENCE });
});
after(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await issuer?.close();
  await sfn?.stop();
  await server?.stop();
  await dynamo?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const conninfo = (p: ServeProcess) => `host=127.0.0.1 port=${p.record.postgres!.port} dbname=app user=agent sslmode=disable connect_timeout=10`;

/** Opens a task through A's console as the agent; its id and token. */
async function openTask(o: { for: string; maxStatements?: number; maxRowsReturned?: number }): Promise<{ id: string; token: string }> {
  const c = capture();
  assert.equal(await taskOpen({ url: a.record.consoleUrl!, token: agentToken, title: 'fleet', targets: 'app', scope: 'read', ...o }, c.io), 0, c.err.join('\n'));
  const id = /task (t_[\w-]+) granted/.exec(c.err.join('\n'))?.[1];
  assert.ok(id, c.err.join('\n'));
  return { id, token: c.out[0]! };
}

async function eventually<T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const until = Date.now() + ms;
  let v = await probe();
  while (!ok(v) && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 100));
    v = await probe();
  }
  assert.ok(ok(v), `${what}: ${JSON.stringify(v)}`);
  return v;
}

test('task show asked of A reports everything the task did through B (no statements budget), counted fleet-wide, and says so', async () => {
  const task = await openTask({ for: '10m', maxRowsReturned: 100 });
  const select = ['-c', 'SELECT g FROM generate_series(1, 2) g'];
  // Three reads, and one write the task's read scope refuses (psql goes on after an error).
  const ran = await psql(conninfo(b), [...select, ...select, '-c', 'CREATE TABLE fleet_visibility_x (a int)', ...select], { token: task.token });
  assert.equal((ran.stdout.match(/\(2 rows\)/g) ?? []).length, 3, ran.stderr);
  assert.match(ran.stderr, /Airlock/, 'the write was refused');

  const show = async () => {
    const c = capture();
    assert.equal(await taskShow({ url: a.record.consoleUrl!, token: agentToken, id: task.id }, c.io), 0, c.err.join('\n'));
    return c.out.join('\n');
  };
  // B adds what its session did at its next poll (every second here).
  const text = await eventually('A shows what B ran', show, (t) => /did: 3 statements, 0 commands, 0 requests, 1 refusals, 1 sessions; rows returned 6, rows affected 0/.test(t));
  assert.match(text, /counted fleet-wide, added by each proxy task at every poll \(≤ 1 s behind\)/);
  assert.doesNotMatch(text, /not counted/);
  assert.match(text, /budget: rowsReturned: 6\/100/);

  const json = capture();
  assert.equal(await taskShow({ url: a.record.consoleUrl!, token: agentToken, id: task.id, json: true }, json.io), 0);
  const body = JSON.parse(json.out.join('\n')) as { task: { usage: Record<string, number> }; usageSource: { source: string; fleetWide: string[]; notCounted: string[] } };
  assert.deepEqual(body.usageSource.source, 'fleet');
  assert.deepEqual(body.usageSource.fleetWide, ['statements', 'rowsReturned', 'rowsAffected', 'bytesRead', 'commands', 'requests', 'refusals', 'approvals', 'sessions']);
  assert.deepEqual(body.usageSource.notCounted, []);
  assert.equal(body.task.usage.statements, 3);
  assert.equal(body.task.usage.refusals, 1);
  assert.ok((body.task.usage.bytesRead ?? 0) > 0, 'bytes read, counted with no budget set');

  // MCP task_status (here `airlock mcp` over A's console API): the fleet's figures, and their source.
  const status = await taskStatus(consoleTaskService(a.record.consoleUrl!, () => agentToken), agentPrincipal, task.id);
  const mcp = JSON.parse((status.content[0] as { text: string }).text) as { task: { usage: Record<string, number> }; usageSource: { source: string } };
  assert.equal(mcp.task.usage.statements, 3);
  assert.equal(mcp.task.usage.refusals, 1);
  assert.equal(mcp.task.usage.rowsReturned, 6);
  assert.equal(mcp.usageSource.source, 'fleet');
});

test('a task expiring with sessions on both proxy tasks: both end with task_expired, one expired event fleet-wide, trails verify', async () => {
  const task = await openTask({ for: '6s' });
  const connect = async (p: ServeProcess) => {
    const c = new pg.Client({ host: '127.0.0.1', port: p.record.postgres!.port, database: 'app', user: 'agent', password: task.token });
    const ended = new Promise<string>((resolve) => c.on('error', (err: Error & { code?: string; detail?: string }) => resolve(`${err.code} ${err.message} ${err.detail}`)));
    await c.connect();
    assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
    return { c, ended };
  };
  const [onA, onB] = await Promise.all([connect(a), connect(b)]);
  const within = (p: Promise<string>) => Promise.race([p, new Promise<string>((r) => setTimeout(() => r('still open'), 12_000))]);
  const [whyA, whyB] = await Promise.all([within(onA.ended), within(onB.ended)]);
  assert.match(whyA, /^57P01 Airlock ended this session: task \S+ ended: its time is up .*task_expired/);
  assert.match(whyB, /^57P01 Airlock ended this session: task \S+ ended: its time is up .*task_expired/);
  onA.c.end().catch(() => undefined);
  onB.c.end().catch(() => undefined);

  const events = async () => [...(await readTaskEvents(createLocalAuditReader(join(dataDir('a'), 'audit')), task.id)), ...(await readTaskEvents(createLocalAuditReader(join(dataDir('b'), 'audit')), task.id))];
  const expired = (es: AuditRecord[]) => es.filter((e) => e.type === 'task' && e.event === 'expired');
  await eventually('an expired event', events, (es) => expired(es).length > 0, 5000);
  // Both proxy tasks poll every second: give each a few more looks before counting.
  await new Promise((r) => setTimeout(r, 4500));
  const all = expired(await events());
  assert.equal(all.length, 1, JSON.stringify(all));
  const e = all[0]!;
  assert.ok(e.type === 'task' && e.by === 'clock' && e.sessions?.length === 1, JSON.stringify(e));

  // Each proxy task's trail holds its session of the task, ended for the task's expiry.
  for (const name of ['a', 'b']) {
    const reader = createLocalAuditReader(join(dataDir(name), 'audit'));
    const why: string[] = [];
    for (const sid of await reader.sessionIds()) {
      const records = ((await reader.readSession(sid)) ?? []) as AuditRecord[];
      const start = records[0];
      if (start?.type !== 'session.start' || start.protocol === 'task' || start.principal.taskId !== task.id) continue;
      const end = await eventually(`session ${sid} ends in ${name}'s trail`, async () => ((await reader.readSession(sid)) ?? []) as AuditRecord[], (rs) => rs.some((r) => r.type === 'session.end'), 5000);
      for (const r of end) if (r.type === 'session.end') why.push(r.reason);
    }
    assert.equal(why.length, 1, `${name}: ${JSON.stringify(why)}`);
    assert.match(why[0]!, /task_expired|its time is up/, `${name}: ${why[0]}`);
  }
  // Then `airlock audit verify` on each proxy task's trail.
  await Promise.all([a.stop(), b.stop()]);
  await expectAuditVerifies(join(dataDir('a'), 'audit'));
  await expectAuditVerifies(join(dataDir('b'), 'audit'));
});

// --- races, in one process: proxy tasks with their own state sharing the table ---

const targets: TargetInfo[] = [{ name: 'app', kind: 'postgres', environment: 'test', tags: {} }];
const agent: Principal = { id: 'agent-1', groups: ['agents'], issuer: 'https://idp.test' };
const policy = compilePolicySet(`@id("tasks") permit (principal, action == Airlock::Action::"task_open", resource);`);

async function fleetOf(n: number, o: { sweepMs?: number } = {}) {
  const proxies: { tasks: ReturnType<typeof startTasks>; sink: AuditSink & { close(): Promise<void> }; auditDir: string }[] = [];
  for (let i = 0; i < n; i++) {
    const auditDir = join(dir, `race-${Date.now()}-${i}`);
    const sink: AuditSink & { close(): Promise<void> } = await createLocalAuditSink({ dir: auditDir, ack: 'local', responseCapBytes: 0 });
    const shared = new DynamoTaskStore(dynamo.client, TABLE);
    const tasks = startTasks({
      audit: sink,
      log: pino({ level: 'silent' }),
      key: loadOrCreateTaskKey(dataDir('a')),
      policy: () => policy,
      targets,
      reviewerGroups: ['reviewers'],
      verifier: { verify: async () => agent },
      store: shared,
      fleet: { kills: shared, pollMs: 3_600_000, sweepMs: o.sweepMs ?? 3_600_000, ledger: new DynamoBudgetLedger(dynamo.client, TABLE) },
    });
    proxies.push({ tasks, sink, auditDir });
  }
  const terminal = async (id: string) => {
    const out: string[] = [];
    for (const p of proxies) for (const e of await readTaskEvents(createLocalAuditReader(p.auditDir), id)) if (e.type === 'task' && ['expired', 'closed', 'denied'].includes(e.event)) out.push(e.event);
    return out;
  };
  /** The terminal events once the first is written (task events are appended in the background), a moment later. */
  const settled = async (id: string) => {
    await eventually('a terminal event', () => terminal(id), (t) => t.length > 0, 5000);
    await new Promise((r) => setTimeout(r, 300));
    return terminal(id);
  };
  const close = async () => {
    for (const p of proxies) await p.tasks.close();
    for (const p of proxies) await p.sink.close();
    // Each trail that holds a task log verifies (a proxy task that recorded nothing has none).
    for (const p of proxies) if ((await createLocalAuditReader(p.auditDir).sessionIds()).length) await expectAuditVerifies(p.auditDir);
  };
  return { proxies, terminal, settled, close };
}

async function session(tasks: ReturnType<typeof startTasks>, principal: Principal, id: string): Promise<Refusal[]> {
  const ended: Refusal[] = [];
  const admission = await tasks.sessions.admit({ sessionId: id, principal, target: 'app', protocol: 'postgres', startedAt: Date.now(), end: (r) => ended.push(r) });
  assert.ok(admission.ok);
  return ended;
}

const untilPast = (at: number) => new Promise((r) => setTimeout(r, Math.max(0, at - Date.now()) + 50));


test('three proxy tasks noticing an expiry at the same moment record it once; every session ends', async () => {
  const fleet = await fleetOf(3);
  const [p0] = fleet.proxies;
  try {
    const opened = await p0!.tasks.service.open(agent, { title: 'race', targets: ['app'], scope: ['read'], durationSeconds: 3 });
    assert.equal(opened.state, 'granted');
    if (opened.state !== 'granted') return;
    const ended = await Promise.all(fleet.proxies.map(async (p, i) => session(p.tasks, await p.tasks.verifier.verify(opened.token), `race-s-${i}`)));
    await untilPast(opened.task.expiresAt!);
    await Promise.all(fleet.proxies.map((p) => p.tasks.pollFleet()));
    assert.deepEqual(ended.map((e) => e.map((r) => r.code)), [['task_expired'], ['task_expired'], ['task_expired']]);
    assert.deepEqual(await fleet.settled(opened.task.id), ['expired']);
  } finally {
    await fleet.close();
  }
});

test('two closes racing each other and the clock: one terminal event', async () => {
  const fleet = await fleetOf(3);
  const [p0, p1, p2] = fleet.proxies;
  try {
    const live = await p0!.tasks.service.open(agent, { title: 'close twice', targets: ['app'], scope: ['read'], durationSeconds: 600 });
    await Promise.all([p1!.tasks.service.close(agent, live.task.id, 'done on 1'), p2!.tasks.service.close(agent, live.task.id, 'done on 2')]);
    assert.equal((await fleet.settled(live.task.id)).length, 1);

    const due = await p0!.tasks.service.open(agent, { title: 'close at the end', targets: ['app'], scope: ['read'], durationSeconds: 3 });
    assert.equal(due.state, 'granted');
    if (due.state !== 'granted') return;
    await session(p2!.tasks, await p2!.tasks.verifier.verify(due.token), 'close-race-s');
    await untilPast(due.task.expiresAt!);
    const [closed] = await Promise.all([p1!.tasks.service.close(agent, due.task.id, 'done'), p2!.tasks.pollFleet(), p0!.tasks.service.close(agent, due.task.id, 'done too')]);
    assert.equal(closed.status, 'expired', 'a task whose time was up expired, whoever asked to close it');
    assert.deepEqual(await fleet.settled(due.task.id), ['expired']);
  } finally {
    await fleet.close();
  }
});

test('the slow sweep records the expiry of a task no session uses, once across the fleet', async () => {
  const fleet = await fleetOf(2, { sweepMs: 250 });
  const [p0] = fleet.proxies;
  try {
    const opened = await p0!.tasks.service.open(agent, { title: 'idle', targets: ['app'], scope: ['read'], durationSeconds: 1 });
    await fleet.settled(opened.task.id);
    // Both proxy tasks sweep every 250 ms: give each a few more sweeps before counting.
    await new Promise((r) => setTimeout(r, 800));
    assert.deepEqual(await fleet.terminal(opened.task.id), ['expired']);
    assert.equal((await new DynamoTaskStore(dynamo.client, TABLE).get(opened.task.id))?.status, 'expired');
  } finally {
    await fleet.close();
  }
});
