// Refusals become MCP tool errors with the code the gateway sent: the `airlock: code=…` line of the
// refusal contract (core/refusal.ts, rendered by refusalDetail) is read back exactly, for every
// code and every `next` field; answers without it are read from their words.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { REFUSAL_CODES, refusalDetail, refusalHint, type Refusal } from '../../core/refusal.js';
import { httpFailure, postgresFailure, sshFailure, toolError } from '../../fargate-proxy/src/mcp/refusals.js';

const word = fc.stringMatching(/^[A-Za-z0-9_.-]{1,24}$/);
const refusal = fc.record<Refusal>({
  code: fc.constantFrom(...REFUSAL_CODES),
  message: fc.constant('refused'),
  next: fc.record(
    {
      taskId: word,
      budget: fc.constantFrom('statements', 'rowsAffected', 'bytesRead'),
      approvalId: word,
      taskScope: fc.array(fc.stringMatching(/^(read|write)(:[a-z_.]{1,20})?$/), { minLength: 1, maxLength: 3 }),
      retryAfterSeconds: fc.integer({ min: 0, max: 3600 }),
    },
    { requiredKeys: [] },
  ),
});

test('the code and next of refusalDetail come back from a PostgreSQL DETAIL and from SSH stderr', () => {
  fc.assert(
    fc.property(refusal, (r) => {
      const pgErr = postgresFailure({ message: 'Airlock refused this write statement: over budget', code: '42501', detail: `${refusalDetail(r)}; policy: p1`, hint: refusalHint(r) });
      assert.equal(pgErr.code, r.code);
      assert.deepEqual(pgErr.next, { ...r.next });
      const sshErr = sshFailure(`airlock: refused: over budget\n${refusalDetail(r)}\n`, 126);
      assert.equal(sshErr.code, r.code);
      assert.deepEqual(sshErr.next, { ...r.next });
      assert.equal(sshErr.message, 'airlock: refused: over budget');
    }),
  );
});

test('answers without a code line are read from their words', () => {
  assert.equal(postgresFailure({ message: 'Airlock refused this destructive statement: no', code: '42501', detail: 'policy: x' }).code, 'policy_denied');
  const denied = postgresFailure({ message: 'Airlock refused this ddl statement: approval denied by rev: not now', code: '42501', detail: 'approval request ap_123456; policy p' });
  assert.equal(denied.code, 'approval_denied');
  assert.equal(denied.next?.approvalId, 'ap_123456');
  assert.equal(postgresFailure({ message: 'Airlock refused the statement: the audit trail cannot accept events (disk)', code: '58000' }).code, 'audit_unavailable');
  assert.equal(postgresFailure({ message: 'relation "nope" does not exist', code: '42P01' }).code, 'database_error');
  assert.equal(sshFailure('airlock: refused: approval expired: timed out (request ap_999999)\n', 126).code, 'approval_denied');
  assert.equal(sshFailure('airlock: refused: this command is not allowed\n', 126).code, 'policy_denied');
});

test('problem+json codes pass through; approval_pending is approval_required with the approval', () => {
  const f = httpFailure(503, { code: 'approval_pending', title: 'Waiting for a reviewer', approvalId: 'ap_1', reviewUrl: 'http://r/#approval=ap_1', retryAfter: 5 });
  assert.equal(f.code, 'approval_required');
  assert.deepEqual(f.next, { approvalId: 'ap_1', reviewUrl: 'http://r/#approval=ap_1', retryAfterSeconds: 5 });
  assert.equal(httpFailure(403, { code: 'policy_denied', title: 'Refused by policy' }).code, 'policy_denied');
  assert.equal(httpFailure(500, {}).code, 'http_500');
});

test('a tool error carries the code, the message, next and the hint for refusal codes only', () => {
  const r = toolError({ code: 'budget_exceeded', message: 'm', next: { budget: 'rowsAffected' } });
  assert.equal(r.isError, true);
  const e = (r.structuredContent as { error: { code: string; hint?: string; next?: unknown } }).error;
  assert.equal(e.code, 'budget_exceeded');
  assert.match(e.hint!, /rowsAffected budget/);
  assert.deepEqual(JSON.parse((r.content[0] as { text: string }).text), { error: e });
  assert.equal((toolError({ code: 'token_invalid', message: 'm' }).structuredContent as { error: { hint?: string } }).error.hint, undefined);
});
