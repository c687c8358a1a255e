import { test } from 'node:test';
import assert from 'node:assert/strict';
import { agentReasonFrom } from '../../core/approval/agent-reason.js';

test('the reason an agent gives in a comment is found; none is invented', () => {
  assert.equal(agentReasonFrom('-- airlock-reason: add index for OPS-42\nCREATE INDEX i ON t (a)'), 'add index for OPS-42');
  assert.equal(agentReasonFrom('CREATE TABLE x (id int) /* airlock-reason: scratch table for the report */'), 'scratch table for the report');
  assert.equal(agentReasonFrom('sudo systemctl restart nginx # airlock-reason: config change OPS-7'), 'config change OPS-7');
  assert.equal(agentReasonFrom('CREATE TABLE x (id int)'), undefined);
  assert.equal(agentReasonFrom('-- airlock-reason:   \nDROP TABLE t'), undefined);
  assert.equal(agentReasonFrom(`-- airlock-reason: ${'x'.repeat(2000)}`)?.length, 500);
});
