// Oracle test for calls of built-in names when same-named functions exist outside pg_catalog
// (overloads with other argument counts, defaults, variadic ones, and same-arity shadows). For
// each generated call under a random search_path, PostgreSQL itself shows which function it chose:
// every function outside pg_catalog records its own name in a setting when it runs. The gateway
// must never trust a call that PostgreSQL resolved to such a function, and must trust a call that
// no function outside pg_catalog can take by its number of arguments.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import pg from 'pg';
import { startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { loadSqlInspector } from '../../core/classify/index.js';
import { SqlSessionScope } from '../../core/classify/session-scope.js';
import { buildTargetCatalog, CATALOG_QUERY, type CatalogRow, type TargetCatalog } from '../../core/classify/target-catalog.js';

/** Calls the server accepted, compared (calls it refuses, wrong types mostly, are generated too and skipped). */
const STATEMENTS = Number(process.env.AIRLOCK_ORACLE_STATEMENTS ?? 2000);
const BATCH = 100;

let server: RunningPostgres;
let client: pg.Client;
let catalog: TargetCatalog;

/** Functions outside pg_catalog with built-in names: schema, name, parameter list (types, defaults, VARIADIC). */
const SHADOWS: [schema: string, name: string, params: string][] = [
  ['s1', 'lower', 'int, int'], // another arity than lower(text)
  ['s1', 'upper', 'text, text, text'],
  ['public', 'md5', 'int'], // same arity as md5(text): an int argument chooses it
  ['S2', 'btrim', "text, text, text DEFAULT 'x'"], // two or three arguments
  ['s1', 'abs', 'text, int'],
  ['S2', 'round', 'numeric, int, int'],
  ['s1', 'concat_ws', 'int, VARIADIC int[]'], // any number from one up
  ['public', 'length', 'text, text, text, text'],
];
/** Built-ins the calls name, with how many arguments their pg_catalog versions take. */
const CALLS = ['lower', 'upper', 'md5', 'btrim', 'abs', 'round', 'concat_ws', 'length', 'initcap', 'reverse'];
const PATHS = ['public', 's1, public', '"S2", s1', '"$user", public', 's1, pg_catalog, public', '"S2", pg_catalog', 'pg_catalog, s1, "S2"', '', 'nosuch'];
const ARGS = ['b', 'b', "'x'::text", "'y'", 'a', 'a::numeric'];

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

before(async () => {
  await loadSqlInspector();
  server = await startPostgres();
  client = new pg.Client({ host: server.superuser.host, port: server.superuser.port, user: 'postgres', database: server.database });
  await client.connect();
  const ddl = ['CREATE SCHEMA s1', 'CREATE SCHEMA "S2"', 'CREATE TABLE public.t (a int, b text)', "INSERT INTO public.t VALUES (3, 'b')"];
  for (const [schema, name, params] of SHADOWS) {
    const returns = name === 'lower' || name === 'upper' || name === 'md5' || name === 'btrim' ? 'text' : name === 'round' ? 'numeric' : name === 'abs' ? 'int' : name === 'length' ? 'int' : 'text';
    // Volatile, so never folded away: it runs once per row and says so.
    ddl.push(
      `CREATE FUNCTION ${ident(schema)}.${name}(${params}) RETURNS ${returns} VOLATILE LANGUAGE sql AS $f$ SELECT (pg_catalog.set_config('oracle.hit', '${schema}.${name}', false) IS NULL)::int::text::${returns} $f$`,
    );
  }
  await client.query(ddl.join(';\n'));
  const rows = await client.query({ text: CATALOG_QUERY, rowMode: 'array' });
  catalog = buildTargetCatalog(rows.rows as CatalogRow[]);
});

after(async () => {
  await client?.end();
  await server?.stop();
});

/** Whether any function outside pg_catalog named `name` can take `n` arguments (the test's own table). */
function someShadowTakes(name: string, n: number): boolean {
  return SHADOWS.some(([, fname, params]) => {
    if (fname !== name) return false;
    const list = params.split(',').map((p) => p.trim());
    const defaults = list.filter((p) => /DEFAULT/.test(p)).length;
    if (list.some((p) => p.startsWith('VARIADIC'))) return n >= list.length - 1;
    return n >= list.length - defaults && n <= list.length;
  });
}

test(`the gateway never trusts a call PostgreSQL resolves outside pg_catalog, and trusts calls no overload can take (${STATEMENTS} generated calls)`, { timeout: 180_000 }, async () => {
  const seed = Number(process.env.AIRLOCK_ORACLE_SEED ?? Date.now() % 2 ** 31);
  const call = fc
    .tuple(fc.constantFrom(...CALLS), fc.array(fc.constantFrom(...ARGS), { maxLength: 4 }))
    .map(([name, args]) => ({ name, n: args.length, sql: `SELECT ${name}(${args.join(', ')}) FROM public.t` }));
  let compared = 0;
  let serverErrors = 0;
  let shadowChosen = 0;
  let trusted = 0;
  const unsound: string[] = [];
  const needless: string[] = [];
  for (let batch = 0; compared < STATEMENTS && batch < 20 * (STATEMENTS / BATCH); batch++) {
    const path = PATHS[batch % PATHS.length]!;
    await client.query(`SET search_path = ${path === '' ? "''" : path}`);
    const scope = new SqlSessionScope({ user: 'postgres', searchPath: path === '' ? '""' : path, catalog: () => catalog });
    for (const c of fc.sample(call, { seed: seed + batch, numRuns: BATCH })) {
      let hit: string;
      try {
        await client.query(`SELECT pg_catalog.set_config('oracle.hit', '', false)`);
        await client.query(c.sql);
        hit = (await client.query(`SELECT pg_catalog.current_setting('oracle.hit')`)).rows[0].current_setting;
      } catch {
        serverErrors++;
        continue;
      }
      compared++;
      const inspection = scope.inspect(c.sql);
      assert.ok(inspection.ok, c.sql);
      const ok = inspection.class === 'read';
      if (ok) trusted++;
      if (hit !== '') shadowChosen++;
      if (hit !== '' && ok && unsound.length < 5) unsound.push(`search_path=${path}: ${c.sql} ran ${hit}() but was trusted`);
      if (hit === '' && !ok && !someShadowTakes(c.name, c.n) && needless.length < 5) {
        needless.push(`search_path=${path}: ${c.sql} is refused (${inspection.statements[0]!.reasons.join('; ')}) though no overload takes ${c.n} arguments`);
      }
    }
  }
  console.log(`# overloads oracle: ${compared} calls compared (${shadowChosen} resolved outside pg_catalog by PostgreSQL), ${trusted} trusted, ${serverErrors} refused by the server (seed ${seed})`);
  assert.deepEqual(unsound, [], `seed ${seed}`);
  assert.deepEqual(needless, [], `seed ${seed}`);
  assert.ok(shadowChosen > 0 && trusted > 0, 'the generator must produce both kinds');
  assert.ok(compared >= STATEMENTS, `only ${compared} calls were compared`);
});
