// Refused decision attempts on a held statement — the requester approving their own request, a
// caller outside the reviewer groups — are refused and recorded in the held session's trail; the
// reviewer's denial that follows counts as one denial, and the trail verifies.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { AGENT, OUTSIDER, REVIEWER, startTestGateway, type TestGateway } from '../support/gateway.js';
import { auditDirOf, expectAuditVerifies } from '../support/audit-trail.js';
import { createLocalAuditReader } from '../../fargate-proxy/src/adapters/local/audit-file-reader.js';
import { sessionsCommand } from '../../fargate-proxy/src/cli/audit-commands.js';
import type { AuditRecord } from '../../core/audit/events.js';

let server: RunningPostgres;
let gw: TestGateway;

before(async () => {
  server = await startPostgres();
  gw = await startTestGateway(server, {
    config: (raw) => {
      (raw.listeners as Record<string, unknown>).console = { host: '127.0.0.1', port: 0 };
      // Agents may review (others' requests): the requester's own attempt is then a self-approval.
      raw.approvals = { reviewerGroups: ['reviewers', 'agents'], timeoutSeconds: 120 };
    },
  });
});
after(async () => {
  await gw?.stop();
  await server?.stop();
});

async function decide(id: string, client: { clientId: string; clientSecret: string }, verdict: 'approve' | 'deny', body: Record<string, unknown>): Promise<{ status: number; error?: string }> {
  const res = await fetch(`${gw.gw.consoleUrl}/api/approvals/${encodeURIComponent(id)}/${verdict}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await gw.token(client)}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, ...((await res.json()) as { error?: string }) };
}

test('self-approval and a non-reviewer are refused and audited in the session; the denial counts once', async () => {
  const c = new pg.Client(gw.pgOptions(await gw.token(AGENT)));
  await c.connect();
  const requestId = new Promise<string>((resolve) => c.on('notice', (n) => resolve(/request (\S+) is waiting/.exec(n.message ?? '')![1]!)));
  const ddl = c.query('CREATE TABLE refused_attempts (a int)').then(
    () => undefined,
    (e: pg.DatabaseError) => e,
  );
  const id = await requestId;

  const self = await decide(id, AGENT, 'approve', { scope: 'once' });
  assert.equal(self.status, 403);
  const outsider = await decide(id, OUTSIDER, 'approve', { scope: 'once' });
  assert.equal(outsider.status, 403);
  assert.equal((await decide(id, REVIEWER, 'deny', { reason: 'not today' })).status, 200);
  const refused = await ddl;
  assert.equal(refused?.code, '42501');
  await c.end();
  await new Promise((r) => setTimeout(r, 300)); // session.end is appended as the connection closes

  const reader = createLocalAuditReader(auditDirOf(gw));
  const [session] = await reader.listSessions({ principal: AGENT.clientId });
  const events = (await reader.readSession(session!.sessionId)) as AuditRecord[];
  const approvals = events.flatMap((e) => (e.type === 'approval' && e.approvalId === id ? [`${e.state}:${e.reviewer ?? ''}`] : []));
  assert.deepEqual(approvals, ['pending:', `decision-refused:${AGENT.clientId}`, `decision-refused:${OUTSIDER.clientId}`, `denied:${REVIEWER.clientId}`]);
  const selfEvent = events.find((e) => e.type === 'approval' && e.state === 'decision-refused' && e.reviewer === AGENT.clientId);
  assert.match((selfEvent as { reason?: string }).reason ?? '', /own request/);

  assert.equal(session!.denied, 1, 'the reviewer’s denial and the refusal it causes are one denied statement');
  let listing = '';
  await sessionsCommand({ dir: auditDirOf(gw), principal: AGENT.clientId }, { write: (s: string) => (listing += s) });
  assert.match(listing, /ended, 1 denied/);
  await expectAuditVerifies(gw);
});
