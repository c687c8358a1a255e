// request_access and task_status against the gateway's real task service, driven by the SDK's
// client over streamable HTTP and stdio: a write refused outside a task (row unchanged), a write
// task granted by a reviewer and used through `query` with `task`, a DELETE over the task's
// rows-affected budget rolled back (count unchanged) with budget_exceeded, a closed task refused
// with task_expired, a read task granted at once over stdio.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { OTHER_AGENT, REVIEWER } from '../support/gateway.js';
import { callTool, httpMcpClient, startMcpTestGateway, stdioMcpClient, toolErrorOf, type McpTestGateway } from '../support/mcp.js';
import { approvalsApprove } from '../../fargate-proxy/src/cli/approval-commands.js';
import { taskClose } from '../../fargate-proxy/src/cli/task-commands.js';

const POLICY = `
@id("agents-connect")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"connect", resource);
@id("agents-read")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"read", resource);
@id("writes-inside-a-task")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"write", resource)
when { context has task && (context.task.writeTables.containsAll(context.tables) || context.task.writeTables.contains("*")) };
@id("read-tasks-at-once")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"task_open", resource)
unless { context.write };
@id("write-tasks-need-a-reviewer")
@approval("required")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"task_open", resource)
when { context.write };
`;

let server: RunningPostgres;
let gw: McpTestGateway;
let token: string;
let reviewer: string;
let http: Client;
const quiet = { out: () => undefined, err: () => undefined };

async function direct(sql: string): Promise<pg.QueryResult> {
  const c = new pg.Client({ host: server.host, port: server.port, database: server.database, user: server.roles.app.user, password: server.roles.app.password });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}
const count = async () => Number((await direct('SELECT count(*) AS n FROM orders')).rows[0].n);
const stateOf = async (id: number) => (await direct(`SELECT state FROM orders WHERE id = ${id}`)).rows[0]?.state as string;

before(async () => {
  server = await startPostgres();
  await direct(`CREATE TABLE orders (id int PRIMARY KEY, state text); INSERT INTO orders VALUES (1, 'open'), (2, 'open'), (3, 'open');`);
  gw = await startMcpTestGateway(server, { policy: POLICY });
  token = await gw.token();
  reviewer = await gw.token(REVIEWER);
  http = await httpMcpClient(gw.mcpUrl, token);
});
after(async () => {
  await http?.close();
  await gw?.stop();
  await server?.stop();
});

