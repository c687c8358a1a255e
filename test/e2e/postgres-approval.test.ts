// Just-in-time approval end to end: psql sends DDL through the gateway, the statement is held,
// a reviewer clicks approve (or deny) in the console in headless Chromium, and psql finishes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { BrowserContext, Page } from 'playwright-core';
import type { RunningPostgres } from '../support/pg-server.js';
import { REVIEWER, heldPsql as heldPsqlOn, type TestGateway } from '../support/gateway.js';
import { startConsoleGateway, type ConsoleGateway } from '../support/console-gateway.js';
import { SIGNED_IN, signIn } from '../support/console-page.js';
import { approvalsDeny, approvalsList } from '../../fargate-proxy/src/cli/approval-commands.js';

let stack: ConsoleGateway | undefined;
let server: RunningPostgres;
let gw: TestGateway;
let browser: BrowserContext;

before(async () => {
  stack = await startConsoleGateway();
  ({ server, gw, browser } = stack);
});

after(() => stack?.stop());

/** psql through the gateway on one statement that is held for a reviewer. */
const heldPsql = (sql: string, token: string) => heldPsqlOn(gw.conninfo(), sql, token);

async function tableExists(name: string): Promise<boolean> {
  return (await server.psqlDirect(`SELECT to_regclass('public.${name}') IS NOT NULL`, server.database)).trim() === 't';
}

async function signedInPage(token: string): Promise<Page> {
  const page = await signIn(browser, gw.gw.consoleUrl + '/', token);
  await page.waitForSelector(SIGNED_IN);
  return page;
}

test('a held CREATE TABLE runs after a reviewer clicks approve', async () => {
  const held = heldPsql("-- airlock-reason: table for the OPS-42 report\nCREATE TABLE approved_by_click (id int, contact text DEFAULT 'ops.lead@example.com')", await gw.token());
  const id = await held.requestId;
  assert.equal(await tableExists('approved_by_click'), false, 'the statement ran before approval');
  const page = await signedInPage(await gw.token(REVIEWER));
  const row = page.locator(`#approvals tbody tr[data-id="${id}"]`);
  await row.waitFor();
  assert.match((await row.locator('pre').textContent()) ?? '', /CREATE TABLE approved_by_click/);
  assert.match((await row.textContent()) ?? '', /table for the OPS-42 report/, 'the agent’s reason is shown to the reviewer');
  assert.doesNotMatch((await row.textContent()) ?? '', /ops\.lead@example\.com/, 'the reviewer sees sensitive values masked');
  await row.locator('button.approve').click();
  const result = await held.done;
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /CREATE TABLE/);
  assert.equal(await tableExists('approved_by_click'), true);
  await page.close();
});

test('a reviewer signs in at the issuer (authorization code + PKCE) and approves: the decision names the signed-in identity', async () => {
  const held = heldPsql('CREATE TABLE approved_after_sign_in (id int)', await gw.token());
  const id = await held.requestId;
  const page = await browser.newPage();
  const urls: string[] = [];
  page.on('request', (r) => urls.push(r.url()));
  await page.goto(gw.gw.consoleUrl + '/');
  await page.click('#sign-in-oauth');
  // The embedded issuer's login page: a local client id and its secret. A wrong secret signs nobody in.
  await page.waitForSelector('input[name="login"]');
  assert.ok(page.url().startsWith(new URL(gw.gw.tokenEndpoint!).origin), `at the issuer: ${page.url()}`);
  await page.fill('input[name="login"]', REVIEWER.clientId);
  await page.fill('input[name="password"]', 'not-the-secret-0123456789');
  await page.click('button[type="submit"]');
  await page.waitForSelector('#error');
  await page.fill('input[name="login"]', REVIEWER.clientId);
  await page.fill('input[name="password"]', REVIEWER.clientSecret);
  await page.click('button[type="submit"]');
  await page.waitForSelector('#main:not([hidden])');
  assert.equal(await page.textContent('#who'), 'signed in as reviewer');
  assert.equal(new URL(page.url()).search, '', 'the code is gone from the address bar');
  const token = String(await page.evaluate("sessionStorage.getItem('airlock.token')"));
  assert.match(token, /^ey/);
  assert.equal(await page.evaluate('document.cookie'), '', 'the console sets no cookie');
  assert.equal(await page.evaluate("sessionStorage.getItem('airlock.signin')"), null, 'the verifier is dropped once used');

  // The authorization request carried an S256 challenge; the callback carried a code, never a token.
  const authorize = urls.map((u) => new URL(u)).find((u) => u.pathname === '/auth' && u.searchParams.has('code_challenge'))!;
  assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
  assert.ok(urls.some((u) => new URL(u).pathname === '/signin' && new URL(u).searchParams.has('code')));
  for (const u of urls) assert.ok(!u.includes(token), 'no URL carries the access token');

  const row = page.locator(`#approvals tbody tr[data-id="${id}"]`);
  await row.locator('button.approve').click();
  const result = await held.done;
  assert.equal(result.code, 0, result.stderr);
  assert.equal(await tableExists('approved_after_sign_in'), true);
  const view = (await (await fetch(`${gw.gw.consoleUrl}/api/approvals/${id}`, { headers: { authorization: `Bearer ${token}` } })).json()) as { approval: { state: string; reviewer: string } };
  assert.deepEqual([view.approval.state, view.approval.reviewer], ['approved', 'reviewer']);

  // Another local page asking the issuer for a code silently (its own loopback port, no prompt=login)
  // while this browser holds the issuer's session: refused, no code, whatever the session says.
  const issuerOrigin = new URL(gw.gw.tokenEndpoint!).origin;
  const silent = new URL(`${issuerOrigin}/auth`);
  silent.search = new URLSearchParams({ response_type: 'code', client_id: 'airlock-console', redirect_uri: 'http://127.0.0.1:9/signin', scope: 'openid', state: 'S'.repeat(22),
    code_challenge: 'C'.repeat(43), code_challenge_method: 'S256' }).toString();
  const landed = new Promise<string>((resolve) => page.on('request', (r) => { if (r.url().startsWith('http://127.0.0.1:9/')) resolve(r.url()); }));
  await page.goto(silent.href).catch(() => undefined);
  const back = new URL(await landed);
  assert.equal(back.searchParams.get('error'), 'access_denied');
  assert.equal(back.searchParams.get('code'), null);
  await page.close();
});

