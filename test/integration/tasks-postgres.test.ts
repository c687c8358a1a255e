// Tasks end to end through the real gateway, a real PostgreSQL and the real psql: a task granted by
// a reviewer and used as the psql password; the rows-affected budget rolling a DELETE back (the
// row count upstream unchanged), in and out of the agent's transaction and over the extended
// protocol; a task expiring mid-session; the kill switch ending one principal's sessions and no
// other's; every refusal carrying its stable code.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { AGENT, OTHER_AGENT, REVIEWER, psql, startTestGateway, type TestGateway } from '../support/gateway.js';
import { approvalsApprove } from '../../fargate-proxy/src/cli/approval-commands.js';
import { sessionsKill, taskClose, taskOpen, taskShow } from '../../fargate-proxy/src/cli/task-commands.js';
import { consoleTaskService } from '../../fargate-proxy/src/tasks/console-task-client.js';

const POLICY = `
@id("agents-connect")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"connect", resource);
@id("agents-read")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"read", resource);
@id("writes-inside-a-task")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"write", resource)
when { context has task && (context.task.writeTables.containsAll(context.tables) || context.task.writeTables.contains("*")) };
@id("refunds-need-a-reviewer")
@approval("required")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"write", resource)
when { context has task && context.tables.contains("public.refunds") };
@id("no-drops")
forbid (principal, action == Airlock::Action::"destructive", resource);
@id("read-tasks-at-once")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"task_open", resource)
unless { context.write };
@id("write-tasks-need-a-reviewer")
@approval("required")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"task_open", resource)
when { context.write };
`;

let server: RunningPostgres;
let gw: TestGateway;
let agentToken: string;
let reviewerToken: string;
let consoleUrl: string;

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
}

async function direct(sql: string): Promise<pg.QueryResult> {
  const c = new pg.Client({ host: server.host, port: server.port, database: server.database, user: server.roles.app.user, password: server.roles.app.password });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}
const countOrders = async () => Number((await direct('SELECT count(*) AS n FROM orders')).rows[0].n);

