// The sessions console in a real headless Chromium over a real audit trail (written by the local
// sink, read back by the local reader): list and filter sessions, replay one with its denied
// statement, its approval and the PostgreSQL rows the agent received, decoded from wire bytes.
// Hostile statement text and result cells stay text; non-viewers get nothing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchHeadlessChromium, type HeadlessBrowser } from '../support/browser.js';
import { signIn } from '../support/console-page.js';
import { reviewerIssuer } from '../support/reviewer-tokens.js';
import type { BrowserContext, Page } from 'playwright-core';
import type { AuditEventInput, AuditRecord } from '../../core/audit/events.js';
import { newAuditSessionId } from '../../core/audit/events.js';
import { ResponseCapture } from '../../core/audit/response-capture.js';
import { createLocalAuditSink } from '../../fargate-proxy/src/adapters/local/audit-file-sink.js';
import type { LocalAuditSink } from '../../fargate-proxy/src/adapters/local/audit-file-sink.js';
import { createLocalAuditReader } from '../../fargate-proxy/src/adapters/local/audit-file-reader.js';
import { editJournals } from '../support/audit-journal.js';
import { createLocalApprovalService } from '../../fargate-proxy/src/adapters/local/approval-service.js';
import { startConsole } from '../../fargate-proxy/src/console/server.js';
import type { RunningConsole } from '../../fargate-proxy/src/console/server.js';
import { sessionRoutes } from '../../fargate-proxy/src/console/sessions-routes.js';

const ISSUER = 'https://idp.sessions.test';
const { sign, verify: verifyViewer } = await reviewerIssuer(ISSUER);

// --- PostgreSQL backend messages, built by hand (pg-protocol serialises frontend messages only) ---
function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}
const cstr = (s: string) => Buffer.from(`${s}\0`, 'utf8');
function rowDescription(columns: Array<{ name: string; typeOid: number }>): Buffer {
  const count = Buffer.alloc(2);
  count.writeInt16BE(columns.length);
  const fields = columns.map((c, i) => {
    const meta = Buffer.alloc(18);
    meta.writeInt32BE(16384, 0); // table oid
    meta.writeInt16BE(i + 1, 4); // column number
    meta.writeInt32BE(c.typeOid, 6);
    meta.writeInt16BE(-1, 10); // type size
    meta.writeInt32BE(-1, 12); // type modifier
    meta.writeInt16BE(0, 16); // text format
    return Buffer.concat([cstr(c.name), meta]);
  });
  return message('T', Buffer.concat([count, ...fields]));
}
function dataRow(cells: Array<string | null>): Buffer {
  const count = Buffer.alloc(2);
  count.writeInt16BE(cells.length);
  const parts = cells.map((c) => {
    const len = Buffer.alloc(4);
    if (c === null) {
      len.writeInt32BE(-1);
      return len;
    }
    const bytes = Buffer.from(c, 'utf8');
    len.writeInt32BE(bytes.length);
    return Buffer.concat([len, bytes]);
  });
  return message('D', Buffer.concat([count, ...parts]));
}
const commandComplete = (tag: string) => message('C', cstr(tag));
const readyForQuery = () => message('Z', Buffer.from('I'));
const errorResponse = (code: string, text: string) =>
  message('E', Buffer.concat([Buffer.from('SERROR\0', 'utf8'), Buffer.from(`C${code}\0`, 'utf8'), Buffer.from(`M${text}\0`, 'utf8'), Buffer.from([0])]));

const HOSTILE_STATEMENT = `SELECT 1 AS "</pre><script>window.__pwned=1</script><img src=x onerror=window.__pwned=2>"`;
const HOSTILE_COLUMN = '<img src=x onerror="window.__pwned=3">';
const HOSTILE_CELL = '</td><script>window.__pwned=4</script>';

const agent = { id: 'agent-7', groups: ['agents'], issuer: ISSUER, tokenId: 'jti-123' };
const client = { address: '10.0.0.7', port: 51515 };
const sessionA = newAuditSessionId(new Date('2026-03-01T10:00:00Z'));
const sessionB = newAuditSessionId(new Date('2026-01-15T09:00:00Z'));
const sessionC = newAuditSessionId(new Date('2026-02-01T08:00:00Z'));
const decision = (effect: 'allow' | 'deny' | 'approve', policyIds: string[], reason: string) => ({ effect, policyIds, policyVersion: 'v42', reason });

let dir: string;
let sink: LocalAuditSink;
let consoleServer: RunningConsole;
let browser: BrowserContext;
let headless: HeadlessBrowser | undefined;
const desk = createLocalApprovalService({ reviewerGroups: ['dba'], timeoutMs: 60_000 });

