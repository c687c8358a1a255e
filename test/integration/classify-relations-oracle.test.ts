// Oracle test for relation resolution: thousands of generated statements with random CTEs (named
// like tables, nested, recursive), schema qualification, three-part names, quoting and case
// variants and aliases. For each, the set of relations the gateway reports (classifier + session
// resolver with the target's catalog and search_path) must equal the set PostgreSQL itself scans,
// as EXPLAIN (VERBOSE, FORMAT JSON) names them with their schemas.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import pg from 'pg';
import { startPostgres, type RunningPostgres } from '../support/pg-server.js';
import { loadSqlInspector } from '../../core/classify/index.js';
import { SqlSessionScope } from '../../core/classify/session-scope.js';
import { buildTargetCatalog, CATALOG_QUERY, type CatalogRow, type TargetCatalog } from '../../core/classify/target-catalog.js';
import { qualifiedName } from '../../core/classify/relation-names.js';

const STATEMENTS = Number(process.env.AIRLOCK_ORACLE_STATEMENTS ?? 5000);
const BATCH = 100;

let server: RunningPostgres;
let client: pg.Client;
let catalog: TargetCatalog;
let database: string;

/** Tables (schema → names) the generator may name; every one has a column `a int`. */
const TABLES: Record<string, string[]> = {
  public: ['t1', 't2', 'Mixed', 'customers'],
  s1: ['t1', 't3', 'customers'],
  S2: ['t2', 'T1', 'tab x'],
  'odd schema': ['t1', 'tab x'],
  postgres: ['t3', 'customers'],
};
const CATALOG_TABLES = ['pg_class', 'pg_namespace', 'pg_authid', 'pg_proc'];
const CTE_NAMES = ['t1', 't2', 't3', 'customers', 'pg_class', 'Mixed', 'c'];
const PATHS = [
  'public', 's1, public', '"S2", s1', '"$user", public', 'pg_catalog, s1', 's1, pg_catalog, public', '"odd schema", "S2"',
  'pg_temp, s1', 's1, pg_temp, public', '', 'nosuch, "S2", public', '"$user", "odd schema"',
];

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

before(async () => {
  await loadSqlInspector();
  server = await startPostgres();
  client = new pg.Client({ host: server.superuser.host, port: server.superuser.port, user: 'postgres', database: server.database });
  await client.connect();
  database = server.database;
  const ddl: string[] = [];
  for (const [schema, tables] of Object.entries(TABLES)) {
    if (schema !== 'public') ddl.push(`CREATE SCHEMA ${ident(schema)}`);
    for (const t of tables) ddl.push(`CREATE TABLE ${ident(schema)}.${ident(t)} (a int)`);
  }
  await client.query(ddl.join(';\n'));
  const rows = await client.query({ text: CATALOG_QUERY, rowMode: 'array' });
  catalog = buildTargetCatalog(rows.rows as CatalogRow[]);
});

after(async () => {
  await client?.end();
  await server?.stop();
});

// ---- the generator ----

interface Level {
  /** CTE names visible here (the generator only references names that exist). */
  ctes: string[];
}

/** Spellings PostgreSQL reads as the same identifier: plain in any case when the name is plain lower case, else quoted. */
function spell(name: string): fc.Arbitrary<string> {
  if (/^[a-z_][a-z0-9_]*$/.test(name)) {
    return fc.constantFrom(name, name.toUpperCase(), name[0]!.toUpperCase() + name.slice(1), ident(name));
  }
  return fc.constant(ident(name));
}

/** Tables an unqualified name can reach under `path`: any table of a schema the path names, or pg_catalog's. */
function unqualifiedNames(path: string): string[] {
  const names = new Set(CATALOG_TABLES);
  for (const [schema, tables] of Object.entries(TABLES)) {
    const named = schema === 'postgres' ? path.includes('$user') : path.includes(schema === 'public' ? 'public' : `${schema}`);
    if (named) for (const t of tables) names.add(t);
  }
  return [...names];
}

function tableRef(path: string, level: Level): fc.Arbitrary<string> {
  const qualified = fc
    .constantFrom(...Object.entries(TABLES).flatMap(([s, ts]) => ts.map((t) => [s, t] as const)), ...CATALOG_TABLES.map((t) => ['pg_catalog', t] as const))
    .chain(([schema, table]) =>
      fc.tuple(spell(schema), spell(table), fc.boolean()).map(([s, t, threePart]) => (threePart ? `${database}.${s}.${t}` : `${s}.${t}`)),
    );
  const unqualified = fc.constantFrom(...unqualifiedNames(path)).chain(spell);
  const cte = level.ctes.length ? fc.constantFrom(...level.ctes).chain(spell) : unqualified;
  return fc.oneof(qualified, unqualified, cte);
}

