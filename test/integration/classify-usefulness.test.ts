// False refusals, measured: the monitoring and catalog queries agents really run (lock graphs,
// replication lag, sizes, ranges, network types, …; test/fixtures/monitoring-queries.sql) must run
// on a real server and be allowed under policies/read-only.cedar, with names resolved against that
// server's catalog as the gateway does.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { loadSqlInspector } from '../../core/classify/index.js';
import { SqlSessionScope } from '../../core/classify/session-scope.js';
import { buildTargetCatalog, CATALOG_QUERY, SESSION_QUERY, type CatalogRow } from '../../core/classify/target-catalog.js';
import { compilePolicySet } from '../../core/policy/index.js';

let server: RunningPostgres;
let client: pg.Client;

const QUERIES = readFileSync(new URL('../fixtures/monitoring-queries.sql', import.meta.url), 'utf8')
  .split(/^;;$/m)
  .map((q) => q.replace(/^--.*$/gm, '').trim())
  .filter(Boolean);

before(async () => {
  await loadSqlInspector();
  server = await startPostgres();
  client = new pg.Client({ host: server.superuser.host, port: server.superuser.port, user: 'postgres', database: server.database });
  await client.connect();
  await client.query(`
    CREATE TABLE events (id bigserial PRIMARY KEY, created_at timestamptz DEFAULT now(), payload jsonb, duration_ms int);
    CREATE TABLE bookings (id int PRIMARY KEY, during tstzrange);
    CREATE TABLE hosts (id int PRIMARY KEY, addr inet);`);
});

after(async () => {
  await client?.end();
  await server?.stop();
});

test(`monitoring and catalog queries stay allowed under the read-only example policy (${QUERIES.length} queries)`, async () => {
  const rows = await client.query({ text: CATALOG_QUERY, rowMode: 'array' });
  const catalog = buildTargetCatalog(rows.rows as CatalogRow[]);
  const [user, searchPath] = (await client.query({ text: SESSION_QUERY, rowMode: 'array' })).rows[0] as [string, string];
  const scope = new SqlSessionScope({ user, searchPath, catalog: () => catalog });
  const policy = compilePolicySet(readFileSync(new URL('../../policies/read-only.cedar', import.meta.url), 'utf8'));
  const principal = { id: 'agent', groups: ['agents'], issuer: 'test' };
  const target = { name: 'app', kind: 'postgres' as const, environment: 'test', tags: {} };
  const refusals: string[] = [];
  for (const sql of QUERIES) {
    await client.query(sql); // the query is real: it runs on PostgreSQL 15
    const inspection = scope.inspect(sql);
    assert.ok(inspection.ok, sql);
    for (const s of inspection.statements) {
      const d = policy.authorizeStatement(principal, target, s);
      if (d.effect !== 'allow') refusals.push(`${sql.slice(0, 80)}…\n    ${s.class}: ${s.reasons.join('; ')}`);
    }
  }
  console.log(`# usefulness: ${refusals.length} of ${QUERIES.length} monitoring/catalog queries refused (${((100 * refusals.length) / QUERIES.length).toFixed(1)} %)`);
  assert.deepEqual(refusals, []);

  // …while what the policy is for still holds.
  for (const sql of ['SELECT rolname, rolpassword FROM pg_authid', 'SELECT * FROM pg_hba_file_rules', 'SET statement_timeout = 0', "SET work_mem = '64GB'", 'UPDATE events SET payload = NULL WHERE id = 1', 'BEGIN READ WRITE']) {
    const inspection = scope.inspect(sql);
    assert.ok(inspection.ok, sql);
    assert.ok(inspection.statements.some((s) => policy.authorizeStatement(principal, target, s).effect === 'deny'), sql);
  }
});
