// search_path the way PostgreSQL reads it (namespace.c, recomputeNamespacePath): which schemas an
// unqualified name is looked up in, in which order, and where CREATE puts a new relation.
//
// - pg_catalog is always searched; when the path does not name it, it is searched *first*.
// - The session's temporary schema is searched first for relations and types when the path does
//   not name it (pg_temp), and never for functions or operators.
// - "$user" stands for the schema named like the current user, when there is one; schemas that do
//   not exist are skipped.
// - A new relation goes into the first schema of the path as written that exists (not the
//   implicit pg_catalog).

import { splitIdentifierString } from './identifiers.js';

export const USER_SCHEMA = '$user';
export const TEMP_SCHEMA = 'pg_temp';

/**
 * Parses a search_path setting's text (`"$user", public`) as the server does: comma-separated
 * identifiers, quoted ones kept exactly, unquoted ones folded to lower case (ASCII only, as for a
 * UTF-8 database), each truncated to 63 bytes (identifiers.ts). Undefined when the text is not a
 * valid list (the server would refuse it too).
 */
export function parseSearchPath(text: string): string[] | undefined {
  return splitIdentifierString(text, ',');
}

/** The setting text PostgreSQL stores for `SET search_path = a, "B C"` (each element one schema). */
export function formatSearchPath(names: string[]): string {
  return names.map((n) => (/^[a-z_][a-z0-9_$]*$/.test(n) ? n : `"${n.replace(/"/g, '""')}"`)).join(', ');
}

/**
 * The first schema of `path` that a function or operator could come from ahead of pg_catalog,
 * or undefined when pg_catalog is searched first (named first, or not named: then it is implicit
 * and first). pg_temp is never searched for functions, so it may stand before pg_catalog.
 */
export function schemaBeforeCatalog(path: string[]): string | undefined {
  if (!path.includes('pg_catalog')) return undefined;
  for (const name of path) {
    if (name === 'pg_catalog') return undefined;
    if (name !== TEMP_SCHEMA) return name;
  }
  return undefined;
}

export interface PathFacts {
  /** Which schemas exist (a catalog's), or undefined when unknown: then every named schema is assumed to. */
  schemas?: ReadonlySet<string>;
  /** Current user, for "$user". */
  user: string;
  /** The session has (or may have) a temporary schema. */
  hasTemp: boolean;
}

/** Schemas searched for an unqualified relation or type name, in order. */
export function relationSearchOrder(path: string[], facts: PathFacts): string[] {
  const out: string[] = [];
  const exists = (s: string) => facts.schemas === undefined || facts.schemas.has(s);
  for (const raw of path) {
    const name = raw === USER_SCHEMA ? facts.user : raw;
    if (name === TEMP_SCHEMA) {
      if (facts.hasTemp && !out.includes(TEMP_SCHEMA)) out.push(TEMP_SCHEMA);
    } else if ((name === 'pg_catalog' || exists(name)) && !out.includes(name)) out.push(name);
  }
  if (!out.includes('pg_catalog')) out.unshift('pg_catalog');
  if (facts.hasTemp && !out.includes(TEMP_SCHEMA)) out.unshift(TEMP_SCHEMA);
  return out;
}

/** Schemas searched for an unqualified function, operator (no temporary schema). */
export function functionSearchOrder(path: string[], facts: PathFacts): string[] {
  return relationSearchOrder(path, { ...facts, hasTemp: false });
}

/** Where CREATE puts an unqualified new relation; undefined when no schema of the path exists. */
export function creationSchema(path: string[], facts: PathFacts): string | undefined {
  for (const raw of path) {
    const name = raw === USER_SCHEMA ? facts.user : raw;
    if (name === TEMP_SCHEMA) return TEMP_SCHEMA;
    if (facts.schemas === undefined ? raw !== USER_SCHEMA : facts.schemas.has(name)) return name;
  }
  return undefined;
}
