// The task service with real Cedar policy, the real local approval desk and real Ed25519 / KMS-style
// ES256 signatures: granted at once, through a reviewer, denied; tokens bound to their agent; close and
// expiry end what runs under a task; scopes parsed as policy sees them; the budget meter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KMSClient } from '@aws-sdk/client-kms';
import { compilePolicySet } from '../../core/policy/index.js';
import type { Principal, TargetInfo } from '../../core/model.js';
import { MemoryTaskStore, createTaskService, taskPolicyContext } from '../../core/task/service.js';
import { parseScope } from '../../core/task/scope.js';
import { signTaskToken, verifyTaskToken } from '../../core/task/token.js';
import { BudgetMeter } from '../../core/task/meter.js';
import { emptyUsage } from '../../core/task/budget.js';
import type { Task } from '../../core/task/types.js';
import { createLocalApprovalService } from '../../fargate-proxy/src/adapters/local/approval-service.js';
import { loadOrCreateTaskKey } from '../../fargate-proxy/src/tasks/local-task-key.js';
import { withTaskTokens } from '../../fargate-proxy/src/tasks/task-verifier.js';
import { createKmsTaskKey } from '../../fargate-proxy/src/adapters/aws/kms-task-key.js';
import { standInKms } from '../support/kms-stand-in.js';

const POLICY = `
@id("read-tasks") permit (principal in Airlock::Group::"agents", action == Airlock::Action::"task_open", resource) unless { context.write };
@id("write-tasks") @approval("required") permit (principal in Airlock::Group::"agents", action == Airlock::Action::"task_open", resource == Airlock::Target::"app") when { context.write && context.durationSeconds <= 7200 };
@id("task-writes") permit (principal, action == Airlock::Action::"write", resource) when { context has task && context.task.writeTables.containsAll(context.tables) && context.task.remaining.rowsAffected != 0 };
`;
const policy = compilePolicySet(POLICY);
const agent: Principal = { id: 'agent-1', groups: ['agents'], issuer: 'https://idp.test' };
const other: Principal = { id: 'agent-2', groups: ['agents'], issuer: 'https://idp.test' };
const reviewer: Principal = { id: 'rev', groups: ['reviewers'], issuer: 'https://idp.test' };
const targets: TargetInfo[] = [
  { name: 'app', kind: 'postgres', environment: 'test', tags: {} },
  { name: 'prod', kind: 'postgres', environment: 'production', tags: {} },
];

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-task-unit-'));
  const key = loadOrCreateTaskKey(dir);
  const desk = createLocalApprovalService({ reviewerGroups: ['reviewers'], timeoutMs: 60_000 });
  const ended: { task: Task; code: string }[] = [];
  let now = Date.now();
  const service = createTaskService({
    store: new MemoryTaskStore(),
    key,
    approvals: desk,
    authorize: (p, t, f) => policy.authorizeTaskOpen(p, t, f),
    target: (n) => targets.find((t) => t.name === n),
    adminGroups: ['reviewers'],
    onEnded: (task, code) => void ended.push({ task, code }),
    now: () => now,
  });
  const verifier = withTaskTokens({ verify: async () => agent }, key, (id) => service.get(id));
  return { dir, key, desk, service, ended, verifier, advance: (ms: number) => (now += ms), cleanup: async () => (await desk.close(), rmSync(dir, { recursive: true, force: true })) };
}

test('scopes normalise to what the PostgreSQL inspection reports', () => {
  assert.deepEqual(parseScope(['read,write:Orders', 'write:billing.invoices']), { entries: ['read', 'write:billing.invoices', 'write:public.orders'], read: true, writeTables: ['billing.invoices', 'public.orders'] });
  assert.throws(() => parseScope(['delete:orders']), /not read, write or write:<table>/);
  assert.throws(() => parseScope([]), /needs a scope/);
});

