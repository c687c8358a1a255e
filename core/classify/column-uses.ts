// Where a statement uses columns in ways that can reveal a masked value without returning it:
// in a condition or an ordering (`WHERE email LIKE 'radia%'` counts rows, `ORDER BY email` sorts
// them), or passed through an expression whose result the gateway cannot tie back to the column
// (`reverse(email)`, `email::bytea`, `row_to_json(c)`). Masking works on result columns: a column
// returned as itself is masked on the way out, a column used anywhere else is not.
//
// The walk is syntactic and errs on the side of reporting: a name is reported as written (the last
// field of the reference), whatever relation it belongs to, and the session resolver
// (masked-column-uses.ts) decides which names are masked for the statement's canonical tables.
// Output names of subqueries, CTEs and select lists are kept with the names they come from, so a
// renamed column (`(SELECT email AS e …) s WHERE e …`) is followed back.
import type { ColumnUses } from '../model.js';
import { asArray, constText, isRecord, nameParts, type NodeBody } from './findings.js';
import { UNWRAPPED_FIELDS } from './statement-rules.js';

/** Any column of any table of the statement (a whole-row reference, or a rename we cannot follow). */
export const ANY_COLUMN = '*';

interface Flags {
  predicate: boolean;
  transform: boolean;
}
const OUTPUT: Flags = { predicate: false, transform: false };

/** Fields whose expressions decide which rows come back, or in which order. */
const PREDICATE_FIELDS = new Set([
  'whereClause', 'havingClause', 'quals', 'sortClause', 'windowClause', 'partitionClause', 'orderClause',
  'agg_filter', 'agg_order', 'limitCount', 'limitOffset', 'onConflictClause', 'mergeJoinCondition', 'joinCondition',
]);

/**
 * Nodes that pass a column on unchanged (or only combine conditions). Every other expression node
 * transforms what it is given: an unknown node is a transformation, the safe reading.
 */
const PASS_THROUGH = new Set([
  'List', 'ResTarget', 'SelectStmt', 'BoolExpr', 'SortBy', 'JoinExpr', 'RangeVar', 'WithClause', 'CommonTableExpr',
  'RangeSubselect', 'WindowDef', 'String', 'Integer', 'Float', 'Boolean', 'BitString', 'A_Const', 'ParamRef',
  'GroupingSet', 'Alias', 'IntoClause', 'LockingClause', 'ExplainStmt', 'PrepareStmt', 'DeclareCursorStmt',
  'DeleteStmt', 'OnConflictClause', 'InferClause', 'IndexElem', 'TypeName', 'ReturningClause', 'MergeStmt', 'MergeWhenClause',
]);

/** Aggregates whose result says nothing about the values they are given beyond their number. */
const COUNTING = new Set(['count']);

class Walk {
  readonly predicates = new Set<string>();
  readonly transformed = new Set<string>();
  readonly aliases = new Map<string, Set<string>>();
  /** Relation names and aliases: a one-field reference with such a name may be the whole row. */
  readonly relationNames = new Set<string>();
  readonly oneField: { name: string; flags: Flags }[] = [];

  /** A use in a condition is a predicate however it is computed; elsewhere a transformation returns or copies it. */
  record(name: string, f: Flags): void {
    if (f.predicate) this.predicates.add(name);
    else if (f.transform) this.transformed.add(name);
  }

  alias(name: string, sources: Iterable<string>): void {
    let set = this.aliases.get(name);
    if (!set) this.aliases.set(name, (set = new Set()));
    for (const s of sources) if (s !== name) set.add(s);
  }

  value(value: unknown, f: Flags): void {
    if (Array.isArray(value)) {
      for (const item of value) this.value(item, f);
      return;
    }
    if (!isRecord(value)) return;
    for (const [key, child] of Object.entries(value)) {
      if (Array.isArray(child)) {
        this.value(child, PREDICATE_FIELDS.has(key) ? { ...f, predicate: true } : f);
        continue;
      }
      if (!isRecord(child)) continue;
      if (/^[A-Z]/.test(key)) this.node(key, child, f);
      else if (UNWRAPPED_FIELDS[key]) this.node(UNWRAPPED_FIELDS[key], child, f);
      else if (typeof child.relname === 'string') this.node('RangeVar', child, f);
      else this.value(child, PREDICATE_FIELDS.has(key) ? { ...f, predicate: true } : f);
    }
  }