async function writeTrail(): Promise<void> {
  const at = (iso: string) => ({ at: iso });
  const append = (e: AuditEventInput) => sink.append(e);
  const captured = (pieces: Buffer[]) => {
    const cap = sink.newResponseCapture();
    for (const p of pieces) cap.add(p);
    return cap.finish();
  };

  // Session A: a read with masked rows, a denied DELETE, an approved UPDATE, a hostile statement.
  await append({ sessionId: sessionA, ...at('2026-03-01T10:00:00.000Z'), type: 'session.start', principal: agent, target: 'orders', targetKind: 'postgres', client, protocol: 'postgres' });
  const rows = [
    rowDescription([{ name: 'id', typeOid: 23 }, { name: 'email', typeOid: 25 }, { name: 'note', typeOid: 25 }]),
    dataRow(['1', 'a***@example.com', null]),
    dataRow(['2', 'b***@example.com', 'vip']),
    commandComplete('SELECT 2'),
    readyForQuery(),
  ];
  await append({
    sessionId: sessionA, ...at('2026-03-01T10:00:01.000Z'), type: 'statement', statementId: 'st-1', text: 'SELECT id, email, note FROM customers WHERE id < 3',
    class: 'read', statementTypes: ['SelectStmt'], tables: ['customers'], functions: [], decision: decision('allow', ['permit-reads'], 'reads are allowed'),
  });
  await append({
    sessionId: sessionA, ...at('2026-03-01T10:00:01.020Z'), type: 'statement.outcome', statementId: 'st-1', status: 'ok', rows: 2, bytes: 120, durationMs: 20,
    masking: { counts: { email: 2 }, total: 2 }, response: captured(rows),
  });
  await append({
    sessionId: sessionA, ...at('2026-03-01T10:00:02.000Z'), type: 'statement', statementId: 'st-2', text: 'DELETE FROM customers',
    class: 'destructive', statementTypes: ['DeleteStmt'], tables: ['customers'], functions: [], decision: decision('deny', ['forbid-delete-without-where'], 'DELETE without WHERE is forbidden'),
  });
  await append({
    sessionId: sessionA, ...at('2026-03-01T10:00:03.000Z'), type: 'statement', statementId: 'st-3', text: `UPDATE orders SET status = 'shipped' WHERE id = 7`,
    class: 'write', statementTypes: ['UpdateStmt'], tables: ['orders'], functions: [], decision: decision('approve', ['approve-prod-writes'], 'writes to production need approval'), approvalId: 'ap-1',
  });
  await append({ sessionId: sessionA, ...at('2026-03-01T10:00:03.010Z'), type: 'approval', statementId: 'st-3', approvalId: 'ap-1', state: 'pending' });
  await append({ sessionId: sessionA, ...at('2026-03-01T10:00:40.000Z'), type: 'approval', statementId: 'st-3', approvalId: 'ap-1', state: 'approved', reviewer: 'dba-bob', reason: 'ticket OPS-12' });
  await append({
    sessionId: sessionA, ...at('2026-03-01T10:00:40.030Z'), type: 'statement.outcome', statementId: 'st-3', status: 'ok', rows: 1, bytes: 30, durationMs: 30,
    response: captured([commandComplete('UPDATE 1'), readyForQuery()]),
  });
  await append({
    sessionId: sessionA, ...at('2026-03-01T10:00:41.000Z'), type: 'statement', statementId: 'st-4', text: HOSTILE_STATEMENT,
    class: 'read', statementTypes: ['SelectStmt'], tables: [], functions: [], decision: decision('allow', ['permit-reads'], 'reads are allowed'),
  });
  await append({
    sessionId: sessionA, ...at('2026-03-01T10:00:41.010Z'), type: 'statement.outcome', statementId: 'st-4', status: 'ok', rows: 1, bytes: 80, durationMs: 10,
    response: captured([rowDescription([{ name: HOSTILE_COLUMN, typeOid: 25 }]), dataRow([HOSTILE_CELL]), commandComplete('SELECT 1'), readyForQuery()]),
  });
  await append({ sessionId: sessionA, ...at('2026-03-01T10:01:00.000Z'), type: 'session.end', reason: 'client closed', statements: 4, bytesIn: 400, bytesOut: 900, durationMs: 60_000 });

  // Session B: another principal and target; an error result and a response that is not PostgreSQL.
  await append({ sessionId: sessionB, ...at('2026-01-15T09:00:00.000Z'), type: 'session.start', principal: { id: 'report-bot', groups: ['agents'], issuer: ISSUER }, target: 'billing', targetKind: 'postgres', client, protocol: 'postgres' });
  await append({
    sessionId: sessionB, ...at('2026-01-15T09:00:01.000Z'), type: 'statement', statementId: 'st-1', text: 'SELECT * FROM invoicez',
    class: 'read', statementTypes: ['SelectStmt'], tables: ['invoicez'], functions: [], decision: decision('allow', ['permit-reads'], 'reads are allowed'),
  });
  await append({
    sessionId: sessionB, ...at('2026-01-15T09:00:01.005Z'), type: 'statement.outcome', statementId: 'st-1', status: 'error', bytes: 60, durationMs: 5,
    error: { code: '42P01', message: 'relation "invoicez" does not exist' }, response: captured([errorResponse('42P01', 'relation "invoicez" does not exist'), readyForQuery()]),
  });
  await append({
    sessionId: sessionB, ...at('2026-01-15T09:00:02.000Z'), type: 'statement', statementId: 'st-2', text: 'SELECT 2',
    class: 'read', statementTypes: ['SelectStmt'], tables: [], functions: [], decision: decision('allow', ['permit-reads'], 'reads are allowed'),
  });
  await append({
    sessionId: sessionB, ...at('2026-01-15T09:00:02.005Z'), type: 'statement.outcome', statementId: 'st-2', status: 'ok', bytes: 6, durationMs: 5,
    response: captured([Buffer.from([0x00, 0x01, 0x3c, 0x62, 0x3e, 0xff])]),
  });
  // A capture cut at its cap mid-message (the gateway's capture, with a small cap).
  const small = new ResponseCapture(45);
  for (const p of [rowDescription([{ name: 'n', typeOid: 23 }]), dataRow(['42']), dataRow(['43']), commandComplete('SELECT 2')]) small.add(p);
  await append({
    sessionId: sessionB, ...at('2026-01-15T09:00:02.500Z'), type: 'statement', statementId: 'st-3', text: 'SELECT n FROM numbers',
    class: 'read', statementTypes: ['SelectStmt'], tables: ['numbers'], functions: [], decision: decision('allow', ['permit-reads'], 'reads are allowed'),
  });
  await append({ sessionId: sessionB, ...at('2026-01-15T09:00:02.505Z'), type: 'statement.outcome', statementId: 'st-3', status: 'ok', rows: 2, bytes: 70, durationMs: 5, response: small.finish() });
  await append({ sessionId: sessionB, ...at('2026-01-15T09:00:03.000Z'), type: 'session.end', reason: 'client closed', statements: 3, bytesIn: 50, bytesOut: 70, durationMs: 3000 });

  // Session C: refused at login.
  await append({ sessionId: sessionC, ...at('2026-02-01T08:00:00.000Z'), type: 'auth.refused', code: 'invalid_token', reason: 'token expired', target: 'orders', client });
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airlock-sessions-e2e-'));
  sink = await createLocalAuditSink({ dir, ack: 'local', responseCapBytes: 64 * 1024 });
  await writeTrail();
  await sink.close();
  consoleServer = await startConsole({
    host: '127.0.0.1',
    port: 0,
    approvals: desk,
    verifyReviewer: verifyViewer,
    routes: sessionRoutes({ reader: createLocalAuditReader(dir), verifyViewer, viewerGroups: ['auditors', 'dba'] }),
  });
  headless = await launchHeadlessChromium();
  browser = headless.context;
});
after(async () => {
  await headless?.close();
  await desk.close();
  await consoleServer?.close();
  for (const d of [dir]) if (d) await rm(d, { recursive: true, force: true });
});