/** Opens a write task through request_access and has the reviewer approve it; returns its id. */
async function grantedWriteTask(extra: Record<string, unknown> = {}): Promise<string> {
  const asked = await callTool(http, 'request_access', { title: 'fix invoice #4312', ticket: 'OPS-1', targets: ['app'], scope: ['write:orders'], duration_minutes: 10, reason: 'close order 1', ...extra });
  assert.equal(asked.result.isError, undefined, JSON.stringify(asked.body));
  assert.equal(asked.body.state, 'pending');
  const id = (asked.body.task as { id: string }).id;
  assert.equal(await approvalsApprove({ url: gw.gw.consoleUrl!, token: reviewer, id: String(asked.body.approvalId) }, quiet), 0);
  for (let i = 0; i < 50; i++) {
    const s = await callTool(http, 'task_status', { id });
    if ((s.body.task as { status: string }).status === 'active') {
      assert.equal(s.body.usable, true);
      return id;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the task never became active');
}

test('a write outside a task is policy_denied; inside a reviewer-granted task it runs', async () => {
  const outside = await callTool(http, 'query', { target: 'app', sql: "UPDATE orders SET state = 'closed' WHERE id = 1" });
  assert.equal(toolErrorOf(outside).code, 'policy_denied');
  assert.equal(await stateOf(1), 'open');

  const id = await grantedWriteTask();
  const status = await callTool(http, 'task_status', { id });
  const task = status.body.task as { scope: string[]; targets: string[]; expiresAt: string };
  assert.deepEqual(task.scope, ['write:public.orders']);
  assert.deepEqual(task.targets, ['app']);
  assert.ok(!JSON.stringify(status.result).match(/eyJ[\w-]+\.[\w-]+\./), 'no token is shown to the agent');

  const inside = await callTool(http, 'query', { target: 'app', sql: "UPDATE orders SET state = 'closed' WHERE id = 1", task: id });
  assert.equal(inside.result.isError, undefined, JSON.stringify(inside.body));
  assert.equal(await stateOf(1), 'closed');
  // The trail ties the statement to the task's session.
  const records = await gw.auditRecords();
  assert.equal(records.filter((r) => r.type === 'statement' && String((r as { text?: string }).text).startsWith('UPDATE orders') && (r as { decision?: { effect: string } }).decision?.effect === 'allow').length, 1);
});

test('a DELETE over the task\'s rows-affected budget is rolled back: budget_exceeded, count unchanged', async () => {
  const id = await grantedWriteTask({ max_rows_affected: 1 });
  const before = await count();
  const c = await callTool(http, 'query', { target: 'app', sql: 'DELETE FROM orders WHERE id > 0', task: id });
  const e = toolErrorOf(c);
  assert.equal(e.code, 'budget_exceeded', JSON.stringify(e));
  assert.equal(e.next?.taskId, id);
  assert.equal(e.next?.budget, 'rowsAffected');
  assert.match(e.hint ?? '', /budget/);
  assert.equal(await count(), before);
});

test('a closed task is task_expired; another agent cannot use or see it', async () => {
  const id = await grantedWriteTask();
  const other = await httpMcpClient(gw.mcpUrl, await gw.token(OTHER_AGENT));
  try {
    const stolen = await callTool(other, 'query', { target: 'app', sql: "UPDATE orders SET state = 'stolen' WHERE id = 2", task: id });
    assert.match(toolErrorOf(stolen).code, /^task_(forbidden|not_found)$/);
    assert.equal(await stateOf(2), 'open');
  } finally {
    await other.close();
  }
  assert.equal(await taskClose({ url: gw.gw.consoleUrl!, token, id, reason: 'done' }, quiet), 0);
  const after = await callTool(http, 'query', { target: 'app', sql: "UPDATE orders SET state = 'late' WHERE id = 2", task: id });
  const e = toolErrorOf(after);
  assert.equal(e.code, 'task_expired');
  assert.equal(e.next?.taskId, id);
  assert.equal(await stateOf(2), 'open');
});

test('stdio: request_access grants a read task at once; task_status and query under it work through the console API', async () => {
  const { client, stderr } = await stdioMcpClient(gw.configFile, token);
  try {
    const asked = await callTool(client, 'request_access', { title: 'look at orders', targets: ['app'], scope: ['read'], duration_minutes: 5 });
    assert.equal(asked.result.isError, undefined, `${JSON.stringify(asked.body)} ${stderr()}`);
    assert.equal(asked.body.state, 'granted');
    const id = (asked.body.task as { id: string }).id;
    const status = await callTool(client, 'task_status', { id });
    assert.equal((status.body.task as { status: string }).status, 'active');
    const q = await callTool(client, 'query', { target: 'app', sql: 'SELECT count(*) AS n FROM orders', task: id });
    assert.equal(q.result.isError, undefined, JSON.stringify(q.body));
    assert.deepEqual((q.body.results as { rows: string[][] }[])[0]!.rows, [['3']]);
    const write = await callTool(client, 'query', { target: 'app', sql: "UPDATE orders SET state = 'x' WHERE id = 3", task: id });
    assert.equal(toolErrorOf(write).code, 'policy_denied');
    assert.equal(await stateOf(3), 'open');
    assert.match(toolErrorOf(await callTool(client, 'task_status', { id: 't_doesnotexist' })).code, /^task_/);
  } finally {
    await client.close();
  }
});