test('the sign-in callback refuses a code the tab did not ask for, and a code with the wrong verifier', async () => {
  const page = await browser.newPage();
  await page.goto(`${gw.gw.consoleUrl}/signin?code=forged&state=AAAAAAAAAAAAAAAAAAAAAA`);
  await page.waitForSelector('#message.error');
  assert.match((await page.textContent('#message')) ?? '', /not started from this tab/);
  const r = await fetch(`${gw.gw.consoleUrl}/signin/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ callback: 'code=forged', code_verifier: 'x'.repeat(43) }) });
  assert.equal(r.status, 400);
  assert.doesNotMatch(await r.text(), /access_token/);
  await page.close();
});

test('a denial reaches psql as 42501 with the reviewer’s reason, and nothing runs', async () => {
  const held = heldPsql('CREATE TABLE denied_table (id int)', await gw.token());
  const id = await held.requestId;
  const reviewerToken = await gw.token(REVIEWER);
  const lines: string[] = [];
  const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };
  assert.equal(await approvalsList({ url: gw.gw.consoleUrl, token: reviewerToken }, io), 0);
  assert.ok(lines.join('\n').includes(id), 'the CLI lists the pending request');
  assert.equal(await approvalsDeny({ url: gw.gw.consoleUrl, token: reviewerToken, id, reason: 'use a migration' }, io), 0);
  const result = await held.done;
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /approval denied by reviewer: use a migration/);
  assert.equal(await tableExists('denied_table'), false);
});

test('the console answers the load balancer health check', async () => {
  const r = await fetch(`${gw.gw.consoleUrl}/healthz`);
  assert.equal(r.status, 200);
  const body = (await r.json()) as { ok: boolean; policyVersion: string };
  assert.equal(body.ok, true);
  assert.match(body.policyVersion, /^sha256:/);
});

test('an agent that disconnects while held withdraws its request', async () => {
  const held = heldPsql('CREATE TABLE abandoned_table (id int)', await gw.token());
  const id = await held.requestId;
  const reviewerToken = await gw.token(REVIEWER);
  const pendingIds = async () => {
    const lines: string[] = [];
    await approvalsList({ url: gw.gw.consoleUrl, token: reviewerToken, json: true }, { out: (l) => lines.push(l), err: () => undefined });
    return lines.join('\n');
  };
  assert.ok((await pendingIds()).includes(id));
  held.kill();
  await held.done;
  for (let i = 0; i < 100 && (await pendingIds()).includes(id); i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(!(await pendingIds()).includes(id), 'the request is still pending after the agent left');
  assert.equal(await tableExists('abandoned_table'), false);
});

test('a session recorded by the gateway replays in the console: statements, decisions and the rows the agent got', async () => {
  const agentToken = await gw.token();
  const r = spawn('psql', [gw.conninfo(), '-X', '-c', "SELECT 'replay-marker' AS label, 7 AS n", '-c', 'DROP TABLE pg_temp_nothing'], { env: { ...process.env, PGPASSWORD: agentToken } });
  await new Promise((resolve) => r.on('close', resolve));
  await new Promise((resolve) => setTimeout(resolve, 300));
  const page = await signIn(browser, `${gw.gw.consoleUrl}/sessions`, await gw.token(REVIEWER));
  await page.waitForSelector(SIGNED_IN);
  await page.fill('#f-principal', 'agent-1');
  await page.click('#apply');
  const first = page.locator('#sessions tbody tr').first();
  await first.waitFor();
  await first.click();
  await page.waitForSelector('#replay:not([hidden])');
  const timeline = (await page.locator('#timeline').textContent()) ?? '';
  assert.match(timeline, /SELECT '\*\*\*' AS label/, 'the statement is shown with its literals masked');
  assert.match(timeline, /DROP TABLE pg_temp_nothing/);
  assert.match(timeline, /DENY by no-destructive/);
  const rows = page.locator('#timeline td.response table.rows');
  assert.deepEqual(await rows.first().locator('th').allTextContents(), ['label', 'n']);
  assert.deepEqual(await rows.first().locator('tbody tr').first().locator('td').allTextContents(), ['replay-marker', '7']);
  await page.close();
});