async function getJson(path: string, token?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(consoleServer.url + path, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, body: await res.json() };
}

async function storedStatementText(sessionId: string, statementId: string): Promise<string> {
  const entries = (await createLocalAuditReader(dir).readSession(sessionId)) ?? [];
  const rec = entries.find((e): e is AuditRecord => !('unparsable' in e) && e.type === 'statement' && e.statementId === statementId);
  assert.ok(rec && rec.type === 'statement');
  return rec.text;
}

test('the API lists and filters sessions for viewers only', async () => {
  assert.equal((await getJson('/api/sessions')).status, 401);
  assert.equal((await getJson('/api/sessions', 'not-a-jwt')).status, 401);
  const outsider = await getJson('/api/sessions', await sign('mallory', ['agents']));
  assert.equal(outsider.status, 403);
  assert.match(outsider.body.error, /mallory may not read sessions/);
  assert.equal((await getJson(`/api/sessions/${sessionA}`, await sign('mallory', ['agents']))).status, 403);

  const token = await sign('carol', ['auditors']);
  const all = await getJson('/api/sessions', token);
  assert.equal(all.status, 200);
  assert.deepEqual(all.body.sessions.map((s: { sessionId: string }) => s.sessionId), [sessionA, sessionC, sessionB]);
  const ids = async (q: string) => (await getJson(`/api/sessions?${q}`, token)).body.sessions.map((s: { sessionId: string }) => s.sessionId);
  assert.deepEqual(await ids('principal=agent-7'), [sessionA]);
  assert.deepEqual(await ids('target=orders'), [sessionA, sessionC]);
  assert.deepEqual(await ids('refusedOnly=true'), [sessionA, sessionC]);
  assert.deepEqual(await ids('from=2026-01-20&to=2026-02-01'), [sessionC]);
  assert.deepEqual(await ids('limit=1'), [sessionA]);
  assert.equal((await getJson('/api/sessions?from=yesterday', token)).status, 400);
  assert.equal((await getJson('/api/sessions?limit=0', token)).status, 400);
  assert.equal((await getJson('/api/sessions/20990101T000000Z-0000000000000000', token)).status, 404);
  assert.equal((await getJson('/api/sessions/..%2F..%2Findex', token)).status, 404);
});

