// The console's tasks page in headless Chromium against the real gateway: an agent's write task waits
// for a reviewer, who finds it on /tasks, approves it there (the agent then gets its task token),
// and closes it with a reason (the token stops working). Agent-written text stays text.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { BrowserContext } from 'playwright-core';
import { REVIEWER, psql, type TestGateway } from '../support/gateway.js';
import { startConsoleGateway, type ConsoleGateway } from '../support/console-gateway.js';
import { signIn } from '../support/console-page.js';

const POLICY = `
@id("agents-connect")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"connect", resource);
@id("agents-read")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"read", resource);
@id("write-tasks-need-a-reviewer")
@approval("required")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"task_open", resource)
when { context.write };
`;
const HOSTILE_TITLE = 'fix <img src=x onerror="window.__pwned=1"> invoice';

let stack: ConsoleGateway | undefined;
let gw: TestGateway;
let browser: BrowserContext;

before(async () => {
  stack = await startConsoleGateway({ policy: POLICY });
  ({ gw, browser } = stack);
});

after(() => stack?.stop());

async function asAgent(method: string, path: string, body?: unknown): Promise<any> {
  const r = await fetch(`${gw.gw.consoleUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${await gw.token()}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return r.json();
}

test('a reviewer approves a waiting task on /tasks, then closes it; the agent\'s task token works only in between', async () => {
  const opened = await asAgent('POST', '/api/tasks', { title: HOSTILE_TITLE, ticket: 'OPS-7', targets: ['app'], scope: ['write:orders'], durationSeconds: 600, reason: 'refund' });
  assert.equal(opened.state, 'pending', JSON.stringify(opened));
  const id: string = opened.task.id;

  const page = await signIn(browser, `${gw.gw.consoleUrl}/tasks`, await gw.token(REVIEWER));
  const row = page.locator(`#tasks tbody tr[data-id="${id}"]`);
  await row.waitFor();
  assert.equal(await row.locator('td').first().textContent(), HOSTILE_TITLE, 'the agent\'s title is text');
  assert.equal(await row.locator('td.status').textContent(), 'pending');
  assert.equal(await page.evaluate('window.__pwned'), undefined);
  assert.equal(await page.locator('#tasks img').count(), 0);

  await row.locator('button.open').click();
  await page.waitForSelector('#task:not([hidden])');
  assert.match((await page.textContent('#task-facts')) ?? '', /write:public\.orders/);
  await page.click('#task-approve');
  await page.waitForSelector(`#task-title:text("(active)")`);
  const shown = await asAgent('GET', `/api/tasks/${id}`);
  assert.equal(shown.task.grantedBy, 'reviewer');
  const taskToken: string = shown.token;
  assert.equal((await psql(gw.conninfo(), ['-X', '-A', '-t', '-c', 'SELECT 41 + 1'], { token: taskToken })).stdout.trim(), '42', 'the granted task token opens a session');

  await page.fill('#task-close-reason', 'invoice fixed');
  await page.click('#task-close');
  await page.waitForSelector(`#task-title:text("(closed)")`);
  assert.match((await page.textContent('#task-facts')) ?? '', /by reviewer: invoice fixed/);
  // What the task did, and where it was counted (one gateway: here); the statement the token ran is in it.
  assert.match((await page.textContent('#task-facts')) ?? '', /statements 1, .* — counted by this gateway/);
  const refused = await psql(gw.conninfo(), ['-X', '-c', 'SELECT 1'], { token: taskToken });
  assert.notEqual(refused.code, 0, 'a closed task\'s token no longer opens sessions');
  await page.close();
});