function selectQuery(path: string, level: Level, depth: number): fc.Arbitrary<string> {
  const withClause =
    depth > 1
      ? fc.constant({ text: '', names: [] as string[] })
      : fc
          .tuple(fc.uniqueArray(fc.constantFrom(...CTE_NAMES), { maxLength: 2 }), fc.boolean())
          .chain(([names, recursive]) => cteList(path, level, names, recursive, depth));
  return withClause.chain(({ text, names }) => {
    const inner: Level = { ctes: [...level.ctes, ...names] };
    // Every CTE of this level is referenced (PostgreSQL does not plan an unreferenced one).
    const forced = names.map((n) => spell(n));
    const extra = fc.array(tableRef(path, inner), { minLength: names.length ? 0 : 1, maxLength: 2 });
    const sub = depth > 1 ? fc.constant('') : fc.option(selectQuery(path, inner, depth + 1), { nil: undefined }).map((q) => (q ? ` WHERE EXISTS (${q})` : ''));
    return fc.tuple(fc.tuple(...forced), extra, sub, fc.shuffledSubarray(['x', 't1', 't2', 'customers', 'pg_class', 'y', 'z', 'w'], { minLength: 4, maxLength: 4 })).map(
      ([f, e, where, aliases]) => {
        const items = [...f, ...e].map((ref, i) => `${ref} AS ${aliases[i] ?? `a${i}`}`);
        return `${text}SELECT 1 FROM ${items.join(', ')}${where}`;
      },
    );
  });
}

function cteList(path: string, level: Level, names: string[], recursive: boolean, depth: number): fc.Arbitrary<{ text: string; names: string[] }> {
  if (names.length === 0) return fc.constant({ text: '', names });
  const bodies = names.map((n, i) => {
    // Non-recursive: a CTE sees the ones before it; under RECURSIVE, all of them (used here by self-reference only).
    const visible: Level = { ctes: [...level.ctes, ...names.slice(0, i)] };
    if (recursive) return spell(n).map((self) => `SELECT 1 AS a UNION ALL SELECT a + 1 FROM ${self} WHERE a < 3`);
    return selectQuery(path, visible, depth + 1).map((q) => `SELECT 1 AS a FROM (${q}) AS q`);
  });
  return fc.tuple(...bodies.map((b, i) => fc.tuple(spell(names[i]!), b))).map((parts) => ({
    text: `WITH ${recursive ? 'RECURSIVE ' : ''}${parts.map(([n, b]) => `${n} AS (${b})`).join(', ')} `,
    names,
  }));
}

function dmlStatement(path: string): fc.Arbitrary<string> {
  const targets = Object.entries(TABLES).flatMap(([s, ts]) => ts.map((t) => [s, t] as const));
  const qualified = fc.constantFrom(...targets).chain(([s, t]) => fc.tuple(spell(s), spell(t)).map(([a, b]) => `${a}.${b}`));
  const plain = unqualifiedNames(path).filter((n) => !CATALOG_TABLES.includes(n));
  const target = plain.length ? fc.oneof(qualified, fc.constantFrom(...plain).chain(spell)) : qualified;
  return fc.tuple(fc.uniqueArray(fc.constantFrom(...CTE_NAMES), { minLength: 1, maxLength: 2 }), target, fc.constantFrom('insert', 'delete', 'update')).chain(
    ([names, t, verb]) =>
      cteList(path, { ctes: [] }, names, false, 1).chain(({ text }) =>
        fc.tuple(...names.map(spell)).map((refs) => {
          const from = refs.map((r, i) => `${r} AS u${i}`).join(', ');
          if (verb === 'insert') return `${text}INSERT INTO ${t} (a) SELECT 1 FROM ${from}`;
          if (verb === 'delete') return `${text}DELETE FROM ${t} AS tgt USING ${from} WHERE tgt.a = u0.a`;
          return `${text}UPDATE ${t} AS tgt SET a = 2 FROM ${from} WHERE tgt.a = u0.a`;
        }),
      ),
  );
}

// ---- the oracle ----

