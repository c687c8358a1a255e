// Name resolution through the real gateway and a real PostgreSQL: table rules written with one
// canonical name hold against every spelling (CTEs named like the table, quoting, case, three-part
// names, search_path), and a built-in name is trusted only when nothing else can be chosen.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

let server: RunningPostgres;
let gw: TestGateway;
let token: string;

// The demo policy, on this test's target, plus the production example's "never read password hashes" rule.
const POLICY =
  readFileSync(new URL('../../policies/demo.cedar', import.meta.url), 'utf8').replaceAll('Airlock::Target::"demo"', 'Airlock::Target::"app"') +
  `
@id("no-password-catalogs")
forbid (principal, action in Airlock::Action::"statement", resource)
when { context.tables.containsAny(["pg_catalog.pg_authid", "pg_catalog.pg_shadow"]) };
`;

async function client(): Promise<pg.Client> {
  const c = new pg.Client(gw.pgOptions(token));
  await c.connect();
  return c;
}

async function refused(c: pg.Client, sql: string, pattern = /Airlock refused/): Promise<void> {
  await assert.rejects(c.query(sql), (err: Error & { code?: string; detail?: string }) => {
    assert.equal(err.code, '42501', `${sql}: ${err.message}`);
    assert.match(`${err.message}\n${err.detail ?? ''}`, pattern, sql);
    return true;
  });
}

const customerName = async (schema: string) => (await server.psqlDirect(`SELECT name FROM ${schema}.customers WHERE id = 1`)).trim();

before(async () => {
  server = await startPostgres();
  // A privileged upstream account, as a careless deployment would have: only the gateway stands between the agent and pg_authid.
  await server.psqlDirect(`ALTER ROLE app SUPERUSER`);
  await server.psqlDirect(
    `CREATE TABLE public.customers (id int PRIMARY KEY, name text);
     INSERT INTO public.customers VALUES (1, 'Radia');
     CREATE TABLE public.orders (id int PRIMARY KEY, note text);
     INSERT INTO public.orders VALUES (1, 'first');
     CREATE SCHEMA sneaky;
     CREATE TABLE sneaky.customers (id int PRIMARY KEY, name text);
     INSERT INTO sneaky.customers VALUES (1, 'decoy');
     CREATE FUNCTION public.lower(integer) RETURNS text LANGUAGE sql AS 'SELECT ''shadowed''';
     CREATE FUNCTION public.secret(public.customers) RETURNS text LANGUAGE sql AS 'SELECT ''attribute notation ran''';
     CREATE SCHEMA evil;
     CREATE FUNCTION evil.upper(text) RETURNS text LANGUAGE sql AS 'SELECT ''evil''';`,
    server.database,
  );
  gw = await startTestGateway(server, { policy: POLICY, config: (raw) => (raw.masking = { enabled: false }) });
  token = await gw.token();
});

after(async () => {
  await gw?.stop();
  await server?.stop();
});

describe('"except customers" holds whatever the spelling', () => {
  for (const sql of [
    `UPDATE customers SET name = 'x' WHERE id = 1`,
    `UPDATE "customers" SET name = 'x' WHERE id = 1`,
    `UPDATE PUBLIC.Customers SET name = 'x' WHERE id = 1`,
    `UPDATE app.public.customers SET name = 'x' WHERE id = 1`,
    `WITH customers AS (SELECT 1 AS id) UPDATE customers SET name = 'x' WHERE id = 1`,
    `WITH c AS (UPDATE customers SET name = 'x' WHERE id = 1 RETURNING 1) SELECT * FROM c`,
    `WITH customers AS (SELECT 1 AS id) UPDATE orders SET note = 'y' FROM public.customers c WHERE c.id = orders.id`,
    `UPDATE orders SET note = (WITH orders AS (SELECT 1) SELECT name FROM customers WHERE id = 1) WHERE id = 1`,
    `INSERT INTO orders SELECT id + 10, name FROM (WITH customers AS (SELECT 1) SELECT * FROM public.customers) s`,
  ]) {
    test(sql, async () => {
      const c = await client();
      try {
        await refused(c, sql);
        assert.equal(await customerName('public'), 'Radia');
      } finally {
        await c.end();
      }
    });
  }

  test('a CTE named like the table hides it only inside its own query level', async () => {
    const c = await client();
    try {
      // Here "customers" is the CTE: nothing of public.customers is touched, so the write is allowed.
      await c.query(`WITH customers AS (SELECT 1 AS id) UPDATE orders SET note = 'cte' FROM customers WHERE customers.id = orders.id`);
      assert.equal((await server.psqlDirect(`SELECT note FROM public.orders WHERE id = 1`)).trim(), 'cte');
    } finally {
      await c.end();
    }
  });

  test('search_path decides which customers an unqualified name is, and every path that may be in effect counts', async () => {
    const c = await client();
    try {
      await c.query(`SET search_path = sneaky, public`);
      // The gateway does not learn whether the SET took (a transaction may roll it back), so both
      // sneaky.customers and public.customers are candidates: refused, although only the decoy would change.
      await refused(c, `UPDATE customers SET name = 'x' WHERE id = 1`);
      await c.query(`UPDATE sneaky.customers SET name = 'still decoy' WHERE id = 1`);
      assert.equal(await customerName('sneaky'), 'still decoy');
      await c.query(`RESET search_path`);
      await refused(c, `UPDATE customers SET name = 'x' WHERE id = 1`);
      assert.equal(await customerName('public'), 'Radia');
    } finally {
      await c.end();
    }
  });
});

