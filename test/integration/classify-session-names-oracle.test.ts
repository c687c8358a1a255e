// Oracle test for how a session's own statements change what names mean: temporary tables made
// without CREATE TEMP, DROP / RENAME / SET SCHEMA / CREATE SCHEMA before the gateway's catalog
// shows them, search_path elements PostgreSQL truncates, sequences named in strings, and
// inheritance children and partitions. Each scenario runs on a real server as an ordinary role,
// statement by statement, with the catalog the gateway read before it (the re-read after DDL may
// come before the server ran the DDL). What PostgreSQL touched — tables with scans or row changes
// in the transaction (pg_stat_xact_user_tables), sequences whose value moved, a user function that
// ran — must be among what the gateway reported, or the call must be opaque.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { loadSqlInspector } from '../../core/classify/index.js';
import { SqlSessionScope } from '../../core/classify/session-scope.js';
import { buildTargetCatalog, CATALOG_QUERY, type CatalogRow } from '../../core/classify/target-catalog.js';
import { qualifiedName } from '../../core/classify/relation-names.js';

let server: RunningPostgres;
let su: pg.Client;

/** 70 bytes: PostgreSQL keeps the first 63 of it wherever it reads it as an identifier. */
const LONG_SCHEMA = 'hidden_schema_with_a_name_longer_than_namedatalen_allows_for_names_xyz';
const LONG_SCHEMA_STORED = LONG_SCHEMA.slice(0, 63);

before(async () => {
  await loadSqlInspector();
  server = await startPostgres();
  su = new pg.Client({ host: server.superuser.host, port: server.superuser.port, user: 'postgres', database: server.database });
  await su.connect();
  await su.query(`
    CREATE SCHEMA hidden;
    CREATE TABLE public.items (id int, note text); INSERT INTO public.items VALUES (1, 'public');
    CREATE TABLE hidden.items (id int, note text); INSERT INTO hidden.items VALUES (1, 'hidden');
    CREATE SEQUENCE hidden.counter;
    CREATE TABLE public.events (id int, note text);
    CREATE TABLE hidden.events_archive () INHERITS (public.events); INSERT INTO hidden.events_archive VALUES (1, 'archived');
    CREATE TABLE public.measures (id int, note text) PARTITION BY RANGE (id);
    CREATE TABLE hidden.measures_low PARTITION OF public.measures FOR VALUES FROM (0) TO (100);
    INSERT INTO public.measures VALUES (1, 'low');
    CREATE SCHEMA ${LONG_SCHEMA};
    CREATE TABLE ${LONG_SCHEMA}.items (id int, note text); INSERT INTO ${LONG_SCHEMA}.items VALUES (1, 'long');
    GRANT CREATE ON DATABASE ${server.database} TO app;
    GRANT USAGE, CREATE ON SCHEMA public, hidden, ${LONG_SCHEMA} TO app;
    GRANT ALL ON ALL TABLES IN SCHEMA public, hidden, ${LONG_SCHEMA} TO app;
    GRANT ALL ON ALL SEQUENCES IN SCHEMA hidden TO app;
  `);
});

after(async () => {
  await su?.end();
  await server?.stop();
});

interface Scenario {
  /** Run as the superuser before the catalog is read (objects the role `app` owns). */
  setup?: string;
  /** Run as `app`, one simple query each; every one is checked. */
  steps: string[];
  /** Read the catalog again after each step (once the server ran it) instead of keeping the one read before. */
  rereadCatalog?: boolean;
  /** Count only rows written, not scans (a foreign key's check reads the referencing table: not reported). */
  writesOnly?: boolean;
  /** Run as the superuser afterwards. */
  cleanup?: string;
}

async function sequenceValues(): Promise<Map<string, string>> {
  const r = await su.query(`SELECT schemaname, sequencename, coalesce(last_value, 0)::text AS v FROM pg_catalog.pg_sequences`);
  return new Map(r.rows.map((x) => [qualifiedName(x.schemaname, x.sequencename), x.v]));
}

