// The local approval flow end to end over real HTTP: gateway-side service, console JSON API,
// CLI functions, real ES256-signed reviewer tokens.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair } from 'jose';
import { reviewerIssuer } from '../support/reviewer-tokens.js';
import type { Principal, TargetInfo } from '../../core/model.js';
import type { ApprovalEvent, ApprovalRequestInput } from '../../core/approval/index.js';
import { createLocalApprovalService } from '../../fargate-proxy/src/adapters/local/approval-service.js';
import type { ApprovalAuditEvent } from '../../fargate-proxy/src/adapters/local/approval-service.js';
import { startConsole } from '../../fargate-proxy/src/console/server.js';
import type { RunningConsole } from '../../fargate-proxy/src/console/server.js';
import { approvalsApprove, approvalsDeny, approvalsList } from '../../fargate-proxy/src/cli/approval-commands.js';

const ISSUER = 'https://idp.approval.test';
const { sign, verify: verifyReviewer } = await reviewerIssuer(ISSUER);
const otherKeys = await generateKeyPair('ES256');

const agent: Principal = { id: 'agent-7', groups: ['agents'], issuer: ISSUER };
const target: TargetInfo = { name: 'orders', kind: 'postgres', environment: 'production', tags: {} };
let n = 0;
function input(over: Partial<ApprovalRequestInput> = {}): ApprovalRequestInput {
  n++;
  return { requester: agent, target, sessionId: 'sess-1', statementId: `st-${n}`, statementText: `DELETE FROM orders WHERE id = '?' -- ${n}`,
    statementClass: 'write', policyIds: ['approve-prod-writes'], shape: `DELETE FROM orders WHERE id = $1 -- ${n}`, ...over };
}
function capture() {
  const lines: string[] = [];
  const errs: string[] = [];
  return { lines, errs, io: { out: (l: string) => lines.push(l), err: (l: string) => errs.push(l) } };
}

const audit: ApprovalAuditEvent[] = [];
const desk = createLocalApprovalService({ reviewerGroups: ['dba'], timeoutMs: 60_000, audit: (e) => audit.push(e), reviewBaseUrl: () => consoleUrl });
let running: RunningConsole;
let consoleUrl = '';
let alice = '';

before(async () => {
  running = await startConsole({ host: '127.0.0.1', port: 0, approvals: desk, verifyReviewer });
  consoleUrl = running.url;
  alice = await sign('alice', ['dba']);
});
after(async () => {
  await desk.close();
  await running.close();
});

test('a held statement is listed by the CLI and released by a CLI approval', async () => {
  const events: ApprovalEvent[] = [];
  const pending = await desk.request(input({ agentReason: 'ticket OPS-1' }), (e) => events.push(e));
  assert.match(pending.reviewUrl, new RegExp(`^${consoleUrl}/#approval=`));
  const list = capture();
  assert.equal(await approvalsList({ url: consoleUrl, token: alice }, list.io), 0);
  const text = list.lines.join('\n');
  assert.ok(text.includes(pending.id), 'listed by id');
  assert.ok(text.includes('ticket OPS-1'), 'agent reason shown');
  const ok = capture();
  assert.equal(await approvalsApprove({ url: consoleUrl, token: alice, id: pending.id }, ok.io), 0);
  assert.deepEqual(await pending.outcome, { state: 'approved', reviewer: 'alice', scope: 'once' });
  assert.deepEqual(events.map((e) => e.state), ['pending', 'approved']);
  const again = capture();
  assert.equal(await approvalsDeny({ url: consoleUrl, token: alice, id: pending.id, reason: 'changed my mind' }, again.io), 1);
  assert.match(again.errs.join('\n'), /already approved by alice/);
});

test('a shape approval lets the next statement of that shape through at once; another shape still waits', async () => {
  const shape = 'UPDATE orders SET state = $1 WHERE id = $2';
  const first = await desk.request(input({ shape }));
  const cli = capture();
  assert.equal(await approvalsApprove({ url: consoleUrl, token: alice, id: first.id, scope: 'shape', minutes: 5 }, cli.io), 0);
  assert.match(cli.lines.join(''), /approved for this shape \(5 min\)/);
  await first.outcome;
  const events: ApprovalEvent[] = [];
  const second = await desk.request(input({ shape, sessionId: 'sess-2' }), (e) => events.push(e));
  const outcome = await second.outcome;
  assert.equal(outcome.state, 'approved');
  assert.equal(events[0]?.state, 'approved');
  const other = await desk.request(input({ shape: 'DROP TABLE orders' }));
  assert.equal((await desk.get(other.id))?.state, 'pending');
  await other.cancel('test done');
  assert.equal((await other.outcome).state, 'cancelled');
});