function scannedRelations(plan: unknown, out: Set<string>): Set<string> {
  if (Array.isArray(plan)) for (const p of plan) scannedRelations(p, out);
  else if (plan && typeof plan === 'object') {
    const node = plan as Record<string, unknown>;
    if (typeof node['Relation Name'] === 'string') {
      const schema = String(node.Schema).replace(/^pg_temp_\d+$/, 'pg_temp');
      out.add(qualifiedName(schema, node['Relation Name']));
    }
    for (const v of Object.values(node)) if (v && typeof v === 'object') scannedRelations(v, out);
  }
  return out;
}

async function explainAll(statements: string[]): Promise<(Set<string> | Error)[]> {
  const text = statements.map((s) => `EXPLAIN (VERBOSE, FORMAT JSON) ${s}`).join(';\n');
  try {
    const results = (await client.query(text)) as unknown as pg.QueryResult[] | pg.QueryResult;
    const list = Array.isArray(results) ? results : [results];
    return list.map((r) => scannedRelations(r.rows[0]['QUERY PLAN'], new Set()));
  } catch {
    // One statement of the batch failed: find out which, one by one.
    const out: (Set<string> | Error)[] = [];
    for (const s of statements) {
      try {
        const r = await client.query(`EXPLAIN (VERBOSE, FORMAT JSON) ${s}`);
        out.push(scannedRelations(r.rows[0]['QUERY PLAN'], new Set()));
      } catch (err) {
        out.push(err as Error);
      }
    }
    return out;
  }
}

test(`the gateway names exactly the relations PostgreSQL scans (${STATEMENTS} generated statements)`, { timeout: 120_000 }, async () => {
  const started = Date.now();
  const rng = fc.integer({ min: 0, max: PATHS.length - 1 });
  const seed = Number(process.env.AIRLOCK_ORACLE_SEED ?? Date.now() % 2 ** 31);
  let compared = 0;
  let serverErrors = 0;
  let explainMs = 0;
  let inspectMs = 0;
  const mismatches: string[] = [];
  for (let batch = 0; compared + serverErrors < STATEMENTS; batch++) {
    const path = PATHS[fc.sample(rng, { seed: seed + batch, numRuns: 1 })[0]!]!;
    const temp = batch % 3 === 0; // a temporary t2 shadows the others wherever pg_temp is searched
    await client.query(`DISCARD TEMP; SET search_path = ${path === '' ? "''" : path}`);
    const scope = new SqlSessionScope({ user: 'postgres', searchPath: path === '' ? '""' : path, catalog: () => catalog });
    if (path === '') await client.query(`SET search_path = ''`);
    if (temp) {
      await client.query('CREATE TEMP TABLE t2 (a int)');
      scope.inspect('CREATE TEMP TABLE t2 (a int)');
    }
    const statements = fc.sample(fc.oneof({ weight: 4, arbitrary: selectQuery(path, { ctes: [] }, 0) }, { weight: 1, arbitrary: dmlStatement(path) }), {
      seed: seed + batch,
      numRuns: BATCH,
    });
    if (process.env.AIRLOCK_ORACLE_SHOW && batch === 0) console.log(statements.slice(0, 8).join('\n'));
    const t0 = Date.now();
    const actual = await explainAll(statements);
    explainMs += Date.now() - t0;
    for (const [i, sql] of statements.entries()) {
      const truth = actual[i]!;
      if (truth instanceof Error) {
        serverErrors++;
        continue;
      }
      const t1 = performance.now();
      const inspection = scope.inspect(sql);
      inspectMs += performance.now() - t1;
      assert.ok(inspection.ok, `${sql}: ${!inspection.ok ? inspection.error : ''}`);
      const ours = new Set(inspection.statements.flatMap((s) => s.tables));
      compared++;
      const same = ours.size === truth.size && [...ours].every((t) => truth.has(t));
      if (!same && mismatches.length < 5) {
        mismatches.push(`search_path=${path || "''"}${temp ? ' (+temp t2)' : ''}\n  ${sql}\n  gateway:    ${[...ours].sort().join(' ')}\n  PostgreSQL: ${[...truth].sort().join(' ')}`);
      }
    }
  }
  const seconds = (Date.now() - started) / 1000;
  console.log(`# oracle: ${compared} statements compared, ${serverErrors} refused by the server, ${seconds.toFixed(1)} s, ${(explainMs / 1000).toFixed(1)} s of it in EXPLAIN, ${(inspectMs / 1000).toFixed(1)} s inspecting (seed ${seed})`);
  assert.deepEqual(mismatches, [], `seed ${seed}`);
  assert.ok(compared >= 5000, `only ${compared} statements were compared (${serverErrors} failed on the server)`);
});
