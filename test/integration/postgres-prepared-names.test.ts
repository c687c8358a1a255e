// A statement prepared with the extended protocol is decided on what its names mean when it runs,
// not when it was parsed: PostgreSQL re-analyses a prepared statement after the session's
// search_path changed, so `items` prepared as public.items can run as hidden.items. Real gateway,
// real PostgreSQL, the `pg` client's named prepared statements (Parse once, then Bind/Execute only).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import pg from 'pg';
import { queryAsApp, startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { TEST_POLICY, startTestGateway, type TestGateway } from '../support/gateway.js';

let server: RunningPostgres;
let gw: TestGateway;

const direct = (sql: string) => queryAsApp(server, sql);

before(async () => {
  server = await startPostgres();
  await direct(`
    CREATE TABLE public.items (name text);
    INSERT INTO public.items VALUES ('ordinary');
    CREATE SCHEMA hidden;
    CREATE TABLE hidden.items (name text);
    INSERT INTO hidden.items VALUES ('hidden row');
    CREATE FUNCTION hidden.lower(text) RETURNS text LANGUAGE sql AS $$ SELECT 'shadow ' || $1 $$;
  `);
  const policy = `${TEST_POLICY}
@id("never-hidden")
@reason("the hidden schema is not for agents")
forbid (principal, action in Airlock::Action::"statement", resource)
when { context.tables.contains("hidden.items") };
`;
  gw = await startTestGateway(server, { policy });
});

after(async () => {
  await gw?.stop();
  await server?.stop();
});

test('a named statement prepared before SET search_path is decided again on what it means now', async () => {
  const c = new pg.Client(gw.pgOptions(await gw.token()));
  await c.connect();
  try {
    const q = { name: 'list_items', text: 'SELECT name FROM items' };
    assert.deepEqual((await c.query(q)).rows, [{ name: 'ordinary' }]);
    await c.query('SET search_path = hidden, public');
    // pg sends only Bind/Execute for a name it prepared: the Parse-time resolution (public.items) is stale.
    await assert.rejects(c.query(q), (err: pg.DatabaseError) => {
      assert.equal(err.code, '42501');
      assert.match(err.message, /the hidden schema is not for agents/);
      return true;
    });
    // The session stays usable, and the same statement by a qualified name still runs.
    assert.deepEqual((await c.query({ name: 'public_items', text: 'SELECT name FROM public.items' })).rows, [{ name: 'ordinary' }]);
  } finally {
    await c.end();
  }
});

test('a named statement calling a built-in is judged again once a schema with a same-named function is on the path', async () => {
  const c = new pg.Client(gw.pgOptions(await gw.token()));
  await c.connect();
  try {
    const q = { name: 'lowered', text: 'SELECT lower(name) AS l FROM public.items' };
    // hidden.lower(text) exists, but hidden is not on the path: the built-in is the only candidate.
    assert.deepEqual((await c.query(q)).rows, [{ l: 'ordinary' }]);
    assert.deepEqual((await c.query(q)).rows, [{ l: 'ordinary' }], 'Bind/Execute of the same name runs again');
    await c.query('SET search_path = hidden, public');
    await assert.rejects(c.query(q), (err: pg.DatabaseError) => {
      assert.equal(err.code, '42501');
      assert.match(`${err.message} ${err.detail}`, /could resolve to hidden\.lower/);
      return true;
    });
  } finally {
    await c.end();
  }
});

test('a Parse that declares a parameter of a user-made type (a domain whose check writes) is opaque: refused before Bind runs the check', async () => {
  await direct(`CREATE SEQUENCE public.ticks; CREATE DOMAIN public.ticking AS integer CHECK (pg_catalog.nextval('public.ticks') > 0)`);
  const oid = Number((await direct(`SELECT 'public.ticking'::regtype::oid AS oid`)).rows[0].oid);
  const c = new pg.Client(gw.pgOptions(await gw.token()));
  await c.connect();
  try {
    // `types` is both the Parse's parameter type list and the result parsers' lookup in `pg`.
    const types = Object.assign([oid], { getTypeParser: pg.types.getTypeParser });
    await assert.rejects(c.query({ name: 'ticking', text: 'SELECT $1 AS v', values: ['5'], types } as unknown as pg.QueryConfig), (err: pg.DatabaseError) => {
      assert.equal(err.code, '42501');
      assert.match(err.message, /Airlock refused/);
      return true;
    });
    const plain = await c.query({ text: 'SELECT $1::int AS v', values: ['5'], types: Object.assign([23], { getTypeParser: pg.types.getTypeParser }) } as unknown as pg.QueryConfig);
    assert.equal(plain.rows[0].v, 5);
  } finally {
    await c.end();
  }
  const seq = await direct(`SELECT is_called FROM public.ticks`);
  assert.equal(seq.rows[0].is_called, false, 'the domain check never ran: the sequence did not move');
});

test('SQL-level prepared names are case-sensitive: PREPARE "WIPE" does not make EXECUTE wipe a read', async () => {
  const c = new pg.Client(gw.pgOptions(await gw.token()));
  await c.connect();
  const original = readFileSync(gw.policyFile, 'utf8');
  const setPolicy = (text: string) => {
    writeFileSync(`${gw.policyFile}.tmp`, text);
    spawnSync('mv', [`${gw.policyFile}.tmp`, gw.policyFile]);
  };
  try {
    await c.query(`PREPARE wipe AS DELETE FROM public.items WHERE name IS NOT NULL`);
    // Writes are frozen from now on: EXECUTE wipe is a write and must be refused.
    setPolicy(`${original}\n@id("writes-frozen")\nforbid (principal, action == Airlock::Action::"write", resource);\n`);
    let frozen = false;
    for (let i = 0; i < 100 && !frozen; i++) {
      frozen = await c.query(`INSERT INTO public.items SELECT 'probe' WHERE false`).then(() => false, (e: pg.DatabaseError) => e.code === '42501');
      if (!frozen) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(frozen, 'the write freeze applies');
    await assert.rejects(c.query('EXECUTE wipe'), { code: '42501' });
    await c.query(`PREPARE "WIPE" AS SELECT 1`);
    await assert.rejects(c.query('EXECUTE wipe'), { code: '42501' });
  } finally {
    setPolicy(original);
    await c.end();
  }
  // The original policy is back (it forbids hidden.items) before the next test runs.
  const probe = new pg.Client(gw.pgOptions(await gw.token()));
  await probe.connect();
  try {
    for (let i = 0; i < 100; i++) {
      if (await probe.query(`INSERT INTO public.items SELECT 'probe' WHERE false`).then(() => true, () => false)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await probe.end();
  }
  const left = await direct(`SELECT count(*)::int AS n FROM public.items`);
  assert.ok(left.rows[0].n > 0, 'EXECUTE wipe never ran');
});

test('a Bind naming a statement made by SQL PREPARE is decided on its body at Execute', async () => {
  const c = new pg.Client(gw.pgOptions(await gw.token()));
  await c.connect();
  try {
    await c.query(`PREPARE peek AS SELECT name FROM items`);
    assert.deepEqual((await c.query('EXECUTE peek')).rows, [{ name: 'ordinary' }]);
    await c.query('SET search_path = hidden, public');
    // The same statement through the extended protocol: Bind and Execute only (no Parse), as a driver
    // that knows the name sends them. The server re-analyses it as hidden.items, which policy forbids.
    (c as unknown as { connection: { parsedStatements: Record<string, string> } }).connection.parsedStatements.peek = 'SELECT name FROM items';
    const r = await c.query({ name: 'peek', text: 'SELECT name FROM items' }).then((x) => JSON.stringify(x.rows), (e: pg.DatabaseError) => `${e.code} ${e.message}`);
    assert.match(r, /^42501 .*never-hidden/);
  } finally {
    await c.end();
  }
});
