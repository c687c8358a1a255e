// The local console in a real headless Chromium: sign in with a real ES256 token, see pending
// requests (hostile statement text stays text), approve for a session, deny with a reason.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchHeadlessChromium, type HeadlessBrowser } from '../support/browser.js';
import { SIGNED_IN, signIn } from '../support/console-page.js';
import { reviewerIssuer } from '../support/reviewer-tokens.js';
import type { BrowserContext, Page } from 'playwright-core';
import type { Principal, TargetInfo } from '../../core/model.js';
import type { ApprovalRequestInput } from '../../core/approval/index.js';
import { createLocalApprovalService } from '../../fargate-proxy/src/adapters/local/approval-service.js';
import { startConsole } from '../../fargate-proxy/src/console/server.js';
import type { RunningConsole } from '../../fargate-proxy/src/console/server.js';

const ISSUER = 'https://idp.console.test';
const { sign, verify: verifyReviewer } = await reviewerIssuer(ISSUER);

const agent: Principal = { id: 'agent-9', groups: ['agents'], issuer: ISSUER };
const target: TargetInfo = { name: 'orders', kind: 'postgres', environment: 'production', tags: {} };
const HOSTILE = `SELECT '</pre><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'`;
let n = 0;
const input = (over: Partial<ApprovalRequestInput> = {}): ApprovalRequestInput => ({
  requester: agent, target, sessionId: 'sess-e2e', statementId: `st-${++n}`, statementText: `UPDATE orders SET x = 1 -- ${n}`,
  statementClass: 'write', policyIds: ['approve-prod-writes'], shape: `shape-${n}`, ...over,
});

const desk = createLocalApprovalService({ reviewerGroups: ['dba'], timeoutMs: 120_000 });
let consoleServer: RunningConsole;
let browser: BrowserContext;
let headless: HeadlessBrowser | undefined;

before(async () => {
  consoleServer = await startConsole({ host: '127.0.0.1', port: 0, approvals: desk, verifyReviewer });
  headless = await launchHeadlessChromium();
  browser = headless.context;
});
after(async () => {
  await headless?.close();
  await desk.close();
  await consoleServer?.close();
});

async function signedInPage(token: string): Promise<Page> {
  const page = await signIn(browser, consoleServer.url + '/', token);
  await page.waitForSelector(SIGNED_IN);
  return page;
}

function row(page: Page, id: string) {
  return page.locator(`#approvals tbody tr[data-id="${id}"]`);
}

test('a reviewer sees the pending request, hostile text stays inert, and approves it for the session', async () => {
  const hostile = await desk.request(input({ statementText: HOSTILE, agentReason: '<b>urgent</b>' }));
  const page = await signedInPage(await sign('alice', ['dba']));
  await row(page, hostile.id).waitFor();
  assert.equal(await page.textContent('#who'), 'signed in as alice');
  assert.equal(await row(page, hostile.id).locator('pre').textContent(), HOSTILE);
  assert.equal(await row(page, hostile.id).locator('td').nth(5).textContent(), '<b>urgent</b>');
  assert.equal(await page.evaluate('window.__pwned'), undefined);
  assert.equal(await page.locator('#approvals img, #approvals script, #approvals b').count(), 0);
  // The token lives in session storage, not in a cookie.
  assert.equal(await page.evaluate('document.cookie'), '');

  await row(page, hostile.id).locator('select.scope').selectOption('session');
  await row(page, hostile.id).locator('input.minutes').fill('10');
  await row(page, hostile.id).locator('button.approve').click();
  assert.deepEqual(await hostile.outcome, { state: 'approved', reviewer: 'alice', scope: 'session' });
  await page.waitForSelector(`#message:text("Request ${hostile.id} approved.")`);
  await row(page, hostile.id).waitFor({ state: 'detached' });
  assert.equal((await desk.get(hostile.id))?.scopeMinutes, 10);
  // The session grant now covers another statement of the same session.
  assert.equal((await (await desk.request(input())).outcome).state, 'approved');
  await page.close();
});

test('a reviewer denies with a reason; a denial without one is refused on the page', async () => {
  const pending = await desk.request(input({ sessionId: 'sess-other' }));
  const page = await signedInPage(await sign('bob', ['dba']));
  await row(page, pending.id).locator('button.deny').click();
  await page.waitForSelector('#message.error:text("a denial needs a reason")');
  await row(page, pending.id).locator('input.reason').fill('not during business hours');
  // A new request shows up by itself (the page refreshes), and the half-typed reason survives it.
  const later = await desk.request(input({ sessionId: 'sess-later' }));
  await row(page, later.id).waitFor({ timeout: 15_000 });
  assert.equal(await row(page, pending.id).locator('input.reason').inputValue(), 'not during business hours');
  await row(page, pending.id).locator('button.deny').click();
  assert.deepEqual(await pending.outcome, { state: 'denied', reviewer: 'bob', reason: 'not during business hours' });
  await later.cancel('test done');
  await page.close();
});

test('the requester signed in as a reviewer is refused on the page', async () => {
  const pending = await desk.request(input({ sessionId: 'sess-self' }));
  const page = await signedInPage(await sign(agent.id, ['dba']));
  await row(page, pending.id).locator('button.approve').click();
  await page.waitForSelector('#message.error:text("own request")');
  assert.equal((await desk.get(pending.id))?.state, 'pending');
  await pending.cancel('test done');
  await page.close();
});
