// What one target's server has, as far as name resolution goes: which relations live in which
// schema, which functions, operators and types exist outside pg_catalog (each one could be chosen
// instead of a built-in), and which functions pg_catalog itself has. Read with CATALOG_QUERY on a
// connection of the target; the caller (the proxy) runs the query and hands over the rows.
import { qualifiedName } from './relation-names.js';

/**
 * One row of CATALOG_QUERY: a kind letter, a schema, a name, and for functions outside pg_catalog
 * their arity as `nargs/ndefaults/v` (`v` when variadic).
 */
export type CatalogRow = [kind: string, schema: string, name: string, detail?: string];

/** How many arguments a function outside pg_catalog takes: a call with another number cannot choose it. */
export interface FunctionArity {
  schema: string;
  nargs: number;
  ndefaults: number;
  variadic: boolean;
}

export interface TargetCatalog {
  /** Relation name → schemas holding a relation of that name (temporary schemas left out). */
  readonly relations: ReadonlyMap<string, readonly string[]>;
  readonly schemas: ReadonlySet<string>;
  /** Functions and procedures of pg_catalog, by name: a trusted name must be one of these. */
  readonly builtinFunctions: ReadonlySet<string>;
  /** Name → schemas of functions outside pg_catalog that are not part of an extension. */
  readonly functions: ReadonlyMap<string, readonly string[]>;
  /** Name → the arities of those functions, by schema. */
  readonly functionArities: ReadonlyMap<string, readonly FunctionArity[]>;
  /** Same, for functions of one argument: attribute notation `x.name` can call them. */
  readonly attributeFunctions: ReadonlyMap<string, readonly string[]>;
  /** Name → schemas of operators outside pg_catalog that are not part of an extension. */
  readonly operators: ReadonlyMap<string, readonly string[]>;
  /**
   * Name → schemas of types whose casts can run code someone wrote: domains (their CHECKs),
   * base and range types, composite types (tables' row types too) with a column of such a type
   * (`'(1)'::t` runs the column's domain checks), and any type with a cast through a function
   * outside pg_catalog.
   */
  readonly codeTypes: ReadonlyMap<string, readonly string[]>;
  /**
   * Canonical `schema.table` → its inheritance children and partitions (canonical), direct ones:
   * a statement on a parent reads and writes their rows too (without ONLY).
   */
  readonly children?: ReadonlyMap<string, readonly string[]>;
  /**
   * Canonical `schema.table` → tables with a foreign key to it whose ON DELETE action writes them
   * (CASCADE, SET NULL, SET DEFAULT): deleting here writes there.
   */
  readonly deleteActions?: ReadonlyMap<string, readonly string[]>;
  /** The same for ON UPDATE actions: updating a referenced key here writes there. */
  readonly updateActions?: ReadonlyMap<string, readonly string[]>;
  /** Every table with a foreign key to it (TRUNCATE … CASCADE empties them all). */
  readonly referencedBy?: ReadonlyMap<string, readonly string[]>;
  /** A cast between two built-in types goes through a function outside pg_catalog: no cast is trusted. */
  readonly userCastsOnBuiltins: boolean;
  /** When it was read (ms since epoch). */
  readonly loadedAt: number;
}

/** Most rows a catalog may have: beyond this, the target is treated as having no catalog (fail closed). */
export const MAX_CATALOG_ROWS = 1_000_000;

/**
 * One round trip, read-only, every row `(kind, schema, name)`. Objects that belong to an
 * extension are left out of the "could shadow a built-in" kinds: an extension is installed by an
 * administrator (or is a trusted extension) and is part of what the server offers, as built-ins are.
 */