/** Scans and row changes per table OID (with its canonical name, the session's temporary schema as pg_temp), as this backend counts them. */
async function tableActivity(app: pg.Client, writesOnly = false): Promise<Map<string, { name: string; count: string }>> {
  const scans = writesOnly ? '' : 'seq_scan + coalesce(idx_scan, 0) + ';
  const r = await app.query(
    `SELECT relid::text, schemaname, relname, (${scans}n_tup_ins + n_tup_upd + n_tup_del)::text AS n
       FROM pg_catalog.pg_stat_xact_user_tables`,
  );
  const canonical = (schema: string, name: string) => qualifiedName(/^pg_temp_[0-9]+$/.test(schema) ? 'pg_temp' : schema, name);
  return new Map(r.rows.map((x) => [x.relid, { name: canonical(x.schemaname, x.relname), count: x.n }]));
}

/** Runs a scenario; returns, per step, what PostgreSQL touched that the gateway did not report. */
async function run(s: Scenario): Promise<string[]> {
  if (s.setup) await su.query(s.setup);
  let catalog = buildTargetCatalog((await su.query({ text: CATALOG_QUERY, rowMode: 'array' })).rows as CatalogRow[]);
  const app = new pg.Client({ host: server.host, port: server.port, user: 'app', password: server.roles.app.password, database: server.database });
  await app.connect();
  const missed: string[] = [];
  try {
    const who = (await app.query(`SELECT current_user::text AS u, current_setting('search_path') AS p`)).rows[0];
    // The catalog as read before the scenario: the re-read after DDL can come before the server ran it.
    const scope = new SqlSessionScope({ user: who.u, searchPath: who.p, catalog: () => catalog });
    for (const step of s.steps) {
      const inspection = scope.inspect(step);
      assert.ok(inspection.ok, step);
      const reported = new Set(inspection.statements.flatMap((x) => x.tables));
      const opaque = inspection.statements.some((x) => x.class === 'opaque');
      const sequencesBefore = await sequenceValues();
      await app.query('BEGIN');
      // Counts not yet sent to the statistics collector include earlier transactions': compare before and after.
      const activityBefore = await tableActivity(app, s.writesOnly);
      let results: pg.QueryResult[];
      try {
        const r = await app.query(step);
        results = Array.isArray(r) ? r : [r];
      } catch (err) {
        await app.query('ROLLBACK');
        throw new Error(`${step}: ${(err as Error).message}`);
      }
      const activityAfter = await tableActivity(app, s.writesOnly);
      await app.query('COMMIT');
      // By OID: a table moved to another schema is the same table.
      for (const [relid, { name, count }] of activityAfter) {
        if (count === activityBefore.get(relid)?.count) continue;
        if (!reported.has(name)) missed.push(`${step} → PostgreSQL touched ${name}; reported ${[...reported].join(', ')}`);
      }
      for (const [sequence, value] of await sequenceValues()) {
        if (sequencesBefore.get(sequence) !== value && !reported.has(sequence) && !opaque) missed.push(`${step} → sequence ${sequence} moved; reported ${[...reported].join(', ')}`);
      }
      if (s.rereadCatalog) catalog = buildTargetCatalog((await su.query({ text: CATALOG_QUERY, rowMode: 'array' })).rows as CatalogRow[]);
      const userCode = results.some((r) => r.rows?.some((row) => Object.values(row).includes('user code')));
      if (userCode && !opaque) missed.push(`${step} → PostgreSQL ran a user function; class ${inspection.class}`);
    }
  } finally {
    await app.end();
    if (s.cleanup) await su.query(s.cleanup);
  }
  return missed;
}

test('a temporary table made by SELECT INTO TEMP shadows the table of the same name', async () => {
  assert.deepEqual(await run({ steps: ['SELECT * INTO TEMP items FROM public.items WHERE false', 'SELECT * FROM items', 'DELETE FROM items WHERE id = 1'] }), []);
});

test('a table created unqualified under search_path = pg_temp, … is temporary and shadows', async () => {
  assert.deepEqual(await run({ steps: ['SET search_path = pg_temp, public', 'CREATE TABLE items (id int, note text)', 'RESET search_path', 'SELECT * FROM items'] }), []);
});

