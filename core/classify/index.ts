// The SQL statement classifier: every statement passes through inspectSql() before policy
// decides. Verdicts are cached on the SQL text unless they depended on session state.
import type { Inspection, StatementClass, StatementInspection } from '../model.js';
import { moreDangerous } from '../model.js';
import type { PreparedLookup } from './findings.js';
import { inspectStatement } from './inspect-statement.js';
import { LruCache } from './lru.js';
import { loadParser, parseStatements, prepareBodyText } from './parser.js';

export type { PreparedLookup } from './findings.js';

const CACHE_ENTRIES = 2000;
/** Longer texts are inspected every time: caching them would let clients pin a lot of memory. */
const CACHE_MAX_SQL_LENGTH = 16 * 1024;

const cache = new LruCache<string, Inspection>(CACHE_ENTRIES);
let ready = false;

/** Loads the WASM parser; call once at startup before inspectSql(). */
export async function loadSqlInspector(): Promise<void> {
  await loadParser();
  ready = true;
}

/**
 * Classifies a (possibly multi-statement) SQL string. Synchronous once loaded. Never throws:
 * anything that cannot be inspected comes back as `{ ok: false }`, which callers must refuse.
 * Results are frozen (they may be shared through the cache).
 */
export function inspectSql(sql: string, prepared?: PreparedLookup): Inspection {
  if (!ready) return { ok: false, error: 'SQL inspector not loaded (call loadSqlInspector() first)' };
  const cached = cache.get(sql);
  if (cached) return cached;
  let result: Inspection;
  let cacheable = sql.length <= CACHE_MAX_SQL_LENGTH;
  try {
    const verdict = inspectUncached(sql, prepared);
    result = verdict.result;
    cacheable &&= !verdict.executes;
  } catch (err) {
    // A tree deep enough to exhaust the stack, or a parser fault: fail closed.
    const why = err instanceof RangeError ? 'statement is too deeply nested to inspect' : 'statement could not be inspected';
    result = { ok: false, error: why };
  }
  deepFreeze(result);
  if (cacheable) cache.set(sql, result);
  return result;
}

function inspectUncached(sql: string, prepared: PreparedLookup | undefined): { result: Inspection; executes: boolean } {
  if (sql.trim() === '') return { result: { ok: true, statements: [], class: 'read' }, executes: false };
  const parsed = parseStatements(sql);
  if (!parsed.ok) return { result: parsed, executes: false };

  // Statements earlier in the same string are visible to later ones: `PREPARE p AS …; EXECUTE p`.
  const local = new Map<string, StatementInspection | null>();
  const lookup: PreparedLookup = (name) => {
    const here = local.get(name);
    if (here !== undefined) return here ?? undefined;
    if (local.has('*')) return undefined;
    return prepared?.(name);
  };

  const statements: StatementInspection[] = [];
  let executes = false;
  let cls: StatementClass = 'read';
  for (const s of parsed.statements) {
    const verdict = inspectStatement(s.node, s.text, lookup);
    const inspection = verdict.inspection;
    if (inspection.prepare) inspection.prepare.body.text = prepareBodyText(s.text);
    if (inspection.prepare) local.set(inspection.prepare.name, inspection.prepare.body);
    if (inspection.deallocate === '*') {
      local.clear();
      local.set('*', null);
    } else if (inspection.deallocate !== undefined) {
      local.set(inspection.deallocate, null);
    }
    executes ||= verdict.executes;
    cls = moreDangerous(cls, inspection.class);
    statements.push(inspection);
  }
  return { result: { ok: true, statements, class: cls }, executes };
}

function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const child of Object.values(value)) deepFreeze(child);
}

/** For tests and benchmarks: forget cached verdicts. */
export function clearSqlInspectionCache(): void {
  cache.clear();
}
