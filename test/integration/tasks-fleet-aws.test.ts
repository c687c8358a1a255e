// Tasks across the fleet, through the approvals table every proxy task already reads (real AWS SDK
// calls against dynalite): a task opened through one proxy task logs in through another; closing
// it on one ends its sessions on the other at the next poll; a kill order given on one ends that
// principal's sessions on the other, and no one else's; each proxy task audits the task steps it
// took in a log of its own, so no two processes extend one chain. A task's statement budget is
// counted fleet-wide: two whole gateways, psql through each, spend exactly the budget between them;
// one session of a task on one refuses a login on the other (53300) until it ends.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { compilePolicySet } from '../../core/policy/index.js';
import type { Principal, TargetInfo } from '../../core/model.js';
import type { Refusal } from '../../core/refusal.js';
import { DynamoTaskStore } from '../../fargate-proxy/src/adapters/aws/task-dynamo-store.js';
import { loadOrCreateTaskKey } from '../../fargate-proxy/src/tasks/local-task-key.js';
import { startTasks } from '../../fargate-proxy/src/tasks/task-gateway.js';
import { startLocalDynamo, type LocalDynamo, createApprovalsTable, localAwsEnv, stepFunctionsApprovals } from '../support/local-aws.js';
import { useProcessEnv } from '../support/process-env.js';
import { shareTaskKey } from '../support/task-key.js';
import type { AuditSink } from '../../core/audit/ports.js';
import { createLocalAuditSink } from '../../fargate-proxy/src/adapters/local/audit-file-sink.js';
import { createLocalAuditReader } from '../../fargate-proxy/src/adapters/local/audit-file-reader.js';
import { readTaskEvents } from '../../fargate-proxy/src/tasks/task-audit.js';
import { expectAuditVerifies } from '../support/audit-trail.js';
import { startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { psql, startTestGateway, type TestGateway } from '../support/gateway.js';
import { DynamoBudgetLedger } from '../../fargate-proxy/src/adapters/aws/budget-dynamo-ledger.js';
import net from 'node:net';
import { serialize } from 'pg-protocol';
import { Parser } from 'pg-protocol/dist/parser.js';
import { startupMessage } from '../support/pg-raw.js';
import { DynamoSlotLedger } from '../../fargate-proxy/src/adapters/aws/session-slot-ledger.js';

const TABLE = 'airlock-approvals';

/** A raw PostgreSQL login through the gateway: the ErrorResponse's SQLSTATE and message, if it is refused. */
async function loginError(port: number, token: string): Promise<{ code?: string; message?: string }> {
  const s = net.connect(port, '127.0.0.1');
  try {
    return await new Promise((resolve, reject) => {
      const parser = new Parser();
      s.on('data', (d: Buffer) =>
        parser.parse(d, (m) => {
          if (m.name === 'authenticationCleartextPassword') s.write(serialize.password(token));
          else if (m.name === 'error') resolve({ code: (m as { code?: string }).code, message: (m as { message?: string }).message });
          else if (m.name === 'readyForQuery') resolve({});
        }),
      );
      s.once('error', reject);
      s.write(startupMessage({ user: 'agent', database: 'app' }));
    });
  } finally {
    s.destroy();
  }
}
const policy = compilePolicySet(`@id("tasks") permit (principal, action == Airlock::Action::"task_open", resource);`);
const targets: TargetInfo[] = [{ name: 'app', kind: 'postgres', environment: 'test', tags: {} }];
const agent: Principal = { id: 'agent-1', groups: ['agents'], issuer: 'https://idp.test' };
const bystander: Principal = { id: 'agent-2', groups: ['agents'], issuer: 'https://idp.test' };

let dynamo: LocalDynamo;
let dir: string;
before(async () => {
  dynamo = await startLocalDynamo();
  await createApprovalsTable(dynamo, TABLE);
  dir = mkdtempSync(join(tmpdir(), 'airlock-fleet-'));
});
after(async () => {
  await dynamo?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** One proxy task of the fleet: its own process state, the shared table, the fleet's key. */
function proxyTask(audit?: AuditSink, agentBudgets?: Parameters<typeof startTasks>[0]['agentBudgets']) {
  const shared = new DynamoTaskStore(dynamo.client, TABLE);
  return startTasks({
    agentBudgets,
    audit,
    log: pino({ level: 'silent' }),
    key: loadOrCreateTaskKey(dir),
    policy: () => policy,
    targets,
    reviewerGroups: ['reviewers'],
    verifier: { verify: async () => agent },
    store: shared,
    // Polled by hand below; a long interval keeps the timer out of the way.
    fleet: { kills: shared, pollMs: 3_600_000, ledger: new DynamoBudgetLedger(dynamo.client, TABLE) },
  });
}

async function session(tasks: ReturnType<typeof proxyTask>, principal: Principal, id: string) {
  const ended: Refusal[] = [];
  const admission = await tasks.sessions.admit({ sessionId: id, principal, target: 'app', protocol: 'postgres', startedAt: Date.now(), end: (r) => ended.push(r) });
  assert.ok(admission.ok);
  return ended;
}

test('a task opened on one proxy task is used on another, and closing it there ends the session here', async () => {
  const a = proxyTask();
  const b = proxyTask();
  try {
    const opened = await a.service.open(agent, { title: 'fix', targets: ['app'], scope: ['read'], durationSeconds: 600 });
    assert.equal(opened.state, 'granted');
    if (opened.state !== 'granted') return;
    const onB = await b.verifier.verify(opened.token);
    assert.equal(onB.task?.id, opened.task.id);
    const ended = await session(b, onB, 's-1');
    await b.pollFleet();
    assert.equal(ended.length, 0, 'an active task is left alone');
    await a.service.close(agent, opened.task.id, 'done');
    await b.pollFleet();
    assert.equal(ended.length, 1);
    assert.equal(ended[0]!.code, 'task_expired');
    assert.match(ended[0]!.message, /ended: done/);
    await assert.rejects(b.verifier.verify(opened.token), /code=task_expired/);
  } finally {
    a.close();
    b.close();
  }
});

test('a kill order given on one proxy task ends that principal\'s sessions on another, and no one else\'s', async () => {
  const a = proxyTask();
  const b = proxyTask();
  try {
    const killedHere = await session(b, agent, 's-2');
    const alsoKilled = await session(b, agent, 's-3');
    const spared = await session(b, bystander, 's-4');
    await a.kill('agent-1', 'rev', 'incident 9');
    await b.pollFleet();
    assert.deepEqual([killedHere.length, alsoKilled.length, spared.length], [1, 1, 0]);
    assert.equal(killedHere[0]!.code, 'session_killed');
    assert.match(killedHere[0]!.message, /session ended by rev: incident 9/);
    // An order is carried out once.
    const later = await session(b, agent, 's-5');
    await b.pollFleet();
    assert.equal(later.length, 0);
  } finally {
    a.close();
    b.close();
  }
});

test('an agent\'s command budget is spent across proxy tasks, not per proxy task', async () => {
  const a = proxyTask(undefined, [{ principal: 'agent-2', budget: { commands: 3 } }]);
  const b = proxyTask(undefined, [{ principal: 'agent-2', budget: { commands: 3 } }]);
  const command = async (tasks: ReturnType<typeof proxyTask>, id: string) => tasks.sessions.charge(bystander, 'commands') ?? (await tasks.sessions.chargeFleet(id, bystander, 'commands', 1));
  try {
    const onA = await tasks(a, 's-a');
    assert.equal(await command(a, 's-a'), undefined);
    assert.equal(await command(a, 's-a'), undefined);
    onA.release();
    await a.close();
    const onB = await tasks(b, 's-b');
    assert.equal(await command(b, 's-b'), undefined);
    const refused = await command(b, 's-b');
    assert.equal(refused?.code, 'budget_exceeded');
    assert.match(refused!.message, /agent agent-2 may run 3 commands per window across the fleet/);
    onB.release();
  } finally {
    a.close();
    b.close();
  }

  async function tasks(t: ReturnType<typeof proxyTask>, id: string) {
    const admission = await t.sessions.admit({ sessionId: id, principal: bystander, target: 'app', protocol: 'ssh', startedAt: Date.now(), end: () => undefined });
    assert.ok(admission.ok);
    return admission;
  }
});

test('each proxy task audits the task steps it took in a log of its own; both trails verify', async () => {
  const [dirA, dirB] = [join(dir, 'audit-a'), join(dir, 'audit-b')];
  const sinkA = await createLocalAuditSink({ dir: dirA, ack: 'local', responseCapBytes: 0 });
  const sinkB = await createLocalAuditSink({ dir: dirB, ack: 'local', responseCapBytes: 0 });
  const a = proxyTask(sinkA);
  const b = proxyTask(sinkB);
  try {
    const opened = await a.service.open(agent, { title: 'fix', targets: ['app'], scope: ['read'], durationSeconds: 600 });
    assert.equal(opened.state, 'granted');
    await b.service.close(agent, opened.task.id, 'done on b');
    const wait = async (d: string, n: number) => {
      for (let i = 0; i < 100 && (await readTaskEvents(createLocalAuditReader(d), opened.task.id)).length < n; i++) await new Promise((r) => setTimeout(r, 20));
      return readTaskEvents(createLocalAuditReader(d), opened.task.id);
    };
    const onA = await wait(dirA, 2);
    const onB = await wait(dirB, 1);
    assert.deepEqual(onA.map((e) => (e.type === 'task' ? e.event : e.type)), ['opened', 'granted']);
    assert.deepEqual(onB.map((e) => (e.type === 'task' ? `${e.event} by ${e.by}: ${e.reason}` : e.type)), ['closed by agent-1: done on b']);
    assert.notEqual(onA[0]!.sessionId, onB[0]!.sessionId);
  } finally {
    a.close();
    b.close();
    await sinkA.close();
    await sinkB.close();
  }
  await expectAuditVerifies(dirA);
  await expectAuditVerifies(dirB);
});

test('budgets across two gateways of the fleet: 10 statements run exactly 10, the 11th refused on either; rows returned and rows affected likewise', async () => {
  const server: RunningPostgres = await startPostgres();
  const env: Record<string, string> = localAwsEnv({ dynamodb: dynamo.endpoint, sfn: 'http://127.0.0.1:9' });
  const restoreEnv = useProcessEnv(env);
  // The fleet signs task tokens with one key (KMS in AWS): both data directories hold the same one.
  const [dataA, dataB] = [join(dir, 'gw-a'), join(dir, 'gw-b')];
  shareTaskKey(dataA, dataB);
  const POLICY = `@id("c") permit (principal in Airlock::Group::"agents", action == Airlock::Action::"connect", resource);
@id("r") permit (principal in Airlock::Group::"agents", action == Airlock::Action::"read", resource);
@id("t") permit (principal in Airlock::Group::"agents", action == Airlock::Action::"task_open", resource);
@id("w") permit (principal in Airlock::Group::"agents", action == Airlock::Action::"write", resource)
when { context has task && context.task.writeTables.containsAll(context.tables) };`;
  const direct = async (sql: string) => (await server.psqlDirect(sql)).trim();
  await direct('CREATE TABLE items (id int PRIMARY KEY, n int NOT NULL DEFAULT 0); INSERT INTO items (id) SELECT generate_series(1, 10); GRANT ALL ON items TO ' + server.roles.app.user);
  const fleetGateway = (dataDir: string) =>
    startTestGateway(server, {
      policy: POLICY,
      config: (raw) => {
        raw.dataDir = dataDir;
        raw.approvals = stepFunctionsApprovals(TABLE, 60);
      },
    });
  const gws: TestGateway[] = [];
  try {
    gws.push(await fleetGateway(dataA), await fleetGateway(dataB));
    const [a, b] = gws as [TestGateway, TestGateway];
    // Not agent-1: the kill order an earlier test gave agent-1 is applied by a proxy task that starts
    // within the kill skew after it (KILL_SKEW_MS), which would end this test's sessions.
    const owner: Principal = { ...agent, id: 'agent-budgets', issuer: a.gw.config.identity.issuer };
    const opened = await a.gw.tasks!.open(owner, { title: 'count', targets: [a.gw.config.targets[0]!.name], scope: ['read'], durationSeconds: 600, budget: { statements: 10 } });
    assert.equal(opened.state, 'granted');
    if (opened.state !== 'granted') return;
    const run = (g: TestGateway, n: number) => psql(g.conninfo(), Array.from({ length: n }, () => ['-c', 'SELECT 1 AS one']).flat(), { token: opened.token });
    const ok = (out: string) => (out.match(/\(1 row\)/g) ?? []).length;

    const first = await run(a, 5);
    assert.equal(ok(first.stdout), 5, first.stderr);
    // The session's unspent lease goes back when it ends (best effort, after the client is gone).
    const ledger = new DynamoBudgetLedger(dynamo.client, TABLE);
    const key = `task#${opened.task.id}/statements`;
    for (let i = 0; i < 200 && (await ledger.used(key)) !== 5; i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(await ledger.used(key), 5, 'the fleet counted 5 and holds no lease');

    const second = await run(b, 6);
    assert.equal(ok(second.stdout), 5, second.stderr);
    assert.match(second.stderr, /budget_exceeded/);
    assert.match(second.stderr, /across the fleet/);
    const third = await run(a, 1);
    assert.equal(ok(third.stdout), 0);
    assert.match(third.stderr, /budget_exceeded/);

    // Rows returned (counted after the fact) and rows affected (reserved for the guarded write),
    // across the same two gateways: each psql run is a session that ends before the next starts.
    const ledger2 = new DynamoBudgetLedger(dynamo.client, TABLE);
    const settled = async (key: string, used: number) => {
      for (let i = 0; i < 200 && (await ledger2.used(key)) !== used; i++) await new Promise((r) => setTimeout(r, 25));
      assert.equal(await ledger2.used(key), used, key);
    };
    const rowsTask = await a.gw.tasks!.open(owner, { title: 'rows', targets: [a.gw.config.targets[0]!.name], scope: ['read', 'write:items'], durationSeconds: 600, budget: { rowsReturned: 5 } });
    assert.equal(rowsTask.state, 'granted');
    if (rowsTask.state !== 'granted') return;
    const sql = (g: TestGateway, ...stmts: string[]) => psql(g.conninfo(), stmts.flatMap((x) => ['-c', x]), { token: rowsTask.token });
    const read = await sql(a, 'SELECT id FROM items WHERE id <= 3');
    assert.match(read.stdout, /\(3 rows\)/, read.stderr);
    await settled(`task#${rowsTask.task.id}/rowsReturned`, 3);
    const readB = await sql(b, 'SELECT id FROM items WHERE id <= 3', 'SELECT 1');
    assert.match(readB.stdout, /\(3 rows\)/, readB.stderr);
    assert.match(readB.stderr, /budget_exceeded[\s\S]*rowsReturned/, 'B saw the 5 rows spent between the two gateways');
    assert.match((await sql(a, 'SELECT 1')).stderr, /budget_exceeded[\s\S]*rowsReturned/);

    // A task of its own: a spent rows-returned budget refuses every statement of its task.
    const writeTask = await a.gw.tasks!.open(owner, { title: 'writes', targets: [a.gw.config.targets[0]!.name], scope: ['read', 'write:items'], durationSeconds: 600, budget: { rowsAffected: 3 } });
    assert.equal(writeTask.state, 'granted');
    if (writeTask.state !== 'granted') return;
    const dml = (g: TestGateway, ...stmts: string[]) => psql(g.conninfo(), stmts.flatMap((x) => ['-c', x]), { token: writeTask.token });
    const write = await dml(a, 'UPDATE items SET n = 1 WHERE id <= 2');
    assert.match(write.stdout, /UPDATE 2/, write.stderr);
    await settled(`task#${writeTask.task.id}/rowsAffected`, 2);
    // One row is left fleet-wide: B's write of two is rolled back by the guard, its write of one passes.
    const writeB = await dml(b, 'UPDATE items SET n = 2 WHERE id IN (3, 4)', 'UPDATE items SET n = 2 WHERE id = 5');
    assert.match(writeB.stderr, /budget_exceeded/, writeB.stdout);
    assert.match(writeB.stdout, /UPDATE 1/, writeB.stderr);
    assert.equal(await direct('SELECT string_agg(id::text, \',\' ORDER BY id) FROM items WHERE n > 0'), '1,2,5');
    const writeA = await dml(a, 'UPDATE items SET n = 3 WHERE id = 6');
    assert.match(writeA.stderr, /budget_exceeded/);
    assert.equal(await direct('SELECT count(*) FROM items WHERE n = 3'), '0');

    // Concurrent sessions, fleet-wide: one session of the task open on A refuses a login on B with
    // PostgreSQL's too_many_connections (53300); once it ends, B admits.
    const oneAtATime = await a.gw.tasks!.open(owner, { title: 'one session', targets: [a.gw.config.targets[0]!.name], scope: ['read'], durationSeconds: 600, budget: { concurrentSessions: 1 } });
    assert.equal(oneAtATime.state, 'granted');
    if (oneAtATime.state !== 'granted') return;
    const slots = new DynamoSlotLedger(dynamo.client, TABLE);
    const slotKey = `task#${oneAtATime.task.id}/concurrentSessions`;
    // Long enough for B's attempt on a loaded machine; B's login is tried once A's slot is counted.
    const held = psql(a.conninfo(), ['-c', 'SELECT pg_sleep(4)'], { token: oneAtATime.token });
    for (let i = 0; i < 1000 && (await slots.read(slotKey)).total !== 1; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal((await slots.read(slotKey)).total, 1, 'A\'s session holds the slot');
    const onB = await loginError(b.gw.postgres!.port, oneAtATime.token);
    assert.equal(onB.code, '53300', onB.message);
    assert.match(onB.message ?? '', /already has 1 session\(s\) open across the fleet/);
    const heldOut = await held;
    assert.equal(heldOut.code, 0, `the session on A ran undisturbed: ${heldOut.stderr}`);
    for (let i = 0; i < 1000 && (await slots.read(slotKey)).total !== 0; i++) await new Promise((r) => setTimeout(r, 10));
    const later = await psql(b.conninfo(), ['-c', 'SELECT 1 AS one'], { token: oneAtATime.token });
    assert.match(later.stdout, /\(1 row\)/, later.stderr);
  } finally {
    for (const g of gws) await g.stop();
    await server.stop();
    restoreEnv();
  }
});