export const CATALOG_QUERY = `
SELECT 'r', n.nspname::text, c.relname::text, ''
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p', 'S') AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
UNION ALL
SELECT 's', n.nspname::text, '', '' FROM pg_catalog.pg_namespace n WHERE n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
UNION ALL
SELECT DISTINCT 'b', 'pg_catalog', p.proname::text, ''
  FROM pg_catalog.pg_proc p WHERE p.pronamespace = 'pg_catalog'::pg_catalog.regnamespace
UNION ALL
SELECT CASE WHEN p.pronargs = 1 THEN 'a' ELSE 'f' END, n.nspname::text, p.proname::text,
       p.pronargs::text || '/' || p.pronargdefaults::text || '/' || CASE WHEN p.provariadic <> 0 THEN 'v' ELSE '' END
  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname <> 'pg_catalog'
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid AND d.deptype = 'e')
UNION ALL
SELECT 'o', n.nspname::text, o.oprname::text, ''
  FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace
 WHERE n.nspname <> 'pg_catalog'
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_operator'::pg_catalog.regclass AND d.objid = o.oid AND d.deptype = 'e')
UNION ALL
SELECT 't', n.nspname::text, t.typname::text, ''
  FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_type'::pg_catalog.regclass AND d.objid = t.oid AND d.deptype = 'e')
   AND (t.typtype IN ('d', 'b', 'r', 'm')
        OR (t.typtype = 'c' AND EXISTS (
              SELECT 1 FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type at ON at.oid = a.atttypid
               WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
                 AND at.typnamespace <> 'pg_catalog'::pg_catalog.regnamespace AND at.typtype <> 'e'))
        OR EXISTS (SELECT 1 FROM pg_catalog.pg_cast k JOIN pg_catalog.pg_proc p ON p.oid = k.castfunc
                    WHERE (k.castsource = t.oid OR k.casttarget = t.oid) AND p.pronamespace <> 'pg_catalog'::pg_catalog.regnamespace))
UNION ALL
SELECT 'h', pn.nspname::text, pc.relname::text, pg_catalog.json_build_array(cn.nspname, cc.relname)::text
  FROM pg_catalog.pg_inherits i
  JOIN pg_catalog.pg_class pc ON pc.oid = i.inhparent JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
  JOIN pg_catalog.pg_class cc ON cc.oid = i.inhrelid JOIN pg_catalog.pg_namespace cn ON cn.oid = cc.relnamespace
 WHERE pc.relkind IN ('r', 'p', 'f') AND cn.nspname !~ '^pg_(toast|temp_|toast_temp_)'
UNION ALL
SELECT DISTINCT kind.k, pn.nspname::text, pc.relname::text, pg_catalog.json_build_array(cn.nspname, cc.relname)::text
  FROM pg_catalog.pg_constraint k
  CROSS JOIN LATERAL (VALUES ('k'), (CASE WHEN k.confdeltype IN ('c', 'n', 'd') THEN 'kd' END),
                             (CASE WHEN k.confupdtype IN ('c', 'n', 'd') THEN 'ku' END)) AS kind(k)
  JOIN pg_catalog.pg_class pc ON pc.oid = k.confrelid JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
  JOIN pg_catalog.pg_class cc ON cc.oid = k.conrelid JOIN pg_catalog.pg_namespace cn ON cn.oid = cc.relnamespace
 WHERE k.contype = 'f' AND kind.k IS NOT NULL AND cn.nspname !~ '^pg_(toast|temp_|toast_temp_)'
UNION ALL
SELECT 'c', '', '', '' WHERE EXISTS (
  SELECT 1 FROM pg_catalog.pg_cast k JOIN pg_catalog.pg_proc p ON p.oid = k.castfunc
    JOIN pg_catalog.pg_type s ON s.oid = k.castsource JOIN pg_catalog.pg_type d ON d.oid = k.casttarget
   WHERE p.pronamespace <> 'pg_catalog'::pg_catalog.regnamespace
     AND s.typnamespace = 'pg_catalog'::pg_catalog.regnamespace AND d.typnamespace = 'pg_catalog'::pg_catalog.regnamespace)
`;

/** What each session needs of its own: who it is and its search_path as the server has it now. */
export const SESSION_QUERY = `SELECT pg_catalog.current_user()::text, pg_catalog.current_setting('search_path')`;

