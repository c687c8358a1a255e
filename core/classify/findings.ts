// What a walk over one statement's parse tree has found so far.
import { writtenRelationName } from './relation-names.js';
import { readsServerSecrets } from './server-secrets.js';
import { moreDangerous, type ColumnUses, type StatementClass, type StatementInspection } from '../model.js';

export class Findings {
  class: StatementClass = 'read';
  readonly types = new Set<string>();
  readonly tables = new Set<string>();
  readonly functions = new Set<string>();
  readonly operators = new Set<string>();
  readonly castTypes = new Set<string>();
  readonly attributes = new Set<string>();
  /** `name/argument count` of each function call, for telling overloads apart (session-scope.ts). */
  readonly calls = new Set<string>();
  /**
   * CTE names in scope, innermost query level last: an unqualified reference to one of them is
   * the CTE, not a table, and only inside the query level (and the later CTEs) that defines it.
   */
  readonly cteScopes: Set<string>[] = [];
  readonly reasons: string[] = [];
  dmlWithoutWhere = false;
  liftsServerLimits = false;
  /** True once an EXECUTE was seen: the verdict then depends on session state and is not cached. */
  executes = false;
  prepare?: StatementInspection['prepare'];
  /** Columns used in conditions or transformed (column-uses.ts), this statement's and absorbed ones. */
  columnUses?: ColumnUses;
  deallocate?: StatementInspection['deallocate'];

  /** True when an unqualified relation name is a CTE visible here. */
  isCte(name: string): boolean {
    return this.cteScopes.some((scope) => scope.has(name));
  }

  raise(cls: StatementClass, reason?: string): void {
    this.class = moreDangerous(this.class, cls);
    if (reason && !this.reasons.includes(reason)) this.reasons.push(reason);
  }

  /** Takes in everything another inspection found, as if its statement were written here. */
  absorb(other: StatementInspection, reasonPrefix = ''): void {
    this.raise(other.class);
    for (const r of other.reasons) this.raise(other.class, reasonPrefix + r);
    for (const t of other.statementTypes) this.types.add(t);
    for (const t of other.tables) this.tables.add(t);
    for (const f of other.functions) this.functions.add(f);
    this.absorbLookups(other);
    this.columnUses = mergeColumnUses(this.columnUses, other.columnUses);
    this.dmlWithoutWhere ||= other.dmlWithoutWhere;
    this.liftsServerLimits ||= other.liftsServerLimits ?? false;
  }

  absorbLookups(other: StatementInspection): void {
    for (const o of other.lookups?.operators ?? []) this.operators.add(o);
    for (const t of other.lookups?.types ?? []) this.castTypes.add(t);
    for (const a of other.lookups?.attributes ?? []) this.attributes.add(a);
    for (const c of other.lookups?.calls ?? []) this.calls.add(c);
  }

  toInspection(text: string): StatementInspection {
    const result: StatementInspection = {
      class: this.class,
      statementTypes: [...this.types],
      tables: [...this.tables],
      functions: [...this.functions],
      dmlWithoutWhere: this.dmlWithoutWhere,
      reasons: [...this.reasons],
      text,
    };
    if (this.liftsServerLimits) result.liftsServerLimits = true;
    if (readsServerSecrets(result.tables)) result.serverSecrets = true;
    if (this.operators.size || this.castTypes.size || this.attributes.size || this.calls.size) {
      result.lookups = { operators: [...this.operators], types: [...this.castTypes], attributes: [...this.attributes], calls: [...this.calls] };
    }
    if (this.prepare) result.prepare = this.prepare;
    if (this.columnUses) result.columnUses = this.columnUses;
    if (this.deallocate !== undefined) result.deallocate = this.deallocate;
    return result;
  }
}