describe('a statement large enough to be inspected off the event loop is resolved the same way', () => {
  // Over offloadStatementsAboveBytes (32 KiB by default) the worker pool parses the statement; the
  // session's names (catalog, search_path) are still resolved before policy sees it.
  const ids = Array.from({ length: 8000 }, (_, i) => i + 1).join(', ');
  for (const sql of [
    `UPDATE customers SET name = 'x' WHERE id IN (${ids})`,
    `WITH customers AS (SELECT 1 AS id) UPDATE orders SET note = 'y' FROM public.customers c WHERE c.id = orders.id AND c.id IN (${ids})`,
    `SELECT rolpassword FROM PG_AUTHID WHERE oid IN (${ids})`,
  ]) {
    test(`${sql.slice(0, 60)}… (${sql.length} bytes)`, async () => {
      assert.ok(sql.length > 32 * 1024);
      const c = await client();
      try {
        await refused(c, sql);
        assert.equal(await customerName('public'), 'Radia');
      } finally {
        await c.end();
      }
    });
  }
});

describe('"never read pg_authid" holds whatever the spelling', () => {
  for (const sql of [
    `SELECT rolpassword FROM pg_authid`,
    `SELECT rolpassword FROM PG_AUTHID`,
    `SELECT rolpassword FROM "pg_catalog"."pg_authid"`,
    `SELECT rolpassword FROM app.pg_catalog.pg_authid`,
    `WITH pg_authid AS (SELECT 1 AS x) SELECT rolpassword FROM pg_catalog.pg_authid`,
    `SELECT 1 WHERE EXISTS (WITH pg_authid AS (SELECT 1 AS x) SELECT x FROM pg_authid) AND EXISTS (SELECT rolpassword FROM pg_authid)`,
    `SELECT * FROM (WITH pg_authid AS (SELECT 1) SELECT 1) a, pg_authid`,
  ]) {
    test(sql, async () => {
      const c = await client();
      try {
        await c.query(`SET search_path = public`);
        await refused(c, sql);
      } finally {
        await c.end();
      }
    });
  }

  test('a CTE called pg_authid is not the catalog', async () => {
    const c = await client();
    try {
      const r = await c.query(`WITH pg_authid AS (SELECT 'not a secret' AS rolpassword) SELECT rolpassword FROM pg_authid`);
      assert.deepEqual(r.rows, [{ rolpassword: 'not a secret' }]);
    } finally {
      await c.end();
    }
  });
});

describe('built-in names are trusted only when nothing else can be chosen', () => {
  test('the threat is real: SELECT lower(1) runs public.lower(integer)', async () => {
    assert.equal((await server.psqlDirect(`SELECT lower(1)`)).trim(), 'shadowed');
  });

  for (const sql of [
    `SELECT lower(1)`,
    `SELECT lower('ABC')`, // the gateway does not choose among overloads: a candidate outside pg_catalog is enough
    `SELECT c.secret FROM customers c`, // attribute notation: secret(c)
    `SELECT (c).secret FROM customers c`,
  ]) {
    test(`refused: ${sql}`, async () => {
      const c = await client();
      try {
        await refused(c, sql, /Airlock refused this opaque statement/);
      } finally {
        await c.end();
      }
    });
  }

  test('pg_catalog-qualified built-ins and names nothing shadows stay allowed', async () => {
    const c = await client();
    try {
      assert.deepEqual((await c.query(`SELECT pg_catalog.lower('ABC') AS l, upper('a') AS u, c.name FROM customers c`)).rows, [{ l: 'abc', u: 'A', name: 'Radia' }]);
    } finally {
      await c.end();
    }
  });

  test('SET search_path = evil, pg_catalog is refused; a path naming evil after the implicit pg_catalog distrusts evil\'s names', async () => {
    const c = await client();
    try {
      await refused(c, `SET search_path = evil, pg_catalog`, /Airlock refused this privileged statement/);
      assert.equal((await c.query(`SELECT upper('a') AS u`)).rows[0].u, 'A');
      await c.query(`SET search_path = evil, public`); // pg_catalog not named: searched first
      await refused(c, `SELECT upper('a')`, /evil\.upper/);
      assert.equal((await c.query(`SELECT pg_catalog.upper('a') AS u`)).rows[0].u, 'A');
    } finally {
      await c.end();
    }
  });
});
