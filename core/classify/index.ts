// The SQL statement classifier: every statement passes through inspectSql() before policy
// decides. Verdicts are cached on the SQL text unless they depended on session state, and on the
// statement's shape (its text without constants) when they could not depend on constants either.
import type { Inspection, StatementClass, StatementInspection } from '../model.js';
import { moreDangerous } from '../model.js';
import { constantReads, type PreparedLookup } from './findings.js';
import { inspectStatement } from './inspect-statement.js';
import { literalShape, singleStatementText } from './literal-shape.js';
import { LruCache } from '../lru.js';
import { loadParser, parseStatements, prepareBodyText } from './parser.js';

export type { PreparedLookup } from './findings.js';

const CACHE_ENTRIES = 2000;
/** Longer texts are inspected every time: caching them would let clients pin a lot of memory. */
const CACHE_MAX_SQL_LENGTH = 16 * 1024;

/**
 * Statement kinds whose verdict may be shared by shape. Anything else (SET, EXPLAIN with options,
 * utility statements carrying names or code in strings) is parsed every time it changes.
 */
const SHAPE_CACHED_ROOTS = new Set(['SelectStmt', 'InsertStmt', 'UpdateStmt', 'DeleteStmt']);

const cache = new LruCache<string, Inspection>(CACHE_ENTRIES);
/** Shape → the verdict for any single statement of that shape, without its text. */
const shapes = new LruCache<string, Omit<StatementInspection, 'text'>>(CACHE_ENTRIES);
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
  let cacheable = sql.length <= CACHE_MAX_SQL_LENGTH;
  const shape = cacheable ? literalShape(sql) : undefined;
  const sameShape = shape === undefined ? undefined : shapes.get(shape);
  if (sameShape) return withText(sameShape, singleStatementText(sql));
  let result: Inspection;
  try {
    const readsBefore = constantReads.count;
    const verdict = inspectUncached(sql, prepared);
    result = verdict.result;
    cacheable &&= !verdict.executes;
    if (cacheable && shape !== undefined && constantReads.count === readsBefore && shapeable(sql, verdict)) {
      const { text: _text, ...facts } = (result as Extract<Inspection, { ok: true }>).statements[0]!;
      deepFreeze(facts);
      shapes.set(shape, facts);
    }
  } catch (err) {
    // A tree deep enough to exhaust the stack, or a parser fault: fail closed.
    const why = err instanceof RangeError ? 'statement is too deeply nested to inspect' : 'statement could not be inspected';
    result = { ok: false, error: why };
  }
  deepFreeze(result);
  if (cacheable) cache.set(sql, result);
  return result;
}

/** A single plain DML statement whose recorded text is the whole string: its verdict holds for its shape. */
function shapeable(sql: string, verdict: Uncached): boolean {
  if (!verdict.result.ok || verdict.result.statements.length !== 1 || verdict.roots.length !== 1) return false;
  const s = verdict.result.statements[0]!;
  return SHAPE_CACHED_ROOTS.has(verdict.roots[0]!) && !s.prepare && s.deallocate === undefined && s.text === singleStatementText(sql);
}

function withText(facts: Omit<StatementInspection, 'text'>, text: string): Inspection {
  const statement: StatementInspection = Object.freeze({ ...facts, text });
  return Object.freeze({ ok: true, statements: Object.freeze([statement]) as StatementInspection[], class: facts.class });
}

interface Uncached {
  result: Inspection;
  executes: boolean;
  /** Node type of each top-level statement, e.g. `SelectStmt`. */
  roots: string[];
}

function inspectUncached(sql: string, prepared: PreparedLookup | undefined): Uncached {
  if (sql.trim() === '') return { result: { ok: true, statements: [], class: 'read' }, executes: false, roots: [] };
  const parsed = parseStatements(sql);
  if (!parsed.ok) return { result: parsed, executes: false, roots: [] };

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
  return { result: { ok: true, statements, class: cls }, executes, roots: parsed.statements.map((s) => Object.keys(s.node)[0] ?? '') };
}

function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const child of Object.values(value)) deepFreeze(child);
}

/** For tests and benchmarks: forget cached verdicts. */
export function clearSqlInspectionCache(): void {
  cache.clear();
  shapes.clear();
}