export function buildTargetCatalog(rows: Iterable<CatalogRow>, loadedAt = Date.now()): TargetCatalog {
  const relations = new Map<string, string[]>();
  const functions = new Map<string, string[]>();
  const functionArities = new Map<string, FunctionArity[]>();
  const attributeFunctions = new Map<string, string[]>();
  const operators = new Map<string, string[]>();
  const codeTypes = new Map<string, string[]>();
  const schemas = new Set<string>();
  const children = new Map<string, string[]>();
  const referencedBy = new Map<string, string[]>();
  const deleteActions = new Map<string, string[]>();
  const updateActions = new Map<string, string[]>();
  const builtinFunctions = new Set<string>();
  let userCastsOnBuiltins = false;
  const add = (map: Map<string, string[]>, name: string, schema: string) => {
    const list = map.get(name);
    if (!list) map.set(name, [schema]);
    else if (!list.includes(schema)) list.push(schema);
  };
  const arity = (name: string, schema: string, detail: string | undefined) => {
    const [nargs, ndefaults, variadic] = (detail ?? '').split('/');
    const parsed = { schema, nargs: Number(nargs), ndefaults: Number(ndefaults), variadic: variadic === 'v' };
    // Unreadable: any arity (Infinity defaults) — such a function can be chosen by any call.
    if (!Number.isInteger(parsed.nargs) || !Number.isInteger(parsed.ndefaults)) Object.assign(parsed, { nargs: 0, ndefaults: 0, variadic: true });
    const list = functionArities.get(name);
    if (list) list.push(parsed);
    else functionArities.set(name, [parsed]);
  };
  for (const [kind, schema, name, detail] of rows) {
    if (kind === 'a' || kind === 'f') arity(name, schema, detail);
    switch (kind) {
      case 'r': add(relations, name, schema); break;
      case 's': schemas.add(schema); break;
      case 'b': builtinFunctions.add(name); break;
      case 'a': add(attributeFunctions, name, schema); add(functions, name, schema); break;
      case 'f': add(functions, name, schema); break;
      case 'o': add(operators, name, schema); break;
      case 't': add(codeTypes, name, schema); break;
      case 'c': userCastsOnBuiltins = true; break;
      case 'h': relationEdge(children, schema, name, detail); break;
      case 'k': relationEdge(referencedBy, schema, name, detail); break;
      case 'kd': relationEdge(deleteActions, schema, name, detail); break;
      case 'ku': relationEdge(updateActions, schema, name, detail); break;
    }
  }
  return { relations, schemas, builtinFunctions, functions, functionArities, attributeFunctions, operators, codeTypes, children, referencedBy, deleteActions, updateActions, userCastsOnBuiltins, loadedAt };
}

/** An `h` or `k` row: the parent (referenced table) is the row's schema and name, the child (referencing table) a JSON `[schema, name]`. */
function relationEdge(children: Map<string, string[]>, schema: string, name: string, detail: string | undefined): void {
  let child: unknown;
  try {
    child = JSON.parse(detail ?? '');
  } catch {
    return;
  }
  if (!Array.isArray(child) || typeof child[0] !== 'string' || typeof child[1] !== 'string') return;
  const parent = qualifiedName(schema, name);
  const list = children.get(parent);
  const canonical = qualifiedName(child[0], child[1]);
  if (!list) children.set(parent, [canonical]);
  else if (!list.includes(canonical)) list.push(canonical);
}

/** `tables` with every inheritance descendant and partition of each (the catalog's), for what a statement may touch. */
export function withDescendants(tables: readonly string[], catalog: TargetCatalog | undefined): string[] {
  return closure(tables, catalog?.children, undefined);
}

/** What a foreign key's action follows from a statement: DELETE, UPDATE (MERGE both), TRUNCATE … CASCADE. */
export interface ForeignKeyReach {
  deletes: boolean;
  updates: boolean;
  truncatesCascade: boolean;
}

/**
 * `tables` with every table a foreign key's action writes from them (ON DELETE / ON UPDATE
 * CASCADE, SET NULL, SET DEFAULT; every referencing table for TRUNCATE … CASCADE), and those
 * tables' descendants, transitively (a cascaded delete cascades on).
 */
export function withForeignKeyActions(tables: readonly string[], catalog: TargetCatalog | undefined, reach: ForeignKeyReach): string[] {
  const edges = new Map<string, string[]>();
  const maps = [reach.deletes ? catalog?.deleteActions : undefined, reach.updates ? catalog?.updateActions : undefined, reach.truncatesCascade ? catalog?.referencedBy : undefined];
  for (const map of maps) for (const [k, v] of map ?? []) edges.set(k, [...(edges.get(k) ?? []), ...v]);
  return closure(tables, edges, catalog?.children);
}

function closure(tables: readonly string[], edges: ReadonlyMap<string, readonly string[]> | undefined, more: ReadonlyMap<string, readonly string[]> | undefined): string[] {
  const out = new Set(tables);
  if ((!edges || edges.size === 0) && (!more || more.size === 0)) return [...out];
  const children = { get: (t: string) => [...(edges?.get(t) ?? []), ...(more?.get(t) ?? [])] };
  const queue = [...tables];
  for (let t = queue.shift(); t !== undefined; t = queue.shift()) {
    for (const c of children.get(t) ?? []) {
      if (!out.has(c)) {
        out.add(c);
        queue.push(c);
      }
    }
  }
  return [...out];
}

/**
 * Whether a call with `args` arguments could choose this function. A function without defaults
 * needs exactly its number; defaults let fewer through; a variadic one takes any number from one
 * less than its fixed arguments up (the variadic array may get none when it has a default).
 */
export function arityCanMatch(f: FunctionArity, args: number): boolean {
  const least = Math.max(0, f.nargs - f.ndefaults - (f.variadic ? 1 : 0));
  return args >= least && (f.variadic || args <= f.nargs);
}