/** Opens a task as the agent and has the reviewer approve it when it waits; returns its id and token. */
async function grantedTask(args: { scope: string; for?: string; maxRows?: number; maxStatements?: number; targets?: string }): Promise<{ id: string; token: string }> {
  const open = capture();
  const code = await taskOpen({ url: consoleUrl, token: agentToken, title: 'fix invoice #4312', ticket: 'OPS-1', targets: args.targets ?? 'app', scope: args.scope, for: args.for ?? '10m', maxRows: args.maxRows, maxStatements: args.maxStatements }, open.io);
  const id = /task (t_[\w-]+)/.exec(open.err.join('\n'))![1]!;
  if (code === 0) return { id, token: open.out[0]! };
  assert.equal(code, 3, open.err.join('\n'));
  const approvalId = /approval (\S+)/.exec(open.err.join('\n'))![1]!;
  assert.equal(await approvalsApprove({ url: consoleUrl, token: reviewerToken, id: approvalId }, capture().io), 0);
  for (let i = 0; i < 50; i++) {
    const show = capture();
    if ((await taskShow({ url: consoleUrl, token: agentToken, id, tokenOnly: true }, show.io)) === 0) return { id, token: show.out[0]! };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('task never became active');
}

/** A psql whose stdin stays open: lines are sent one at a time, output collected. */
function interactivePsql(token: string) {
  const child = spawn('psql', [gw.conninfo(), '-X', '-v', 'ON_ERROR_STOP=0'], { env: { ...process.env, PGPASSWORD: token, PGCONNECT_TIMEOUT: '10' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number>((r) => child.on('close', (c) => r(c ?? -1)));
  return {
    send: (line: string) => child.stdin.write(line + '\n'),
    waitFor: async (re: RegExp, ms = 10_000) => {
      const end = Date.now() + ms;
      while (!re.test(stdout + stderr)) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${re}: stdout=${stdout} stderr=${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    end: () => child.stdin.end(),
    exited,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
  };
}

function auditEvents(): Record<string, unknown>[] {
  const dir = join(gw.dir, 'data', 'audit');
  const files: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith('.jsonl')) files.push(join(d, e.name));
    }
  };
  walk(dir);
  return files.flatMap((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>));
}

before(async () => {
  server = await startPostgres();
  await direct(`CREATE TABLE orders (id int PRIMARY KEY, state text NOT NULL DEFAULT 'open');
    INSERT INTO orders (id) SELECT generate_series(1, 10);
    CREATE TABLE notes (id serial PRIMARY KEY, body text);
    CREATE TABLE refunds (id serial PRIMARY KEY, body text);`);
  gw = await startTestGateway(server, {
    policy: POLICY,
    // Masking stays on (the default): the guarded path holds messages the masker also rewrites.
    config: (raw) => {
      (raw.listeners as Record<string, unknown>).console = { host: '127.0.0.1', port: 0 };
      // A budget of the agent's own (tasks.agentBudgets), with or without a task.
      raw.tasks = { agentBudgets: [{ principal: 'agent-2', statements: 3 }] };
    },
  });
  consoleUrl = gw.gw.consoleUrl!;
  agentToken = await gw.token(AGENT);
  reviewerToken = await gw.token(REVIEWER);
});

after(async () => {
  await gw?.stop();
  await server?.stop();
});

describe('tasks through the gateway', () => {
  test('without a task a write is refused with policy_denied and the task scope to ask for', async () => {
    const r = await psql(gw.conninfo(), ['-c', "UPDATE orders SET state = 'paid' WHERE id = 1"], { token: agentToken });
    assert.match(r.stderr, /ERROR: {2}Airlock refused this write statement/);
    assert.match(r.stderr, /DETAIL: {2}airlock: code=policy_denied scope=write:public\.orders/);
    assert.match(r.stderr, /HINT: {2}Open a task with scope write:public\.orders/);
    assert.equal((await direct('SELECT state FROM orders WHERE id = 1')).rows[0].state, 'open');
  });

  test('a statement a forbid refuses names no task scope: no task would lift it', async () => {
    const r = await psql(gw.conninfo(), ['-c', 'DROP TABLE orders'], { token: agentToken });
    assert.match(r.stderr, /DETAIL: {2}airlock: code=policy_denied; policy: no-drops/);
    assert.doesNotMatch(r.stderr, /scope=|Open a task/);
    assert.equal(Number((await direct('SELECT count(*) AS n FROM orders')).rows[0].n), 10);
  });

  test('a task granted by a reviewer is used by psql: writes inside its scope run, others are refused', async () => {
    const { id, token } = await grantedTask({ scope: 'read,write:orders' });
    const r = await psql(gw.conninfo(), ['-c', "UPDATE orders SET state = 'paid' WHERE id = 2", '-c', "INSERT INTO notes (body) VALUES ('x')", '-c', 'SELECT count(*) FROM orders'], { token });
    assert.match(r.stdout, /UPDATE 1/);
    assert.match(r.stderr, /code=policy_denied task=t_[\w-]+ scope=write:public\.notes/);
    assert.match(r.stdout, /10/);
    assert.equal((await direct('SELECT state FROM orders WHERE id = 2')).rows[0].state, 'paid');
    assert.equal(Number((await direct('SELECT count(*) AS n FROM notes')).rows[0].n), 0);
    // The plain token is still refused the same write: the grant lives in the task token only.
    const plain = await psql(gw.conninfo(), ['-c', "UPDATE orders SET state = 'paid' WHERE id = 3"], { token: agentToken });
    assert.match(plain.stderr, /code=policy_denied/);
    const show = capture();
    assert.equal(await taskShow({ url: consoleUrl, token: agentToken, id }, show.io), 0);
    const text = show.out.join('\n');
    assert.match(text, /active {2}fix invoice #4312 {2}\[OPS-1\]/);
    assert.match(text, /granted by reviewer/);
    assert.match(text, /did: 2 statements, 0 commands, 0 requests, 1 refusals, 1 sessions; rows returned 1, rows affected 1/);
    // Sessions are grouped by task in the audit trail (beside the task's own log of its lifecycle).
    const starts = auditEvents().filter((e) => e.type === 'session.start' && e.protocol !== 'task' && (e.principal as { taskId?: string }).taskId === id);
    assert.equal(starts.length, 1);
    // Another agent cannot use or read the task.
    const other = capture();
    assert.equal(await taskShow({ url: consoleUrl, token: await gw.token(OTHER_AGENT), id }, other.io), 1);
  });

  test('a DELETE over the rows-affected budget is rolled back and refused; one within it runs', async () => {
    const { token } = await grantedTask({ scope: 'write:orders', maxRows: 3 });
    const before = await countOrders();
    const r = await psql(gw.conninfo(), ['-c', 'DELETE FROM orders WHERE id <= 5', '-c', 'SELECT 1 AS still_usable'], { token });
    assert.match(r.stderr, /ERROR: {2}Airlock refused this statement: the statement affected 5 rows and task t_[\w-]+ may affect 3 more: it was rolled back/);
    assert.match(r.stderr, /DETAIL: {2}airlock: code=budget_exceeded task=t_[\w-]+ budget=rowsAffected/);
    assert.match(r.stdout, /still_usable/);
    assert.equal(await countOrders(), before, 'row count upstream unchanged');
    // Inside the agent's own transaction: only the refused statement is undone.
    const tx = await psql(
      gw.conninfo(),
      ['-f', '-'],
      { token, input: "BEGIN;\nUPDATE orders SET state = 'held' WHERE id = 7;\nDELETE FROM orders WHERE id >= 6;\nUPDATE orders SET state = 'held' WHERE id = 8;\nCOMMIT;\n" },
    );
    assert.match(tx.stderr, /code=budget_exceeded/);
    assert.match(tx.stdout, /COMMIT/);
    assert.equal(await countOrders(), before);
    assert.deepEqual((await direct("SELECT id FROM orders WHERE state = 'held' ORDER BY id")).rows.map((x) => x.id), [7, 8]);
    // Within the budget (1 of the 1 left after the two updates): runs and commits.
    const ok = await psql(gw.conninfo(), ['-c', 'DELETE FROM orders WHERE id = 10'], { token });
    assert.match(ok.stdout, /DELETE 1/);
    assert.equal(await countOrders(), before - 1);
    // The budget is spent now: the next write is refused before it runs.
    const spent = await psql(gw.conninfo(), ['-c', 'DELETE FROM orders WHERE id = 9'], { token });
    assert.match(spent.stderr, /code=budget_exceeded/);
    assert.equal(await countOrders(), before - 1);
  });

  test('a guarded statement that fails leaves the session as the server would: usable outside a transaction, aborted inside', async () => {
    const { token } = await grantedTask({ scope: 'write:orders', maxRows: 100 });
    const before = await countOrders();
    const r = await psql(gw.conninfo(), ['-f', '-'], {
      token,
      input: "INSERT INTO orders (id) VALUES (1);\nSELECT 'after error' AS outside;\nBEGIN;\nINSERT INTO orders (id) VALUES (2);\nSELECT 1;\nROLLBACK;\nINSERT INTO orders (id) VALUES (100);\n",
    });
    assert.match(r.stderr, /duplicate key value violates unique constraint "orders_pkey"/);
    assert.match(r.stdout, /after error/);
    assert.match(r.stderr, /current transaction is aborted/);
    assert.match(r.stdout, /ROLLBACK/);
    assert.match(r.stdout, /INSERT 0 1/);
    assert.equal(await countOrders(), before + 1);
    await direct('DELETE FROM orders WHERE id = 100');
  });

  test('the rows-affected guard holds over the extended protocol', async () => {
    const { token } = await grantedTask({ scope: 'write:orders', maxRows: 2 });
    const before = await countOrders();
    const c = new pg.Client(gw.pgOptions(token));
    await c.connect();
    try {
      await assert.rejects(c.query('DELETE FROM orders WHERE id <= $1', [6]), (e: Error & { code?: string; detail?: string }) => {
        assert.equal(e.code, '54000');
        assert.match(e.detail ?? '', /code=budget_exceeded/);
        return true;
      });
      assert.equal(await countOrders(), before);
      const ok = await c.query('UPDATE orders SET state = $1 WHERE id = $2', ['ok', 1]);
      assert.equal(ok.rowCount, 1);
      assert.equal((await c.query('SELECT 1 AS x')).rows[0].x, 1);
    } finally {
      await c.end();
    }
  });

  test('a task expiring mid-session ends the session with task_expired; its token no longer logs in', async () => {
    const { token } = await grantedTask({ scope: 'read', for: '3s' });
    const p = interactivePsql(token);
    p.send('SELECT 41 + 1 AS answer;');
    await p.waitFor(/42/);
    // psql reads the socket when it next sends: wait past the expiry, then ask again.
    await new Promise((r) => setTimeout(r, 4000));
    p.send('SELECT 1;');
    await p.waitFor(/FATAL: {2}Airlock ended this session: task t_[\w-]+ ended: its time is up/, 10_000);
    assert.match(p.stderr, /DETAIL: {2}airlock: code=task_expired task=t_/);
    p.end();
    await p.exited;
    const again = await psql(gw.conninfo(), ['-c', 'SELECT 1'], { token });
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /code=task_expired/);
    const ends = auditEvents().filter((e) => e.type === 'session.end' && String(e.reason).startsWith('task_expired'));
    assert.ok(ends.length >= 1, 'the end reason is audited');
  });

  test('closing a task ends its sessions at once', async () => {
    const { id, token } = await grantedTask({ scope: 'read' });
    const p = interactivePsql(token);
    p.send('SELECT 2 + 2 AS four;');
    await p.waitFor(/4/);
    assert.equal(await taskClose({ url: consoleUrl, token: agentToken, id, reason: 'done' }, capture().io), 0);
    p.send('SELECT 1;');
    await p.waitFor(/code=task_expired/, 5_000);
    assert.match(p.stderr, /task t_[\w-]+ ended: done/);
    p.end();
    await p.exited;
  });

  test('a statement of the task a reviewer approves runs, and the task counts the approval', async () => {
    const { id, token } = await grantedTask({ scope: 'write:orders' });
    const p = interactivePsql(token);
    p.send("INSERT INTO refunds (body) VALUES ('held for a reviewer');");
    await p.waitFor(/request (\S+) is waiting for a reviewer/);
    const approvalId = /request (\S+) is waiting for a reviewer/.exec(p.stderr)![1]!;
    assert.equal(await approvalsApprove({ url: consoleUrl, token: reviewerToken, id: approvalId }, capture().io), 0);
    await p.waitFor(/INSERT 0 1/);
    p.end();
    await p.exited;
    assert.equal(Number((await direct("SELECT count(*) AS n FROM refunds WHERE body = 'held for a reviewer'")).rows[0].n), 1);
    const show = capture();
    assert.equal(await taskShow({ url: consoleUrl, token: agentToken, id, json: true }, show.io), 0);
    assert.equal((JSON.parse(show.out.join('\n')) as { task: { usage: { approvals: number } } }).task.usage.approvals, 1);
  });

  test('the TaskService port over the console API (what `airlock mcp` uses): open, status, close', async () => {
    const tasks = consoleTaskService(consoleUrl, () => agentToken);
    const me = { id: 'ignored', groups: [], issuer: 'ignored' };
    const opened = await tasks.open(me, { title: 'read a ticket', targets: ['app'], scope: ['read'], durationSeconds: 60 });
    assert.equal(opened.state, 'granted');
    if (opened.state !== 'granted') return;
    assert.equal(opened.task.principalId, 'agent-1');
    const r = await psql(gw.conninfo(), ['-c', 'SELECT count(*) FROM orders'], { token: opened.token });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await tasks.status(me, opened.task.id)).task.usage.statements, 1);
    assert.equal((await tasks.close(me, opened.task.id, 'done')).status, 'closed');
    await assert.rejects(tasks.open(me, { title: '', targets: ['app'], scope: ['read'], durationSeconds: 60 }), /needs a title/);
  });

  test('the kill switch ends every session of one principal and no other', async () => {
    const { token: taskToken } = await grantedTask({ scope: 'read' });
    const a1 = interactivePsql(agentToken);
    const a2 = interactivePsql(taskToken);
    const other = new pg.Client(gw.pgOptions(await gw.token(OTHER_AGENT)));
    await other.connect();
    const otherEnded: Error[] = [];
    other.on('error', (e) => otherEnded.push(e));
    a1.send('SELECT 1 AS one;');
    a2.send('SELECT 2 AS two;');
    await a1.waitFor(/one/);
    await a2.waitFor(/two/);
    const killed = capture();
    // An agent may not use the kill switch.
    assert.equal(await sessionsKill({ url: consoleUrl, token: agentToken, principal: 'agent-2' }, capture().io), 1);
    assert.equal(await sessionsKill({ url: consoleUrl, token: reviewerToken, principal: 'agent-1', reason: 'incident 7' }, killed.io), 0);
    assert.match(killed.out[0]!, /ended 2 session\(s\) of agent-1/);
    a1.send('SELECT 1;');
    a2.send('SELECT 1;');
    await a1.waitFor(/code=session_killed/, 5_000);
    await a2.waitFor(/code=session_killed/, 5_000);
    assert.match(a1.stderr, /FATAL: {2}Airlock ended this session: session ended by reviewer: incident 7/);
    a1.end();
    a2.end();
    await Promise.all([a1.exited, a2.exited]);
    assert.equal((await other.query('SELECT 3 AS three')).rows[0].three, 3);
    assert.deepEqual(otherEnded, []);
    await other.end();
    const ends = auditEvents().filter((e) => e.type === 'session.end' && String(e.reason).includes('session_killed'));
    assert.equal(ends.length, 2);
  });

  test("an agent's statements budget (tasks.agentBudgets) is counted across its sessions; the one over it is refused", async () => {
    const other = await gw.token(OTHER_AGENT);
    const r = await psql(gw.conninfo(), ['-c', 'SELECT 1', '-c', 'SELECT 2', '-c', 'SELECT 3', '-c', 'SELECT 4'], { token: other });
    assert.match(r.stderr, /ERROR: {2}Airlock refused this statement: agent agent-2 may run 3 statements every 3600 s/);
    assert.match(r.stderr, /DETAIL: {2}airlock: code=budget_exceeded budget=statements retry_after=\d+/);
    // Another agent is not affected.
    assert.equal((await psql(gw.conninfo(), ['-c', 'SELECT 1'], { token: agentToken })).code, 0);
  });
});