  node(type: string, body: NodeBody, f: Flags): void {
    switch (type) {
      case 'ColumnRef':
        return this.columnRef(body, f);
      case 'SelectStmt':
        return this.select(body, f);
      case 'RangeVar':
        return this.rangeVar(body);
      case 'RangeSubselect':
        return this.derived(body.subquery, body.alias, f);
      case 'CommonTableExpr':
        this.relationNames.add(String(body.ctename ?? ''));
        return this.derived(body.ctequery, { colnames: body.aliascolnames }, f);
      case 'JoinExpr':
        return this.join(body, f);
      case 'FuncCall':
        return this.funcCall(body, f);
      case 'SubLink':
        // A scalar or ARRAY() subquery's value comes back without the column it was read from
        // (RowDescription ties only plain columns to a table), so `(SELECT ssn …) AS x` is not masked
        // by its rule; IN/ANY/ALL compare the outputs with testexpr.
        if (body.subLinkType === 'EXPR_SUBLINK' || body.subLinkType === 'ARRAY_SUBLINK') return this.value(body.subselect, { ...f, transform: true });
        if (body.subLinkType === 'EXISTS_SUBLINK') return this.value(body.subselect, { ...f, transform: false });
        this.value(body.testexpr, { ...f, transform: true });
        return this.value(body.subselect, { ...f, transform: true });
      case 'A_Indirection':
        for (const item of asArray(body.indirection)) {
          if (isRecord(item) && isRecord(item.String)) this.record(String(item.String.sval ?? ''), { ...f, transform: true });
        }
        return this.value(body.arg, { ...f, transform: true });
      case 'InsertStmt':
        // What is inserted is copied where masking does not follow it.
        this.value({ relation: body.relation }, f);
        this.value(body.withClause, f);
        this.value(body.selectStmt, { ...f, transform: true });
        this.value(body.onConflictClause, { ...f, predicate: true });
        return this.value(body.returningList ?? body.returningClause, f);
      case 'UpdateStmt':
        for (const [key, child] of Object.entries(body)) this.value({ [key]: child }, key === 'targetList' ? { ...f, transform: true } : f);
        return;
      case 'CopyStmt':
        // COPY output is masked by value only: column rules do not see its columns.
        if (isRecord(body.relation)) this.record(ANY_COLUMN, { ...f, transform: true });
        return this.value(body.query, { ...f, transform: true });
      case 'CreateTableAsStmt':
        return this.value(body.query, { ...f, transform: true });
      default:
        return this.value(body, PASS_THROUGH.has(type) || type.endsWith('Stmt') ? f : { ...f, transform: true });
    }
  }

  columnRef(body: NodeBody, f: Flags): void {
    const fields = asArray(body.fields);
    const last = fields[fields.length - 1];
    if (isRecord(last) && isRecord(last.A_Star)) return this.record(ANY_COLUMN, f);
    const name = isRecord(last) && isRecord(last.String) ? String(last.String.sval ?? '') : ANY_COLUMN;
    this.record(name, f);
    if (fields.length === 1) this.oneField.push({ name, flags: f });
  }

  rangeVar(body: NodeBody): void {
    if (typeof body.relname === 'string') this.relationNames.add(body.relname);
    const alias = isRecord(body.alias) ? body.alias : undefined;
    if (typeof alias?.aliasname === 'string') this.relationNames.add(alias.aliasname);
    // `FROM customers c(a, b)` renames columns by position: any of them may be any column.
    for (const n of nameParts(alias?.colnames)) this.alias(n, [ANY_COLUMN]);
  }

  /** A subquery or CTE: its outputs are outputs; a column alias list renames them by position. */
  derived(query: unknown, alias: unknown, f: Flags): void {
    const a = isRecord(alias) ? alias : {};
    if (typeof a.aliasname === 'string') this.relationNames.add(a.aliasname);
    // Its outputs are what the enclosing query sees: they are judged where they are used there.
    this.value(query, { ...f, predicate: false, transform: false });
    const colnames = nameParts(a.colnames);
    if (colnames.length === 0) return;
    const sources = new Set<string>();
    collectOutputs(query, sources);
    for (const n of colnames) this.alias(n, sources);
  }