test('a search_path element longer than 63 bytes names the schema it truncates to', async () => {
  assert.deepEqual(await run({ steps: [`SET search_path = '${LONG_SCHEMA}', public`, 'SELECT * FROM items', `SET search_path = "${LONG_SCHEMA.toUpperCase()}", public`] }), []);
  assert.equal((await su.query(`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = $1`, [LONG_SCHEMA_STORED])).rows[0].n, 1);
});

test('DROP TABLE lets an unqualified name fall through to the next schema of the path', async () => {
  const missed = await run({
    setup: 'CREATE SCHEMA app AUTHORIZATION app; CREATE TABLE app.items (id int, note text); ALTER TABLE app.items OWNER TO app',
    steps: ['SELECT * FROM items', 'DROP TABLE app.items; SELECT * FROM items'],
    cleanup: 'DROP SCHEMA app CASCADE',
  });
  assert.deepEqual(missed, []);
});

test('ALTER TABLE … SET SCHEMA and RENAME move a name before the catalog shows it', async () => {
  const missed = await run({
    setup: `CREATE SCHEMA app AUTHORIZATION app; CREATE SCHEMA stash AUTHORIZATION app;
            CREATE TABLE app.items (id int, note text); ALTER TABLE app.items OWNER TO app;
            CREATE TABLE stash.scratch (id int, note text); ALTER TABLE stash.scratch OWNER TO app`,
    steps: ['ALTER TABLE app.items SET SCHEMA stash; SELECT * FROM items', 'ALTER TABLE stash.scratch SET SCHEMA app', 'ALTER TABLE app.scratch RENAME TO items; SELECT * FROM items'],
    cleanup: 'DROP SCHEMA app CASCADE; DROP SCHEMA stash CASCADE',
  });
  assert.deepEqual(missed, []);
});

test('CREATE SCHEMA and ALTER SCHEMA … RENAME make "$user" a schema before the catalog shows it', async () => {
  const missed = await run({
    setup: 'CREATE SCHEMA stash AUTHORIZATION app; CREATE TABLE stash.items (id int, note text); ALTER TABLE stash.items OWNER TO app',
    steps: ['ALTER SCHEMA stash RENAME TO app; SELECT * FROM items', 'DROP SCHEMA app CASCADE', 'CREATE SCHEMA app; CREATE TABLE app.items (id int); SELECT * FROM items'],
    cleanup: 'DROP SCHEMA IF EXISTS app CASCADE',
  });
  assert.deepEqual(missed, []);
});

test('a function renamed to a built-in name is not trusted as the built-in', async () => {
  const missed = await run({
    setup: `CREATE FUNCTION public.shout(integer) RETURNS text LANGUAGE sql AS $$ SELECT 'user code' $$; ALTER FUNCTION public.shout(integer) OWNER TO app`,
    steps: ['ALTER FUNCTION public.shout(integer) RENAME TO lower; SELECT lower(1)'],
    cleanup: 'DROP FUNCTION public.lower(integer)',
  });
  assert.deepEqual(missed, []);
});

test('sequences named in a string are reported; a computed one is opaque', async () => {
  const missed = await run({
    steps: [
      `SELECT nextval('hidden.counter')`,
      `SELECT setval(' "hidden" . COUNTER '::regclass, 5)`,
      `SELECT pg_catalog.nextval('${server.database}.hidden.counter'::text::regclass)`,
      `SELECT nextval(oid) FROM pg_catalog.pg_class WHERE relname = 'counter'`,
      `SELECT nextval(c.oid::regclass) FROM pg_catalog.pg_class c WHERE relname = 'counter'`,
    ],
  });
  assert.deepEqual(missed, []);
});

test('inheritance children and partitions are reported with their parent', async () => {
  const missed = await run({
    steps: ['SELECT * FROM events', 'UPDATE events SET note = note WHERE id > 0', 'SELECT count(*) FROM measures', 'DELETE FROM public.measures WHERE id = 1', "INSERT INTO measures VALUES (2, 'x')"],
  });
  assert.deepEqual(missed, []);
});