test('a read task is granted at once; its token verifies as the agent with the live task', async () => {
  const s = setup();
  try {
    const r = await s.service.open(agent, { title: 'look at invoice 4312', targets: ['app'], scope: ['read'], durationSeconds: 600 });
    assert.equal(r.state, 'granted');
    if (r.state !== 'granted') return;
    const p = await s.verifier.verify(r.token);
    assert.equal(p.id, 'agent-1');
    assert.equal(p.task?.id, r.task.id);
    assert.deepEqual(p.groups, ['agents']);
    // A tampered token does not verify.
    const [h, body, sig] = r.token.split('.');
    const forged = JSON.parse(Buffer.from(body!, 'base64url').toString());
    forged.sub = 'agent-2';
    await assert.rejects(s.verifier.verify(`${h}.${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${sig}`), /signature/);
    // Another agent can neither see nor close it; a reviewer can close it.
    await assert.rejects(s.service.status(other, r.task.id), /belongs to another agent/);
    const closed = await s.service.close(reviewer, r.task.id, 'incident');
    assert.equal(closed.status, 'closed');
    assert.deepEqual(s.ended.map((e) => e.code), ['task_expired']);
    await assert.rejects(s.verifier.verify(r.token), /code=task_expired/);
  } finally {
    await s.cleanup();
  }
});

test('a write task waits for a reviewer; once approved its status carries a token; expiry ends it', async () => {
  const s = setup();
  try {
    const r = await s.service.open(agent, { title: 'fix invoice', targets: ['app'], scope: ['write:orders'], durationSeconds: 3600, budget: { rowsAffected: 5 } });
    assert.equal(r.state, 'pending');
    if (r.state !== 'pending') return;
    assert.equal((await s.service.status(agent, r.task.id)).token, undefined);
    assert.match((await s.desk.get(r.approvalId))!.statementText, /scope: write:public\.orders/);
    const decided = await s.desk.decide(r.approvalId, reviewer, { verdict: 'approve', scope: 'once' });
    assert.ok(decided.ok);
    await new Promise((res) => setTimeout(res, 20));
    const st = await s.service.status(agent, r.task.id);
    assert.equal(st.task.status, 'active');
    assert.equal(st.task.grantedBy, 'rev');
    assert.ok(st.token);
    // Policy sees the task: a write to its table is allowed, elsewhere not, and not once the budget is spent.
    const p = await s.verifier.verify(st.token!);
    const write = (tables: string[]) => policy.authorizeStatement(p, targets[0]!, { class: 'write', statementTypes: ['DeleteStmt'], tables, functions: [], dmlWithoutWhere: false, reasons: [], text: '' }).effect;
    assert.equal(write(['public.orders']), 'allow');
    assert.equal(write(['public.customers']), 'deny');
    p.task!.usage.rowsAffected = 5;
    assert.equal(taskPolicyContext(p.task!).remaining.rowsAffected, 0);
    assert.equal(write(['public.orders']), 'deny');
    s.advance(3601_000);
    const expired = await s.service.expireDue();
    assert.deepEqual(expired.map((t) => t.status), ['expired']);
    assert.equal(s.ended.at(-1)!.code, 'task_expired');
  } finally {
    await s.cleanup();
  }
});

test('policy denies what it does not permit: a write task on another target, or too long', async () => {
  const s = setup();
  try {
    const r = await s.service.open(agent, { title: 'x', targets: ['prod'], scope: ['write'], durationSeconds: 600 });
    assert.equal(r.state, 'denied');
    const long = await s.service.open(agent, { title: 'x', targets: ['app'], scope: ['write'], durationSeconds: 8 * 3600 });
    assert.equal(long.state, 'denied');
    await assert.rejects(s.service.open(agent, { title: 'x', targets: ['nope'], scope: ['read'], durationSeconds: 60 }), /no target "nope"/);
    await assert.rejects(s.service.open(agent, { title: 'x', targets: ['app'], scope: ['read'], durationSeconds: 60, budget: { rows: 1 } as never }), /unknown budget "rows"/);
  } finally {
    await s.cleanup();
  }
});