  select(body: NodeBody, f: Flags): void {
    const targets = asArray(body.targetList);
    // The outputs of UNION/INTERSECT/EXCEPT and of VALUES come back tied to no table column, and
    // named after the first arm: `SELECT 'a' AS x UNION SELECT ssn …` is not masked by the rule.
    const untied = { ...f, transform: true };
    for (const [key, child] of Object.entries(body)) {
      if (key === 'targetList') continue;
      if (key === 'larg' || key === 'rarg' || key === 'valuesLists') this.value({ [key]: child }, untied);
      else this.value({ [key]: child }, PREDICATE_FIELDS.has(key) ? { ...f, predicate: true } : f);
    }
    // SELECT INTO copies the values into a new table.
    const outputs = isRecord(body.intoClause) ? { ...f, transform: true } : f;
    for (const t of targets) {
      const rt = isRecord(t) && isRecord(t.ResTarget) ? t.ResTarget : undefined;
      if (!rt) continue;
      this.value(rt.val, outputs);
      const sources = new Set<string>();
      collectColumns(rt.val, sources);
      // `SELECT email AS e … ORDER BY e`, and outer levels reading `e` of a subquery or CTE.
      if (typeof rt.name === 'string') this.alias(rt.name, sources);
    }
    // `ORDER BY 1` sorts by the first output.
    for (const s of asArray(body.sortClause)) {
      const by = isRecord(s) && isRecord(s.SortBy) ? s.SortBy : undefined;
      // Read through constText: the verdict then depends on this constant, and is not reused for a
      // statement of the same shape that sorts by another position.
      const position = isRecord(by?.node) && isRecord(by.node.A_Const) && isRecord(by.node.A_Const.ival) ? Number(constText(by.node)) : undefined;
      if (position === undefined) continue;
      const sources = new Set<string>();
      const upTo = targets.slice(0, position);
      const star = upTo.some((t) => {
        const found = new Set<string>();
        collectColumns(t, found);
        return found.has(ANY_COLUMN);
      });
      // `SELECT * … ORDER BY 3`: after a star, a position may be any column.
      if (star || (targets.length > 0 && position > targets.length)) sources.add(ANY_COLUMN);
      else if (targets.length > 0) collectColumns(isRecord(targets[position - 1]) ? (targets[position - 1] as NodeBody).ResTarget : undefined, sources);
      else collectOutputs(body, sources); // a set operation: any arm's output at that position
      for (const n of sources) this.record(n, { ...f, predicate: true });
    }
  }

  join(body: NodeBody, f: Flags): void {
    this.value(body.larg, f);
    this.value(body.rarg, f);
    this.value(body.quals, { ...f, predicate: true });
    for (const n of nameParts(body.usingClause)) this.record(n, { ...f, predicate: true });
    // NATURAL JOIN compares every column the two sides share.
    if (body.isNatural) this.record(ANY_COLUMN, { ...f, predicate: true });
    const alias = isRecord(body.alias) ? body.alias : undefined;
    if (typeof alias?.aliasname === 'string') this.relationNames.add(alias.aliasname);
    for (const n of nameParts(alias?.colnames)) this.alias(n, [ANY_COLUMN]);
  }

  funcCall(body: NodeBody, f: Flags): void {
    const parts = nameParts(body.funcname);
    const name = (parts[parts.length - 1] ?? '').toLowerCase();
    const args = COUNTING.has(name) && (parts.length === 1 || parts[0] === 'pg_catalog') ? f : { ...f, transform: true };
    this.value(body.args, args);
    this.value(body.agg_order, { ...args, predicate: true });
    this.value(body.agg_filter, { ...f, predicate: true });
    this.value(body.over, { ...f, predicate: true });
  }

  result(): ColumnUses | undefined {
    // `c` alone, where c is a relation or alias: the whole row (`SELECT c`, `c::text`, `row_to_json(c)`).
    for (const { name, flags } of this.oneField) {
      if (!this.relationNames.has(name)) continue;
      this.record(ANY_COLUMN, { predicate: flags.predicate, transform: true });
    }
    if (this.predicates.size === 0 && this.transformed.size === 0) return undefined;
    const aliases: [string, string[]][] = [];
    for (const [name, sources] of this.aliases) if (sources.size) aliases.push([name, [...sources]]);
    return { predicates: [...this.predicates], transformed: [...this.transformed], aliases };
  }
}

/** Every column name an expression mentions (whole rows as ANY_COLUMN). */
function collectColumns(value: unknown, out: Set<string>): void {
  if (Array.isArray(value)) return value.forEach((v) => collectColumns(v, out));
  if (!isRecord(value)) return;
  if (isRecord(value.ColumnRef)) {
    const fields = asArray(value.ColumnRef.fields);
    const last = fields[fields.length - 1];
    out.add(isRecord(last) && isRecord(last.String) ? String(last.String.sval ?? '') : ANY_COLUMN);
    return;
  }
  for (const child of Object.values(value)) collectColumns(child, out);
}

/** What the outputs of a query (its select lists, every arm of a set operation) are made from. */
function collectOutputs(query: unknown, out: Set<string>): void {
  const body = isRecord(query) && isRecord(query.SelectStmt) ? query.SelectStmt : isRecord(query) && 'targetList' in query ? query : undefined;
  if (!body) return collectColumns(query, out);
  for (const t of asArray(body.targetList)) collectColumns(t, out);
  for (const arm of [body.larg, body.rarg]) if (isRecord(arm)) collectOutputs(arm, out);
  for (const row of asArray(body.valuesLists)) collectColumns(row, out);
}

/** The column uses of one statement node, or undefined when it uses none in a revealing way. */
export function columnUses(node: unknown): ColumnUses | undefined {
  const walk = new Walk();
  walk.value(node, OUTPUT);
  return walk.result();
}
