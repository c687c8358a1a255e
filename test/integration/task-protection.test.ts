// ECS task scale-in protection follows the sessions a gateway holds. The ECS agent's
// task-protection endpoint has no npm server, so a local HTTP stand-in answers as the agent does
// (docs: "Task scale-in protection endpoint") and records what the gateway asked for; the gateway,
// PostgreSQL, the sessions and the fleet registry (dynalite) are real.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startLocalDynamo, type LocalDynamo, createFleetTable, localAwsEnv } from '../support/local-aws.js';
import { useProcessEnv } from '../support/process-env.js';

let restoreEnv: (() => void) | undefined;
let server: RunningPostgres;
let dynamo: LocalDynamo;
let agent: Server;
let agentUri: string;
const requests: { method: string; path: string; ok: boolean; body: { ProtectionEnabled?: boolean; ExpiresInMinutes?: number } }[] = [];
let failing = false;

before(async () => {
  [server, dynamo] = await Promise.all([startPostgres(), startLocalDynamo()]);
  await createFleetTable(dynamo, 'fleet');
  const env = localAwsEnv({ dynamodb: dynamo.endpoint });
  restoreEnv = useProcessEnv(env);
  agent = createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => (raw += d));
    req.on('end', () => {
      const body = raw ? JSON.parse(raw) : {};
      requests.push({ method: req.method!, path: req.url!, ok: !failing, body });
      res.setHeader('content-type', 'application/json');
      if (failing) return res.writeHead(500).end(JSON.stringify({ error: { Code: 'ServerException', Message: 'agent down' } }));
      const protection = { ProtectionEnabled: body.ProtectionEnabled === true, TaskArn: 'arn:aws:ecs:eu-west-1:123456789012:task/airlock/0123', ...(body.ProtectionEnabled ? { ExpirationDate: new Date(Date.now() + body.ExpiresInMinutes * 60_000).toISOString() } : {}) };
      res.end(JSON.stringify({ protection }));
    });
  });
  await new Promise<void>((r) => agent.listen(0, '127.0.0.1', r));
  agentUri = `http://127.0.0.1:${(agent.address() as AddressInfo).port}/api/task-0123`;
});
after(async () => {
  agent?.closeAllConnections();
  await new Promise((r) => agent?.close(r));
  restoreEnv?.();
  await dynamo?.stop();
  await server?.stop();
});

async function until(what: string, predicate: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !predicate(); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(predicate(), what);
}

const puts = () => requests.filter((r) => r.method === 'PUT' && r.path === '/api/task-0123/task-protection/v1/state');

test('protected from scale-in while a session is open, released when it ends and when the gateway stops', async () => {
  const gw: TestGateway = await startTestGateway(server, {
    config: (raw) => {
      raw.fleet = { table: 'fleet', advertiseHost: '127.0.0.1', scaleInProtection: { agentUri, checkSeconds: 0.05, expiresInMinutes: 30 } };
    },
  });
  try {
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(puts().length, 0, 'an idle task asks for nothing');

    const c = new pg.Client(gw.pgOptions(await gw.token()));
    await c.connect();
    await until('protection requested once a session is open', () => puts().some((p) => p.body.ProtectionEnabled === true));
    assert.deepEqual(puts()[0]!.body, { ProtectionEnabled: true, ExpiresInMinutes: 30 });
    await c.query('SELECT 1');
    await c.end();
    await until('protection released once no session is left', () => puts().at(-1)?.body.ProtectionEnabled === false);
    assert.deepEqual(puts().at(-1)!.body, { ProtectionEnabled: false });

    // The agent failing: sessions carry on, and protection is asked for again on the next check.
    failing = true;
    const d = new pg.Client(gw.pgOptions(await gw.token()));
    d.on('error', () => undefined); // the gateway stops under it below
    await d.connect();
    const before = puts().length;
    await until('retried while the agent fails', () => puts().length >= before + 2);
    assert.equal((await d.query('SELECT 2 AS two')).rows[0].two, 2, 'the session is unaffected');
    failing = false;
    await until('protected once the agent answers', () => puts().at(-1)?.ok === true && puts().at(-1)?.body.ProtectionEnabled === true);
    const count = puts().length;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(puts().length, count, 'not asked again while protected (renewed at half its lifetime)');
    // Stopping with a session still open: the stop releases protection itself.
    await gw.gw.close();
    assert.equal(puts().at(-1)!.body.ProtectionEnabled, false);
    await d.end().catch(() => undefined);
  } finally {
    await gw.stop().catch(() => undefined);
  }
});