test('task tokens signed by a KMS key (ES256) verify with its public key; another key does not', async () => {
  const kms = standInKms();
  try {
    const key = await createKmsTaskKey(new KMSClient({ region: 'eu-west-1' }), kms.keyArn);
    assert.equal(key.alg, 'ES256');
    const exp = Math.floor(Date.now() / 1000) + 60;
    const token = await signTaskToken(key, { taskId: 't_1', principal: { id: 'agent-1', groups: ['agents'], issuer: 'https://idp.test' }, expiresAt: exp });
    assert.deepEqual(kms.signRequests.at(-1), { KeyId: kms.keyArn, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' });
    const claims = await verifyTaskToken(token, { alg: 'ES256', publicKey: kms.publicKey });
    assert.equal(claims.taskId, 't_1');
    const dir = mkdtempSync(join(tmpdir(), 'airlock-task-unit-'));
    try {
      const local = loadOrCreateTaskKey(dir);
      await assert.rejects(verifyTaskToken(token, { alg: 'EdDSA', publicKey: local.publicKey }), /does not verify/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    kms.restore();
  }
});

// --- the budget meter (core/task/meter.ts): a clock the test moves ---

test('the meter: the first rule naming the agent applies, by id before group; a refused charge counts nothing', () => {
  let now = 1_000_000;
  const meter = new BudgetMeter({ rules: [{ group: 'agents', budget: { commands: 5 } }, { principal: 'agent-2', budget: { commands: 1 } }], windowSeconds: 60, now: () => now });
  assert.deepEqual(meter.agentBudget(agent), { commands: 5 });
  assert.deepEqual(meter.agentBudget(other), { commands: 1 });
  assert.equal(meter.agentBudget(reviewer), undefined);
  assert.equal(meter.charge(other, 'commands'), undefined);
  const spent = meter.charge(other, 'commands');
  assert.equal(spent?.code, 'budget_exceeded');
  assert.deepEqual(spent?.next, { budget: 'commands', retryAfterSeconds: 60 });
  now += 30_000;
  assert.equal(meter.charge(other, 'commands')?.next?.retryAfterSeconds, 30);
  // A new window: counted afresh.
  now += 30_000;
  assert.equal(meter.charge(other, 'commands'), undefined);
  // Another agent has its own count.
  for (let i = 0; i < 5; i++) assert.equal(meter.charge(agent, 'commands'), undefined);
  assert.equal(meter.charge(agent, 'commands')?.code, 'budget_exceeded');
});

test("the meter: a task's requests a minute roll; its commands are counted on the task record", () => {
  let now = 5_000_000;
  const meter = new BudgetMeter({ now: () => now });
  const task = { id: 't_1', budget: { requestsPerMinute: 2, commands: 1 }, usage: emptyUsage() } as unknown as Task;
  const p: Principal = { ...agent, task };
  assert.equal(meter.charge(p, 'requests'), undefined);
  now += 20_000;
  assert.equal(meter.charge(p, 'requests'), undefined);
  now += 20_000;
  const over = meter.charge(p, 'requests');
  assert.deepEqual(over?.next, { taskId: 't_1', budget: 'requestsPerMinute', retryAfterSeconds: 20 });
  now += 20_000; // the first request left the minute
  assert.equal(meter.charge(p, 'requests'), undefined);
  assert.equal(meter.charge(p, 'commands'), undefined);
  assert.equal(meter.charge(p, 'commands')?.next?.budget, 'commands');
  assert.deepEqual([task.usage.requests, task.usage.commands, task.usage.refusals], [3, 1, 2]);
  // Statements the relay counts itself: only the agent is charged.
  assert.equal(meter.charge(p, 'statements', 3, { agentOnly: true }), undefined);
  assert.equal(task.usage.statements, 0);
});
