import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verifySlackSignature } from '../../lambdas/shared/slack-signature.js';
import { parseSlackAction } from '../../lambdas/shared/slack-messages.js';

// Slack's published example ("Verifying requests from Slack").
const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const TS = '1531420618';
const BODY =
  'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
const SIG = 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503';
const at = Number(TS) + 10;

test("Slack's published vector verifies", () => {
  assert.equal(verifySlackSignature({ signingSecret: SECRET, timestamp: TS, signature: SIG, rawBody: BODY, nowSeconds: at }), true);
});

test('a tampered body, wrong secret, malformed or missing signature is refused', () => {
  assert.equal(verifySlackSignature({ signingSecret: SECRET, timestamp: TS, signature: SIG, rawBody: BODY + 'x', nowSeconds: at }), false);
  assert.equal(verifySlackSignature({ signingSecret: SECRET + 'x', timestamp: TS, signature: SIG, rawBody: BODY, nowSeconds: at }), false);
  assert.equal(verifySlackSignature({ signingSecret: SECRET, timestamp: TS, signature: SIG.slice(0, -1), rawBody: BODY, nowSeconds: at }), false);
  assert.equal(verifySlackSignature({ signingSecret: SECRET, timestamp: TS, signature: undefined, rawBody: BODY, nowSeconds: at }), false);
  assert.equal(verifySlackSignature({ signingSecret: SECRET, timestamp: 'abc', signature: SIG, rawBody: BODY, nowSeconds: at }), false);
});

test('a request outside the five-minute window is refused even with a valid signature', () => {
  assert.equal(verifySlackSignature({ signingSecret: SECRET, timestamp: TS, signature: SIG, rawBody: BODY, nowSeconds: Number(TS) + 301 }), false);
  assert.equal(verifySlackSignature({ signingSecret: SECRET, timestamp: TS, signature: SIG, rawBody: BODY, nowSeconds: Number(TS) - 301 }), false);
  assert.equal(verifySlackSignature({ signingSecret: SECRET, timestamp: TS, signature: SIG, rawBody: BODY, nowSeconds: Number(TS) + 300 }), true);
});

test('button payloads parse into decisions; foreign or malformed payloads do not', () => {
  const payload = (value: unknown) => JSON.stringify({ type: 'block_actions', user: { id: 'U1' }, actions: [{ value: JSON.stringify(value) }], response_url: 'https://hooks.slack.com/x' });
  assert.deepEqual(parseSlackAction(payload({ id: 'r1', verdict: 'approve', scope: 'shape', minutes: 15 })), {
    requestId: 'r1', decision: { verdict: 'approve', scope: 'shape', minutes: 15 }, slackUserId: 'U1', responseUrl: 'https://hooks.slack.com/x',
  });
  assert.equal(parseSlackAction(payload({ id: 'r1', verdict: 'deny' }))?.decision.verdict, 'deny');
  assert.equal(parseSlackAction(payload({ id: 'r1', verdict: 'approve', scope: 'forever' })), undefined);
  assert.equal(parseSlackAction(payload({ verdict: 'approve' })), undefined);
  assert.equal(parseSlackAction('not json'), undefined);
  assert.equal(parseSlackAction(JSON.stringify({ type: 'view_submission' })), undefined);
});
