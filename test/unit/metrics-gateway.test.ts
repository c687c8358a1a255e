// The metrics of a running gateway, as CloudWatch would read them: a real PostgreSQL behind it, a
// `pg` client and a refused login in front, the EMF lines the gateway writes observed as they come.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { parseConfig } from '../../fargate-proxy/src/config/load.js';
import { startGateway, type RunningGateway } from '../../fargate-proxy/src/gateway.js';
import { requestClientCredentialsToken } from '../../fargate-proxy/src/adapters/local/oidc-issuer.js';
import { startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { AGENT, AUDIENCE, TEST_POLICY, pgTarget } from '../support/gateway.js';

type Line = Record<string, unknown>;

let postgres: RunningPostgres;
let gw: RunningGateway | undefined;
let dir: string;
const lines: Line[] = [];

before(async () => {
  postgres = await startPostgres();
  dir = mkdtempSync(join(tmpdir(), 'airlock-metrics-gw-'));
  writeFileSync(join(dir, 'policy.cedar'), TEST_POLICY);
  const cfg = parseConfig({
    dataDir: join(dir, 'data'),
    logLevel: 'silent',
    listeners: { postgres: { host: '127.0.0.1', port: 0, allowPlaintext: true } },
    identity: { issuer: 'http://127.0.0.1', audience: AUDIENCE, localIssuer: { port: 0, clients: [AGENT] } },
    targets: [pgTarget(postgres)],
    policy: { file: join(dir, 'policy.cedar') },
    metrics: { enabled: true, intervalSeconds: 0.1, namespace: 'Airlock-Test' },
  });
  gw = await startGateway(cfg, { log: pino({ level: 'silent' }), metricsOut: (line) => lines.push(JSON.parse(line) as Line) });
});

after(async () => {
  await gw?.close();
  await postgres?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function waitForLine(check: (l: Line) => boolean, what: string): Promise<void> {
  const from = lines.length;
  for (let i = 0; i < 100; i++) {
    if (lines.slice(from).some(check)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`no metric line with ${what}`);
}

const total = (name: string) => lines.reduce((n, l) => n + (l[name] as number), 0);

test('sessions, statements and refusals are counted once each; active sessions follow the live ones', async () => {
  const options = { host: '127.0.0.1', port: gw!.postgres!.port, database: 'app', user: 'agent' };
  const token = await requestClientCredentialsToken({ tokenEndpoint: gw!.tokenEndpoint!, clientId: AGENT.clientId, clientSecret: AGENT.clientSecret, audience: AUDIENCE });
  const c = new pg.Client({ ...options, password: token });
  await c.connect();
  try {
    await c.query('SELECT 1');
    await assert.rejects(c.query('DROP TABLE IF EXISTS nothing_here'), { code: '42501' });
    await waitForLine((l) => l.ActiveSessions === 1, 'the live session');
  } finally {
    await c.end();
  }
  const intruder = new pg.Client({ ...options, password: 'not-a-token' });
  await assert.rejects(intruder.connect());
  await waitForLine((l) => l.ActiveSessions === 0, 'the session gone');
  await new Promise((r) => setTimeout(r, 300)); // let the refused login's event land in a line

  assert.equal(total('SessionsOpened'), 1);
  assert.equal(total('Statements'), 2);
  assert.equal(total('Refusals'), 2, 'the denied DROP and the refused login');
  for (const l of lines) {
    assert.equal(l.Service, 'proxy');
    assert.equal(l.AuditLagMs, 0, 'no remote store: nothing waits to be shipped');
    assert.equal(l.ApprovalsPending, 0);
    assert.equal((l._aws as { CloudWatchMetrics: { Namespace: string }[] }).CloudWatchMetrics[0]!.Namespace, 'Airlock-Test');
  }
});

test('a statement held for approval shows as pending', async () => {
  const options = { host: '127.0.0.1', port: gw!.postgres!.port, database: 'app', user: 'agent' };
  const token = await requestClientCredentialsToken({ tokenEndpoint: gw!.tokenEndpoint!, clientId: AGENT.clientId, clientSecret: AGENT.clientSecret, audience: AUDIENCE });
  const c = new pg.Client({ ...options, password: token });
  c.on('error', () => undefined);
  await c.connect();
  const held = c.query('CREATE TABLE metrics_held (id int)').catch(() => undefined); // DDL needs approval
  try {
    await waitForLine((l) => l.ApprovalsPending === 1, 'the held statement');
  } finally {
    // Nobody decides: the session is dropped, which withdraws the request.
    (c as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    await held;
  }
});
