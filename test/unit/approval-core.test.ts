import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Principal, TargetInfo } from '../../core/model.js';
import {
  MemoryApprovalStore,
  decideApproval,
  escapeHtml,
  expireApproval,
  findStandingGrant,
  grantKeysFor,
  newApprovalRecord,
  outcomeOf,
  parseDecision,
} from '../../core/approval/index.js';
import type { ApprovalRequestInput } from '../../core/approval/index.js';

const agent: Principal = { id: 'agent-1', groups: ['agents'], issuer: 'https://idp.test', tokenId: 'jti-1' };
const alice: Principal = { id: 'alice', groups: ['dba'], issuer: 'https://idp.test' };
const target: TargetInfo = { name: 'orders', kind: 'postgres', environment: 'production', tags: {} };
const input: ApprovalRequestInput = {
  requester: agent, target, sessionId: 's1', statementId: 'st1', statementText: "DELETE FROM t WHERE id = '?'",
  statementClass: 'write', policyIds: ['p-approve'], shape: 'DELETE FROM t WHERE id = $1', agentReason: 'cleanup ticket 42',
};
const groups = ['dba'];

async function pending(store = new MemoryApprovalStore(), now = 1_000_000) {
  const record = newApprovalRecord('a1', input, now, 60_000);
  await store.create(record);
  return { store, record };
}

test('a new record is pending, keeps what reviewers need and drops the token id', async () => {
  const { record } = await pending();
  assert.equal(record.state, 'pending');
  assert.equal(record.expiresAt, 1_060_000);
  assert.equal(record.agentReason, 'cleanup ticket 42');
  assert.equal('tokenId' in record.requester, false);
  assert.equal(outcomeOf(record), undefined);
});

test('parseDecision validates untrusted input', () => {
  assert.deepEqual(parseDecision({ verdict: 'approve' }), { ok: true, decision: { verdict: 'approve', scope: 'once' } });
  assert.deepEqual(parseDecision({ verdict: 'approve', scope: 'shape' }), { ok: true, decision: { verdict: 'approve', scope: 'shape', minutes: 15 } });
  assert.equal(parseDecision({ verdict: 'deny' }).ok, false, 'deny needs a reason');
  assert.equal(parseDecision({ verdict: 'deny', reason: '   ' }).ok, false);
  assert.equal(parseDecision({ verdict: 'approve', scope: 'forever' }).ok, false);
  assert.equal(parseDecision({ verdict: 'approve', scope: 'session', minutes: 0 }).ok, false);
  assert.equal(parseDecision({ verdict: 'approve', scope: 'session', minutes: 1441 }).ok, false);
  assert.equal(parseDecision({ verdict: 'approve', scope: 'session', minutes: 2.5 }).ok, false);
  assert.equal(parseDecision({ verdict: 'deny', reason: 'x'.repeat(501) }).ok, false);
  assert.equal(parseDecision('approve').ok, false);
});

test('the requester cannot approve their own request, even when in a reviewer group', async () => {
  const { store } = await pending();
  const self: Principal = { ...agent, groups: ['dba'] };
  const r = await decideApproval(store, { id: 'a1', reviewer: self, decision: { verdict: 'approve', scope: 'once' }, reviewerGroups: groups, now: 1_000_001 });
  assert.deepEqual(r.ok ? 'ok' : r.status, 'forbidden');
  assert.equal((await store.get('a1'))?.state, 'pending');
});

test('only reviewer-group members may decide; an empty group list lets nobody decide', async () => {
  const { store } = await pending();
  const bob: Principal = { id: 'bob', groups: ['devs'], issuer: 'https://idp.test' };
  const r1 = await decideApproval(store, { id: 'a1', reviewer: bob, decision: { verdict: 'approve', scope: 'once' }, reviewerGroups: groups });
  assert.equal(r1.ok, false);
  const r2 = await decideApproval(store, { id: 'a1', reviewer: alice, decision: { verdict: 'approve', scope: 'once' }, reviewerGroups: [] });
  assert.equal(r2.ok, false);
  const r3 = await decideApproval(store, { id: 'nope', reviewer: alice, decision: { verdict: 'approve', scope: 'once' }, reviewerGroups: groups });
  assert.deepEqual(r3.ok ? 'ok' : r3.status, 'not-found');
});