test('deny needs a reason and the held statement gets it', async () => {
  const pending = await desk.request(input());
  const noReason = capture();
  assert.equal(await approvalsDeny({ url: consoleUrl, token: alice, id: pending.id, reason: '' }, noReason.io), 2);
  const res = await fetch(`${consoleUrl}/api/approvals/${pending.id}/deny`, { method: 'POST', headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' }, body: '{}' });
  assert.equal(res.status, 400);
  const cli = capture();
  assert.equal(await approvalsDeny({ url: consoleUrl, token: alice, id: pending.id, reason: 'use a WHERE on tenant' }, cli.io), 0);
  assert.deepEqual(await pending.outcome, { state: 'denied', reviewer: 'alice', reason: 'use a WHERE on tenant' });
});

test('the requester cannot approve their own statement, and the refusal is audited', async () => {
  const pending = await desk.request(input());
  const selfToken = await sign(agent.id, ['dba', 'agents']);
  const cli = capture();
  assert.equal(await approvalsApprove({ url: consoleUrl, token: selfToken, id: pending.id }, cli.io), 1);
  assert.match(cli.errs.join(''), /403.*own request/);
  assert.equal((await desk.get(pending.id))?.state, 'pending');
  assert.ok(audit.some((e) => e.state === 'decision-refused' && e.approvalId === pending.id && e.reviewer === agent.id), 'refusal audited');
  await pending.cancel('test done');
});

test('unauthenticated, forged and non-reviewer callers get nothing, and tokens are never echoed', async () => {
  const pending = await desk.request(input());
  const forged = await sign('mallory', ['dba'], otherKeys.privateKey);
  const devToken = await sign('dave', ['devs']);
  const noAuth = await fetch(`${consoleUrl}/api/approvals`);
  assert.equal(noAuth.status, 401);
  const bad = await fetch(`${consoleUrl}/api/approvals`, { headers: { authorization: `Bearer ${forged}` } });
  assert.equal(bad.status, 401);
  const badBody = await bad.text();
  assert.ok(!badBody.includes(forged.split('.')[2] ?? 'x'), 'signature not echoed');
  const dev = await fetch(`${consoleUrl}/api/approvals/${pending.id}/approve`, { method: 'POST', headers: { authorization: `Bearer ${devToken}`, 'content-type': 'application/json' }, body: '{}' });
  assert.equal(dev.status, 403);
  // A form post (what a cross-site page can send without CORS) is refused before anything happens.
  const form = await fetch(`${consoleUrl}/api/approvals/${pending.id}/approve`, { method: 'POST', headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/x-www-form-urlencoded' }, body: 'scope=once' });
  assert.equal(form.status, 415);
  assert.equal((await desk.get(pending.id))?.state, 'pending');
  const cli = capture();
  assert.equal(await approvalsList({ url: consoleUrl, token: forged }, cli.io), 1);
  assert.ok(!cli.errs.join('').includes(forged), 'CLI does not print the token');
  await pending.cancel('test done');
});

test('an unanswered request expires after the configured timeout', async () => {
  const quick = createLocalApprovalService({ reviewerGroups: ['dba'], timeoutMs: 150 });
  const events: ApprovalEvent[] = [];
  const pending = await quick.request(input(), (e) => events.push(e));
  const outcome = await pending.outcome;
  assert.equal(outcome.state, 'expired');
  assert.deepEqual(events.map((e) => e.state), ['pending', 'expired']);
  assert.deepEqual(await quick.listPending(), []);
});

test('the page is served with a strict CSP and no inline script; unknown routes are 404', async () => {
  const page = await fetch(`${consoleUrl}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  const html = await page.text();
  assert.ok(!/<script>/.test(html), 'no inline script');
  assert.equal((await fetch(`${consoleUrl}/nope`)).status, 404);
  assert.equal((await fetch(`${consoleUrl}/api/approvals`, { method: 'DELETE' })).status, 405);
});

test('every step is an audit event naming requester, target and session', () => {
  const states = new Set(audit.map((e) => e.state));
  for (const s of ['pending', 'approved', 'denied', 'cancelled', 'decision-refused']) assert.ok(states.has(s), `audited ${s}`);
  assert.ok(audit.filter((e) => e.state === 'pending').every((e) => e.requester === agent.id && e.target === 'orders' && e.sessionId), 'context on events');
});