/** Two statements' column uses as one (EXECUTE of a prepared statement, function bodies). */
export function mergeColumnUses(a: ColumnUses | undefined, b: ColumnUses | undefined): ColumnUses | undefined {
  if (!a) return b;
  if (!b) return a;
  const aliases = new Map<string, string[]>(a.aliases);
  for (const [k, v] of b.aliases) aliases.set(k, [...new Set([...(aliases.get(k) ?? []), ...v])]);
  return {
    predicates: [...new Set([...a.predicates, ...b.predicates])],
    transformed: [...new Set([...a.transformed, ...b.transformed])],
    aliases: [...aliases],
  };
}

/** Prepared statements as seen by the session (and by earlier statements of the same string). */
export type PreparedLookup = (name: string) => StatementInspection | undefined;

/** What statement rules may ask of the walker. */
export interface WalkContext {
  findings: Findings;
  prepared: PreparedLookup | undefined;
  /** Walks a subtree into the current findings. */
  walk(value: unknown): void;
  /** Inspects a subtree as a statement of its own (EXPLAIN's target, PREPARE's body). */
  inspectNested(node: unknown, text: string): { inspection: StatementInspection; executes: boolean };
  /** Parses and inspects SQL held in a string (a LANGUAGE sql function body); undefined if it does not parse. */
  inspectSqlText(sql: string): StatementInspection[] | undefined;
}

export type NodeBody = Record<string, unknown>;

/** A rule looks at one node; it returns 'handled' when it walked the node's children itself. */
export type NodeRule = (body: NodeBody, ctx: WalkContext) => void | 'handled';

// ---- small readers of parse-tree shapes, shared by the rules ----

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** `[{String:{sval:'pg_catalog'}}, {String:{sval:'lower'}}]` → `['pg_catalog', 'lower']` */
export function nameParts(list: unknown): string[] {
  const parts: string[] = [];
  for (const item of asArray(list)) {
    if (isRecord(item) && isRecord(item.String)) parts.push(String(item.String.sval ?? ''));
    else if (isRecord(item) && isRecord(item.A_Star)) parts.push('*');
  }
  return parts;
}

export function lowerName(parts: string[]): string {
  return parts.map((p) => p.toLowerCase()).join('.');
}

/** RangeVar body → `schema.table` as written (exact case, quoted where needed; see relation-names.ts). */
export function rangeVarName(rv: NodeBody): string {
  return writtenRelationName(rv);
}

/**
 * How many times a rule has read the value of a constant. Every rule that reads one must do so
 * through `constText`: a verdict reached without reading any holds for every value the constants
 * could take, which is what lets the classifier reuse it for statements of the same shape.
 */
export const constantReads = { count: 0 };

/** Value of a constant node (`A_Const`, `String`, `Boolean`, `Integer`), as text. */
export function constText(node: unknown): string | undefined {
  if (!isRecord(node)) return undefined;
  constantReads.count++;
  const inner = isRecord(node.A_Const) ? node.A_Const : node;
  for (const [key, field] of [['sval', 'sval'], ['ival', 'ival'], ['fval', 'fval'], ['boolval', 'boolval']] as const) {
    const holder = inner[key];
    if (isRecord(holder)) return String(holder[field] ?? (key === 'ival' ? 0 : key === 'boolval' ? false : ''));
  }
  if (isRecord(inner.String)) return String(inner.String.sval ?? '');
  if (isRecord(inner.Boolean)) return String(inner.Boolean.boolval ?? false);
  if (isRecord(inner.Integer)) return String(inner.Integer.ival ?? 0);
  return undefined;
}

/** DefElem list → map of option name → the DefElem's argument. */
export function defElems(list: unknown): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const item of asArray(list)) {
    if (isRecord(item) && isRecord(item.DefElem) && typeof item.DefElem.defname === 'string') {
      out.set(item.DefElem.defname.toLowerCase(), item.DefElem.arg);
    }
  }
  return out;
}

/** A DefElem option given without a value, or with one that is not plainly false, is on. */
export function optionOn(options: Map<string, unknown>, name: string): boolean {
  if (!options.has(name)) return false;
  const arg = options.get(name);
  if (arg === undefined) return true;
  const text = constText(arg)?.toLowerCase();
  return !(text === 'false' || text === 'off' || text === '0' || text === 'no');
}