test('a temporary domain named like a built-in type is not trusted in a cast, with or without a temporary table', async () => {
  for (const rereadCatalog of [false, true]) {
    const missed = await run({
      rereadCatalog,
      steps: [`CREATE DOMAIN pg_temp.int4 AS integer CHECK (pg_catalog.nextval('hidden.counter') > 0)`, `SELECT '1'::int4`, `SELECT CAST('2' AS int4)`],
    });
    assert.deepEqual(missed, [], `catalog read again: ${rereadCatalog}`);
  }
});

test('values converted into a type whose domain checks run code are opaque: composite and row types, column definition lists, XMLTABLE, populate_record', async () => {
  const missed = await run({
    setup: `CREATE SEQUENCE public.ticks; GRANT ALL ON SEQUENCE public.ticks TO app;
            CREATE DOMAIN public.ticking AS integer CHECK (pg_catalog.nextval('public.ticks') > 0);
            CREATE TYPE public.pair AS (x public.ticking, y int);
            CREATE TABLE public.tocked (x public.ticking); GRANT ALL ON public.tocked TO app; INSERT INTO public.tocked VALUES (1)`,
    steps: [
      `SELECT '(1,2)'::pair`,
      `SELECT CAST('(2)' AS tocked)`,
      `SELECT * FROM jsonb_populate_record(null::tocked, '{"x": 3}')`,
      `SELECT jsonb_populate_record(t, '{"x": 4}') FROM tocked t`,
      `SELECT * FROM json_to_record('{"x": 5}') AS r(x ticking)`,
      `SELECT * FROM ROWS FROM (json_to_record('{"x": 6}') AS (x ticking))`,
      `SELECT * FROM xmltable('/a' PASSING '<a>7</a>' COLUMNS x ticking PATH '.')`,
    ],
    cleanup: 'DROP TABLE public.tocked; DROP TYPE public.pair; DROP DOMAIN public.ticking; DROP SEQUENCE public.ticks',
  });
  assert.deepEqual(missed, []);
});

test('a composite type or table made in the session with a domain column is a code-running type before the catalog shows it', async () => {
  const missed = await run({
    setup: `CREATE SEQUENCE public.ticks; GRANT ALL ON SEQUENCE public.ticks TO app;
            CREATE DOMAIN public.ticking AS integer CHECK (pg_catalog.nextval('public.ticks') > 0)`,
    steps: [`CREATE TYPE public.pair AS (x ticking); SELECT '(1)'::pair`, `CREATE TABLE tocked (x ticking); SELECT '(2)'::tocked`],
    cleanup: 'DROP TABLE public.tocked; DROP TYPE public.pair; DROP DOMAIN public.ticking; DROP SEQUENCE public.ticks',
  });
  assert.deepEqual(missed, []);
});

test('foreign keys whose ON DELETE / ON UPDATE action writes the referencing table report it with the DELETE or UPDATE', async () => {
  const missed = await run({
    writesOnly: true,
    setup: `CREATE TABLE public.accounts (id int PRIMARY KEY); INSERT INTO public.accounts VALUES (1), (2), (3);
            CREATE TABLE hidden.ledger (account int REFERENCES public.accounts ON DELETE CASCADE ON UPDATE CASCADE, note text);
            CREATE TABLE hidden.audit_trail (account int REFERENCES public.accounts ON DELETE SET NULL);
            INSERT INTO hidden.ledger VALUES (1, 'a'), (2, 'b'); INSERT INTO hidden.audit_trail VALUES (3);
            GRANT ALL ON public.accounts, hidden.ledger, hidden.audit_trail TO app`,
    steps: ['DELETE FROM accounts WHERE id = 1', 'UPDATE accounts SET id = 20 WHERE id = 2', 'DELETE FROM accounts WHERE id = 3'],
    cleanup: 'DROP TABLE hidden.ledger, hidden.audit_trail, public.accounts',
  });
  assert.deepEqual(missed, []);
});

test('tables made by the elements of CREATE SCHEMA are in the new schema, and "$user" finds them', async () => {
  const missed = await run({
    steps: ['CREATE SCHEMA app CREATE TABLE items (id int, note text) CREATE VIEW notes AS SELECT 1 AS one; SELECT * FROM items', 'SELECT * FROM items'],
    cleanup: 'DROP SCHEMA app CASCADE',
  });
  assert.deepEqual(missed, []);
});