test('the first decision wins and repeats see the stored outcome', async () => {
  const { store } = await pending();
  const carol: Principal = { id: 'carol', groups: ['dba'], issuer: 'https://idp.test' };
  const [a, b] = await Promise.all([
    decideApproval(store, { id: 'a1', reviewer: alice, decision: { verdict: 'deny', reason: 'not today' }, reviewerGroups: groups, now: 1_000_010 }),
    decideApproval(store, { id: 'a1', reviewer: carol, decision: { verdict: 'approve', scope: 'once' }, reviewerGroups: groups, now: 1_000_010 }),
  ]);
  assert.ok(a.ok && b.ok, 'both decisions accepted');
  assert.equal([a.first, b.first].filter(Boolean).length, 1);
  const stored = await store.get('a1');
  assert.ok(stored, 'stored');
  assert.deepEqual(a.record, stored);
  assert.deepEqual(b.record, stored);
  assert.deepEqual(outcomeOf(stored), { state: 'denied', reviewer: 'alice', reason: 'not today' });
});

test('a decision after the deadline finds the request expired', async () => {
  const { store } = await pending();
  const r = await decideApproval(store, { id: 'a1', reviewer: alice, decision: { verdict: 'approve', scope: 'once' }, reviewerGroups: groups, now: 1_060_000 });
  assert.ok(r.ok, 'decision accepted');
  assert.equal(r.first, false);
  assert.equal(r.record.state, 'expired');
  assert.equal((await expireApproval(store, 'a1'))?.state, 'expired');
});

test('a shape approval leaves a grant for the same requester, target and shape only, for N minutes', async () => {
  const { store } = await pending(new MemoryApprovalStore(), 2_000_000);
  const r = await decideApproval(store, { id: 'a1', reviewer: alice, decision: { verdict: 'approve', scope: 'shape', minutes: 10 }, reviewerGroups: groups, now: 2_000_000 });
  assert.ok(r.ok && r.first, 'first decision');
  assert.deepEqual(outcomeOf(r.record), { state: 'approved', reviewer: 'alice', scope: 'shape' });
  const get = (k: string) => store.getGrant(k);
  const sameShapeOtherSession = { ...input, sessionId: 's2' };
  assert.equal((await findStandingGrant(get, sameShapeOtherSession, 2_000_000 + 9 * 60_000))?.approvalId, 'a1');
  assert.equal(await findStandingGrant(get, sameShapeOtherSession, 2_000_000 + 10 * 60_000), undefined, 'expired after N minutes');
  assert.equal(await findStandingGrant(get, { ...input, shape: 'DROP TABLE t' }, 2_000_001), undefined);
  assert.equal(await findStandingGrant(get, { ...input, requester: { ...agent, id: 'agent-2' } }, 2_000_001), undefined);
  assert.equal(await findStandingGrant(get, { ...input, target: { ...target, name: 'billing' } }, 2_000_001), undefined);
});

test('a session approval covers other shapes in the same session only', async () => {
  const { store } = await pending(new MemoryApprovalStore(), 3_000_000);
  await decideApproval(store, { id: 'a1', reviewer: alice, decision: { verdict: 'approve', scope: 'session', minutes: 5 }, reviewerGroups: groups, now: 3_000_000 });
  const get = (k: string) => store.getGrant(k);
  assert.equal((await findStandingGrant(get, { ...input, shape: 'UPDATE t SET x = $1' }, 3_000_001))?.scope, 'session');
  assert.equal(await findStandingGrant(get, { ...input, sessionId: 'other' }, 3_000_001), undefined);
  const keys = grantKeysFor(input);
  assert.notEqual(keys.shape, keys.session);
});

test('an approve-once or a denial leaves no grant', async () => {
  const { store } = await pending();
  await decideApproval(store, { id: 'a1', reviewer: alice, decision: { verdict: 'approve', scope: 'once' }, reviewerGroups: groups });
  assert.equal(await findStandingGrant((k) => store.getGrant(k), input, Date.now()), undefined);
});

test('escapeHtml neutralises markup', () => {
  assert.equal(escapeHtml(`<img src=x onerror="alert('1')">&`), '&lt;img src=x onerror=&quot;alert(&#39;1&#39;)&quot;&gt;&amp;');
});