test('the replay API decodes PostgreSQL rows and reports the chain', async () => {
  const { status, body } = await getJson(`/api/sessions/${sessionA}`, await sign('dan', ['dba']));
  assert.equal(status, 200);
  assert.equal(body.chain.intact, true);
  assert.equal(body.chain.events, 11);
  const st1 = body.timeline.find((e: { statementId?: string }) => e.statementId === 'st-1');
  assert.deepEqual(st1.outcome.response.shown, {
    kind: 'postgres',
    results: [{ columns: ['id', 'email', 'note'], rows: [['1', 'a***@example.com', null], ['2', 'b***@example.com', 'vip']], rowCount: 2, command: 'SELECT 2' }],
    errors: [],
    notices: [],
    incomplete: false,
  });
  const other = await getJson(`/api/sessions/${sessionB}`, await sign('dan', ['dba']));
  const [err, bin, cut] = other.body.timeline.filter((e: { kind: string }) => e.kind === 'statement');
  assert.deepEqual(err.outcome.response.shown.errors, [{ code: '42P01', message: 'relation "invoicez" does not exist' }]);
  assert.deepEqual(bin.outcome.response.shown, { kind: 'escaped', text: '\\x00\\x01<b>\\xff', omittedBytes: 0 });
  assert.equal(cut.outcome.response.truncated, true);
  assert.equal(cut.outcome.response.keptBytes, 45);
  assert.deepEqual(cut.outcome.response.shown, {
    kind: 'postgres', results: [{ columns: ['n'], rows: [['42']], rowCount: 1 }], errors: [], notices: [], incomplete: true,
  });
});

const signedInPage = (token: string, hash = ''): Promise<Page> => signIn(browser, `${consoleServer.url}/sessions${hash}`, token);

test('a viewer filters the list, opens a session and sees its timeline; hostile text stays inert', async () => {
  const page = await signedInPage(await sign('carol', ['auditors']));
  await page.waitForSelector('#main:not([hidden])');
  assert.equal(await page.textContent('#who'), 'signed in as carol');
  await page.locator(`#sessions tbody tr[data-id="${sessionB}"]`).waitFor();
  assert.equal(await page.locator('#sessions tbody tr').count(), 3);
  assert.match((await page.locator(`#sessions tbody tr[data-id="${sessionC}"]`).textContent()) ?? '', /refused: token expired/);

  await page.fill('#f-principal', 'agent-7');
  await page.click('#apply');
  await page.locator(`#sessions tbody tr[data-id="${sessionB}"]`).waitFor({ state: 'detached' });
  assert.equal(await page.locator('#sessions tbody tr').count(), 1);
  await page.locator(`#sessions tbody tr[data-id="${sessionA}"]`).click();
  await page.waitForSelector('#replay:not([hidden])');

  assert.equal(await page.textContent('#replay-id'), sessionA);
  assert.match((await page.textContent('#replay-summary')) ?? '', /agent-7 \(agents\) to orders \[postgres\]/);
  assert.match((await page.textContent('#chain')) ?? '', /Hash chain intact \(11 events\)/);
  const statements = page.locator('#timeline tbody tr.statement');
  assert.equal(await statements.count(), 4);
  const row = (id: string) => page.locator(`#timeline tbody tr[data-statement-id="${id}"]`);

  // The read: statement, class, decision, masking summary and the decoded rows.
  assert.equal(await row('st-1').locator('td.text pre').textContent(), 'SELECT id, email, note FROM customers WHERE id < 3');
  assert.equal(await row('st-1').locator('td.class').textContent(), 'read');
  assert.match((await row('st-1').locator('td.decision').textContent()) ?? '', /ALLOW by permit-reads/);
  assert.match((await row('st-1').locator('td.outcome').textContent()) ?? '', /ok, 2 rows, 20 ms.*masked 2: email 2/);
  const table = row('st-1').locator('td.response table.rows');
  assert.deepEqual(await table.locator('th').allTextContents(), ['id', 'email', 'note']);
  assert.deepEqual(await table.locator('tbody tr').nth(0).locator('td').allTextContents(), ['1', 'a***@example.com', 'NULL']);
  assert.deepEqual(await table.locator('tbody tr').nth(1).locator('td').allTextContents(), ['2', 'b***@example.com', 'vip']);
  assert.match((await row('st-1').locator('td.response').textContent()) ?? '', /SELECT 2/);

  // The deny names its policy and reason; it has no outcome.
  assert.equal(await row('st-2').getAttribute('class'), 'statement deny');
  assert.match((await row('st-2').locator('td.decision').textContent()) ?? '', /DENY by forbid-delete-without-where.*DELETE without WHERE is forbidden/);
  assert.equal(await row('st-2').locator('td.outcome').textContent(), '-');

  // The approval: who approved, why; the sink masked the literal in the stored text.
  assert.equal(await row('st-3').locator('td.text pre').textContent(), `UPDATE orders SET status = '***' WHERE id = 7`);
  assert.match((await row('st-3').locator('td.decision').textContent()) ?? '', /APPROVE by approve-prod-writes/);
  assert.match((await row('st-3').locator('td.approval').textContent()) ?? '', /pending \[ap-1\]approved by dba-bob \(ticket OPS-12\) \[ap-1\]/);
  assert.match((await row('st-3').locator('td.response').textContent()) ?? '', /UPDATE 1/);

  // Hostile statement text, column name and cell are shown as text, never run.
  const hostileText = await storedStatementText(sessionA, 'st-4');
  assert.match(hostileText, /<script>window\.__pwned=1<\/script>/);
  assert.equal(await row('st-4').locator('td.text pre').textContent(), hostileText);
  assert.deepEqual(await row('st-4').locator('table.rows th').allTextContents(), [HOSTILE_COLUMN]);
  assert.deepEqual(await row('st-4').locator('table.rows tbody td').allTextContents(), [HOSTILE_CELL]);
  assert.equal(await page.locator('#replay script, #replay img').count(), 0);
  assert.equal(await page.evaluate('window.__pwned'), undefined);
  assert.equal(await page.evaluate('document.cookie'), '');
  await page.close();
});

test('a deep link opens a session; the non-PostgreSQL response shows as escaped bytes', async () => {
  const page = await signedInPage(await sign('dan', ['dba']), `#session=${sessionB}`);
  await page.waitForSelector('#replay:not([hidden])');
  const [err, bin] = [page.locator('#timeline tr[data-statement-id="st-1"]'), page.locator('#timeline tr[data-statement-id="st-2"]')];
  assert.match((await err.locator('td.outcome').textContent()) ?? '', /error, 5 ms42P01: relation "invoicez" does not exist/);
  assert.match((await err.locator('td.response').textContent()) ?? '', /ERROR 42P01: relation "invoicez" does not exist/);
  assert.equal(await bin.locator('td.response pre').textContent(), '\\x00\\x01<b>\\xff');
  assert.equal(await page.locator('#replay b').count(), 0);
  await page.close();
});

test('a non-viewer is refused on the page', async () => {
  const page = await signedInPage(await sign('mallory', ['agents']));
  await page.waitForSelector('#who:text("mallory may not read sessions")');
  assert.equal(await page.locator('#main').isHidden(), true);
  assert.equal(await page.locator('#sessions tbody tr').count(), 0);
  await page.close();
});

test('an edited event shows as a broken chain', async () => {
  await editJournals(dir, (text) => text.replace('SELECT * FROM invoicez', 'SELECT * FROM invoices'));
  const { body } = await getJson(`/api/sessions/${sessionB}`, await sign('carol', ['auditors']));
  assert.equal(body.chain.intact, false);
  assert.deepEqual(body.chain.problems.map((p: { kind: string }) => p.kind), ['edited']);
  const page = await signedInPage(await sign('carol', ['auditors']), `#session=${sessionB}`);
  await page.waitForSelector('#chain.broken');
  assert.match((await page.textContent('#chain')) ?? '', /Hash chain BROKEN: seq 2 was modified after it was written/);
  await page.close();
});
