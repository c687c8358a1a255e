// One rule per parse-tree node type that decides something. Nodes without a rule are walked
// through; statement nodes (`…Stmt`) without a rule are unknown to us and classed `opaque`.
import type { StatementClass } from '../model.js';
import { judgeFunction, judgeOperator } from './functions.js';
import { judgeSet } from './settings.js';
import { schemaBeforeCatalog } from './search-path.js';
import { qualifiedName, quoteName, splitQualifiedName } from './relation-names.js';
import { regclassTextName } from './identifiers.js';
import { parseStatements } from './parser.js';

/** A function's name for inspection results: each part exactly, quoted where needed (`pg_catalog.lower`, `"LOWER"`). */
const functionName = (parts: string[]): string => parts.map(quoteName).join('.');
import {
  asArray, constText, defElems, isRecord, lowerName, nameParts, optionOn, rangeVarName,
  type NodeBody, type NodeRule, type WalkContext,
} from './findings.js';

const fixed = (cls: StatementClass, reason?: string | ((b: NodeBody) => string)): NodeRule =>
  (body, ctx) => ctx.findings.raise(cls, typeof reason === 'function' ? reason(body) : reason);

function relation(body: NodeBody, key = 'relation'): string {
  const rv = body[key];
  return isRecord(rv) ? rangeVarName(rv) : '?';
}

function objectName(obj: unknown): string {
  if (isRecord(obj) && isRecord(obj.List)) return lowerName(nameParts(obj.List.items));
  if (isRecord(obj) && isRecord(obj.RangeVar)) return rangeVarName(obj.RangeVar);
  if (isRecord(obj) && isRecord(obj.String)) return String(obj.String.sval ?? '').toLowerCase();
  if (isRecord(obj) && isRecord(obj.RangeVar)) return rangeVarName(obj.RangeVar);
  if (isRecord(obj) && isRecord(obj.TypeName)) return lowerName(nameParts(obj.TypeName.names));
  if (isRecord(obj) && isRecord(obj.ObjectWithArgs)) return lowerName(nameParts(obj.ObjectWithArgs.objname));
  return '?';
}

/** `DROP TABLE a.b.c` names its relation as a list of strings: the same written form as a RangeVar's. */
function relationObjectName(obj: unknown): string {
  const parts = isRecord(obj) && isRecord(obj.List) ? nameParts(obj.List.items) : [];
  const name = parts[parts.length - 1] ?? '?';
  return qualifiedName(parts.length > 1 ? parts[parts.length - 2] : undefined, name);
}

const objectWord = (objtype: unknown): string =>
  typeof objtype === 'string' ? objtype.replace(/^OBJECT_/, '').replace(/_/g, ' ') : 'OBJECT';

/** Objects whose removal changes who may do what, or what code the server may run. */
const PRIVILEGED_OBJECT_TYPES = new Set([
  'OBJECT_EXTENSION', 'OBJECT_EVENT_TRIGGER', 'OBJECT_POLICY', 'OBJECT_LANGUAGE', 'OBJECT_FDW',
  'OBJECT_FOREIGN_SERVER', 'OBJECT_ACCESS_METHOD', 'OBJECT_PUBLICATION', 'OBJECT_TRANSFORM', 'OBJECT_ROLE',
  'OBJECT_DATABASE', 'OBJECT_TABLESPACE', 'OBJECT_SUBSCRIPTION',
]);
const RELATION_OBJECT_TYPES = new Set([
  'OBJECT_TABLE', 'OBJECT_VIEW', 'OBJECT_MATVIEW', 'OBJECT_FOREIGN_TABLE', 'OBJECT_SEQUENCE', 'OBJECT_INDEX',
]);

/** Procedural languages that can reach the operating system; only superusers may use them. */
const UNTRUSTED_LANGUAGES = new Set([
  'c', 'internal', 'plpythonu', 'plpython2u', 'plpython3u', 'plperlu', 'pltclu', 'pljavau', 'plsh', 'plr',
]);

/** True when a subtree mentions a column (or is `WHERE CURRENT OF`, which names one row). */
function mentionsRow(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(mentionsRow);
  if (!isRecord(value)) return false;
  if ('ColumnRef' in value || 'CurrentOfExpr' in value) return true;
  return Object.values(value).some(mentionsRow);
}

/**
 * Walks a query level that may carry a WITH clause. Each CTE's name hides tables of that name only
 * inside this level (its subqueries included) and in the CTEs after it — or in all of them, and in
 * itself, under WITH RECURSIVE — never in an enclosing level. `target` names the field holding a
 * DML statement's target table, which is always a table: PostgreSQL never resolves it to a CTE.
 */
function walkQueryLevel(body: NodeBody, ctx: WalkContext, target?: string): 'handled' {
  const withClause = isRecord(body.withClause) ? body.withClause : undefined;
  const scope = new Set<string>();
  ctx.findings.cteScopes.push(scope);
  try {
    const ctes = asArray(withClause?.ctes)
      .map((c) => (isRecord(c) && isRecord(c.CommonTableExpr) ? c.CommonTableExpr : undefined))
      .filter((c): c is NodeBody => c !== undefined);
    if (withClause?.recursive) for (const c of ctes) scope.add(String(c.ctename ?? ''));
    for (const c of ctes) {
      ctx.walk(c);
      scope.add(String(c.ctename ?? ''));
    }
    for (const [key, value] of Object.entries(body)) {
      if (key === 'withClause') continue;
      if (key === target && isRecord(value)) ctx.findings.tables.add(rangeVarName(value));
      else ctx.walk({ [key]: value });
    }
  } finally {
    ctx.findings.cteScopes.pop();
  }
  return 'handled';
}

function dml(verb: 'UPDATE' | 'DELETE'): NodeRule {
  return (body, ctx) => {
    dmlClass(verb, body, ctx);
    return walkQueryLevel(body, ctx, 'relation');
  };
}

function dmlClass(verb: 'UPDATE' | 'DELETE', body: NodeBody, ctx: WalkContext): void {
  {
    const table = relation(body);
    if (body.whereClause === undefined) {
      ctx.findings.dmlWithoutWhere = true;
      ctx.findings.raise('destructive', `${verb} without WHERE on ${table}`);
    } else if (!mentionsRow(body.whereClause)) {
      // `WHERE true`, `WHERE 1 = 1`: a condition that names no column keeps all rows or none.
      ctx.findings.dmlWithoutWhere = true;
      ctx.findings.raise('destructive', `${verb} on ${table} with a WHERE that names no column`);
    } else {
      ctx.findings.raise('write', `${verb} on ${table}`);
    }
  }
}

function explain(body: NodeBody, ctx: WalkContext): 'handled' {
  ctx.findings.raise('read');
  const analyze = optionOn(defElems(body.options), 'analyze');
  const { inspection, executes } = ctx.inspectNested(body.query, '');
  ctx.findings.executes ||= executes;
  if (analyze) {
    ctx.findings.absorb(inspection, 'EXPLAIN ANALYZE runs it: ');
    return 'handled';
  }
  // Plain EXPLAIN only plans: the statement does not run, but planning can still evaluate
  // functions (constant folding), so what is called still counts.
  for (const t of inspection.statementTypes) ctx.findings.types.add(t);
  for (const t of inspection.tables) ctx.findings.tables.add(t);
  ctx.findings.absorbLookups(inspection);
  for (const f of inspection.functions) {
    ctx.findings.functions.add(f);
    const verdict = judgeFunction(splitQualifiedName(f));
    ctx.findings.raise(verdict.class, verdict.reason);
  }
  return 'handled';
}

function prepare(body: NodeBody, ctx: WalkContext): 'handled' {
  const name = String(body.name ?? '');
  const { inspection, executes } = ctx.inspectNested(body.query, '');
  ctx.findings.executes ||= executes;
  ctx.findings.absorb(inspection, `PREPARE ${name}: `);
  ctx.findings.prepare = { name, body: inspection };
  ctx.walk(body.argtypes);
  return 'handled';
}

function execute(body: NodeBody, ctx: WalkContext): 'handled' {
  const name = String(body.name ?? '');
  ctx.findings.executes = true;
  const prepared = ctx.prepared?.(name);
  if (prepared) ctx.findings.absorb(prepared, `EXECUTE ${name}: `);
  else ctx.findings.raise('opaque', `EXECUTE of unknown prepared statement ${name}`);
  ctx.walk(body.params);
  return 'handled';
}

function createFunction(body: NodeBody, ctx: WalkContext): 'handled' | void {
  const what = body.is_procedure ? 'PROCEDURE' : 'FUNCTION';
  const name = lowerName(nameParts(body.funcname));
  const options = defElems(body.options);
  const language = (constText(options.get('language')) ?? (body.sql_body ? 'sql' : '')).toLowerCase();
  ctx.findings.raise('ddl', `CREATE ${what} ${name}`);
  if (optionOn(options, 'security')) ctx.findings.raise('privileged', `${what} ${name} is SECURITY DEFINER`);
  if (UNTRUSTED_LANGUAGES.has(language)) {
    ctx.findings.raise('privileged', `${what} ${name} in untrusted language ${language}`);
    return 'handled';
  }
  if (language === 'sql') {
    if (body.sql_body !== undefined) return; // SQL-standard body: parsed already, walked as children
    const source = options.get('as');
    const text = isRecord(source) && isRecord(source.List) ? constText(asArray(source.List.items)[0]) : undefined;
    const inner = text === undefined ? undefined : ctx.inspectSqlText(text);
    if (inner) {
      for (const s of inner) ctx.findings.absorb(s, `${what} ${name} body: `);
      return 'handled';
    }
  }
  ctx.findings.raise('opaque', `${what} ${name} body in ${language || 'an unknown language'} cannot be inspected`);
  return 'handled';
}

function alterFunction(body: NodeBody, ctx: WalkContext): void {
  ctx.findings.raise('ddl', 'ALTER FUNCTION');
  if (optionOn(defElems(body.actions), 'security')) ctx.findings.raise('privileged', 'ALTER FUNCTION … SECURITY DEFINER');
}

function alterTable(body: NodeBody, ctx: WalkContext): void {
  const table = relation(body);
  const kind = objectWord(body.objtype ?? 'OBJECT_TABLE');
  ctx.findings.raise('ddl', `ALTER ${kind} ${table}`);
  for (const cmd of asArray(body.cmds)) {
    const c = isRecord(cmd) && isRecord(cmd.AlterTableCmd) ? cmd.AlterTableCmd : undefined;
    switch (c?.subtype) {
      case 'AT_DropColumn':
        ctx.findings.raise('destructive', `ALTER ${kind} ${table} DROP COLUMN ${String(c.name ?? '?').toLowerCase()}`);
        break;
      case 'AT_ChangeOwner':
        ctx.findings.raise('privileged', `ALTER ${kind} ${table} OWNER TO`);
        break;
      case 'AT_EnableRowSecurity':
      case 'AT_DisableRowSecurity':
      case 'AT_ForceRowSecurity':
      case 'AT_NoForceRowSecurity':
        ctx.findings.raise('privileged', `ALTER ${kind} ${table} changes row-level security`);
        break;
    }
  }
}

function dropObjects(body: NodeBody, ctx: WalkContext): void {
  const type = String(body.removeType ?? '');
  const names = asArray(body.objects).map(objectName);
  if (RELATION_OBJECT_TYPES.has(type)) for (const o of asArray(body.objects)) ctx.findings.tables.add(relationObjectName(o));
  const cls = PRIVILEGED_OBJECT_TYPES.has(type) ? 'privileged' : 'destructive';
  ctx.findings.raise(cls, `DROP ${objectWord(type)} ${names.join(', ')}`);
}

function copy(body: NodeBody, ctx: WalkContext): void {
  const target = isRecord(body.relation) ? rangeVarName(body.relation) : 'a query';
  const dir = body.is_from ? 'FROM' : 'TO';
  if (body.is_program) ctx.findings.raise('privileged', `COPY ${target} ${dir} PROGRAM`);
  else if (body.filename !== undefined) ctx.findings.raise('privileged', `COPY ${target} ${dir} a server file`);
  else if (body.is_from) ctx.findings.raise('write', `COPY ${target} FROM STDIN`);
}

function select(body: NodeBody, ctx: WalkContext): 'handled' {
  if (isRecord(body.intoClause)) {
    ctx.findings.raise('ddl', `SELECT INTO creates ${relation(body.intoClause, 'rel')}`);
    // PostgreSQL analyses it as CREATE TABLE AS: so does the session resolver (a new relation, perhaps a temporary one).
    ctx.findings.types.add('CreateTableAsStmt');
  }
  if (asArray(body.lockingClause).length > 0) ctx.findings.raise('write', 'SELECT … FOR UPDATE/SHARE locks rows');
  return walkQueryLevel(body, ctx);
}

function variableSet(body: NodeBody, ctx: WalkContext): void {
  const name = typeof body.name === 'string' ? body.name : undefined;
  if (name?.toLowerCase() === 'search_path' && body.kind === 'VAR_SET_VALUE') {
    // Each element is one schema name, exactly as written (`SET search_path = 'a, b'` is one schema "a, b").
    const ahead = schemaBeforeCatalog(asArray(body.args).map((a) => constText(a) ?? ''));
    if (ahead !== undefined) {
      ctx.findings.raise('privileged', `SET search_path puts ${quoteName(ahead)} before pg_catalog: a function there could be chosen over a built-in`);
      return;
    }
  }
  if (body.kind === 'VAR_SET_MULTI') readWriteTransaction(body.args, ctx, `SET ${String(name ?? '')}`);
  const verdict = judgeSet(String(body.kind ?? ''), name, constText(asArray(body.args)[0]));
  ctx.findings.raise(verdict.class, verdict.reason);
  if (verdict.liftsServerLimits) ctx.findings.liftsServerLimits = true;
}

/** `READ WRITE` in BEGIN, START TRANSACTION, SET TRANSACTION or SET SESSION CHARACTERISTICS: a write switch. */
function readWriteTransaction(options: unknown, ctx: WalkContext, what: string): void {
  const ro = defElems(options);
  if (ro.has('transaction_read_only') && constText(ro.get('transaction_read_only')) === '0') {
    ctx.findings.raise('write', `${what} READ WRITE lets the transaction write`);
  }
}

function functionCall(body: NodeBody, ctx: WalkContext): void {
  const parts = nameParts(body.funcname);
  ctx.findings.functions.add(functionName(parts));
  ctx.findings.calls.add(`${functionName(parts)}/${asArray(body.args).length}`);
  const verdict = judgeFunction(parts);
  ctx.findings.raise(verdict.class, verdict.reason);
  const name = parts[parts.length - 1]!;
  const builtin = parts.length === 1 || (parts.length === 2 && parts[0] === 'pg_catalog');
  if (SEQUENCE_FUNCTIONS.has(name) && builtin) sequenceArgument(name, asArray(body.args)[0], ctx);
  // `jsonb_populate_record(w, …)` converts into the row type of whatever w is: a domain column's
  // checks run. Named by a cast (`null::orders`), the type is judged like any cast.
  if (TYPE_STRING_FUNCTIONS.has(name) && builtin) typeStringArgument(name, asArray(body.args)[1], ctx);
  if (POPULATE_FUNCTIONS.has(name) && builtin) {
    const first = asArray(body.args)[0];
    if (!(isRecord(first) && isRecord(first.TypeCast))) ctx.findings.raise('opaque', `${name}() converts into a record type the statement does not name`);
  }
}

/** Built-ins whose first argument names a sequence (`regclass`), usually as a string. */
const SEQUENCE_FUNCTIONS = new Set(['nextval', 'setval', 'currval']);

/**
 * `nextval('app.orders_id_seq')` touches a relation that no RangeVar names: it is reported as a
 * table, read out of the string as PostgreSQL's regclass input reads it. A sequence the statement
 * computes (a column, a parameter, an OID, an expression) cannot be named: opaque.
 */
function sequenceArgument(fn: string, arg: unknown, ctx: WalkContext): void {
  let node = arg;
  // `'s'::regclass`, `'s'::text`, `regclass 's'`: still the string.
  while (isRecord(node) && isRecord(node.TypeCast)) node = node.TypeCast.arg;
  const constant = isRecord(node) && isRecord(node.A_Const) && isRecord(node.A_Const.sval) ? constText(node) : undefined;
  const parts = constant === undefined ? undefined : regclassTextName(constant);
  if (parts === undefined) {
    ctx.findings.raise('opaque', `${fn}() of a sequence the statement computes: which sequence cannot be told`);
    return;
  }
  ctx.findings.tables.add(qualifiedName(parts.length > 1 ? parts[0] : undefined, parts[parts.length - 1]!));
}

function operator(names: unknown, ctx: WalkContext): void {
  const parts = nameParts(names);
  if (parts.length === 0) return;
  ctx.findings.operators.add(functionName(parts));
  const verdict = judgeOperator(parts);
  ctx.findings.raise(verdict.class, verdict.reason);
}

/**
 * Types a query converts values into without a cast: column definition lists (`json_to_record(…)
 * AS t(x mytype)`, `ROWS FROM (… AS (x mytype))`), XMLTABLE and JSON_TABLE columns, JSON
 * functions' RETURNING. Each is judged as a cast to it is (a domain's checks, a type's input function).
 */
function conversionTypes(value: unknown, ctx: WalkContext): void {
  if (Array.isArray(value)) return value.forEach((v) => conversionTypes(v, ctx));
  if (!isRecord(value)) return;
  for (const [key, child] of Object.entries(value)) {
    if (key === 'typeName' && isRecord(child)) ctx.findings.castTypes.add(functionName(nameParts(child.names)));
    // Only this node's own column definitions: nested queries are walked (and judged) on their own.
    else if (key !== 'SelectStmt' && key !== 'FuncCall' && key !== 'args') conversionTypes(child, ctx);
  }
}

/** Built-ins that convert a value into a type named by their second argument, a string. */
const TYPE_STRING_FUNCTIONS = new Set(['pg_input_is_valid', 'pg_input_error_info']);

/**
 * `pg_input_is_valid('5', 'mydomain')` runs the type's input function and a domain's checks: the
 * type is read out of the string as PostgreSQL's parseTypeString does (the string must parse as
 * the type of `SELECT NULL::<string>` and as nothing else) and judged like a cast to it. A type
 * the statement computes is opaque.
 */
function typeStringArgument(fn: string, arg: unknown, ctx: WalkContext): void {
  const text = isRecord(arg) && isRecord(arg.A_Const) && isRecord(arg.A_Const.sval) ? constText(arg) : undefined;
  const parsed = text === undefined || text.includes(';') ? undefined : parseStatements(`SELECT NULL::${text}`);
  const stmt = parsed?.ok && parsed.statements.length === 1 ? parsed.statements[0]!.node : undefined;
  const select = isRecord(stmt) && isRecord(stmt.SelectStmt) ? stmt.SelectStmt : undefined;
  const targets = asArray(select?.targetList);
  const only = Object.keys(select ?? {}).every((k) => k === 'targetList' || k === 'limitOption' || k === 'op');
  const target = targets.length === 1 && isRecord(targets[0]) && isRecord(targets[0].ResTarget) ? targets[0].ResTarget : undefined;
  const cast = isRecord(target?.val) && isRecord(target.val.TypeCast) ? target.val.TypeCast : undefined;
  const isNull = isRecord(cast?.arg) && isRecord(cast.arg.A_Const) && cast.arg.A_Const.isnull === true;
  if (!only || !cast || !isNull || !isRecord(cast.typeName) || target?.name !== undefined) {
    ctx.findings.raise('opaque', `${fn}() of a type the statement computes or that cannot be read: which type cannot be told`);
    return;
  }
  ctx.findings.castTypes.add(functionName(nameParts(cast.typeName.names)));
}

/** For json(b)_populate_record(set): the record type converted into, unless named by a cast. */
const POPULATE_FUNCTIONS = new Set(['json_populate_record', 'jsonb_populate_record', 'json_populate_recordset', 'jsonb_populate_recordset']);

const read = fixed('read');
const ddl = (what: string) => fixed('ddl', what);
const privileged = (what: string) => fixed('privileged', what);

export const NODE_RULES: Record<string, NodeRule> = {
  // ---- expressions: anything that runs code ----
  FuncCall: functionCall,
  RangeFunction: (body, ctx) => {
    conversionTypes(body.coldeflist, ctx);
    conversionTypes(body.functions, ctx);
  },
  RangeTableFuncCol: (body, ctx) => conversionTypes({ typeName: body.typeName }, ctx),
  JsonTableColumn: (body, ctx) => conversionTypes({ typeName: body.typeName }, ctx),
  JsonOutput: (body, ctx) => conversionTypes({ typeName: body.typeName }, ctx),
  A_Expr: (body, ctx) => operator(body.name, ctx),
  SubLink: (body, ctx) => operator(body.operName, ctx),
  SortBy: (body, ctx) => operator(body.useOp, ctx),
  TypeCast: (body, ctx) => {
    const typeName = isRecord(body.typeName) ? body.typeName : {};
    ctx.findings.castTypes.add(functionName(nameParts(typeName.names)));
  },
  // `t.name` and `(t).name` call a function name(t) when t has no column of that name.
  ColumnRef: (body, ctx) => {
    const fields = asArray(body.fields);
    const last = fields[fields.length - 1];
    if (fields.length >= 2 && isRecord(last) && isRecord(last.String)) ctx.findings.attributes.add(String(last.String.sval ?? ''));
  },
  A_Indirection: (body, ctx) => {
    for (const item of asArray(body.indirection)) {
      if (isRecord(item) && isRecord(item.String)) ctx.findings.attributes.add(String(item.String.sval ?? ''));
    }
  },
  RangeVar: (body, ctx) => {
    const unqualified = (typeof body.schemaname !== 'string' || body.schemaname === '') && (typeof body.catalogname !== 'string' || body.catalogname === '');
    if (unqualified && typeof body.relname === 'string' && ctx.findings.isCte(body.relname)) return;
    ctx.findings.tables.add(rangeVarName(body));
  },

  // ---- read ----
  SelectStmt: select,
  VariableShowStmt: read,
  ExplainStmt: explain,
  TransactionStmt: (body, ctx) => {
    const kind = String(body.kind ?? '');
    readWriteTransaction(body.options, ctx, kind.replace('TRANS_STMT_', ''));
    if (/PREPARE|PREPARED/.test(kind)) ctx.findings.raise('write', 'two-phase commit command');
    else ctx.findings.raise('read');
  },
  ListenStmt: read,
  UnlistenStmt: read,
  DeclareCursorStmt: read,
  FetchStmt: read,
  ClosePortalStmt: read,
  ConstraintsSetStmt: read,
  ReturnStmt: read,
  SetOperationStmt: read,
  DiscardStmt: (body, ctx) => {
    if (body.target === 'DISCARD_ALL') ctx.findings.raise('privileged', 'DISCARD ALL also resets the role');
  },
  VariableSetStmt: variableSet,
  PrepareStmt: prepare,
  ExecuteStmt: execute,
  DeallocateStmt: (body, ctx) => {
    ctx.findings.deallocate = body.isall ? '*' : String(body.name ?? '');
  },

  // ---- write ----
  InsertStmt: (body, ctx) => {
    ctx.findings.raise('write', `INSERT into ${relation(body)}`);
    return walkQueryLevel(body, ctx, 'relation');
  },
  UpdateStmt: dml('UPDATE'),
  DeleteStmt: dml('DELETE'),
  MergeStmt: (body, ctx) => {
    ctx.findings.raise('write', `MERGE into ${relation(body)}`);
    return walkQueryLevel(body, ctx, 'relation');
  },
  CopyStmt: copy,
  NotifyStmt: fixed('write', 'NOTIFY'),
  LockStmt: fixed('write', 'LOCK TABLE'),
  RefreshMatViewStmt: (body, ctx) => ctx.findings.raise('write', `REFRESH MATERIALIZED VIEW ${relation(body)}`),
  VacuumStmt: (body, ctx) => {
    const options = defElems(body.options);
    if (optionOn(options, 'full')) {
      ctx.findings.raise('destructive', 'VACUUM FULL rewrites tables under an exclusive lock');
    } else {
      ctx.findings.raise('write', body.is_vacuumcmd ? 'VACUUM' : 'ANALYZE');
    }
  },

  // ---- ddl ----
  CreateStmt: (body, ctx) => ctx.findings.raise('ddl', `CREATE TABLE ${relation(body)}`),
  CreateForeignTableStmt: ddl('CREATE FOREIGN TABLE'),
  CreateTableAsStmt: (body, ctx) => {
    const into = body.into;
    ctx.findings.raise('ddl', `CREATE ${objectWord(body.objtype)} AS ${isRecord(into) ? relation(into, 'rel') : ''}`.trim());
  },
  IndexStmt: (body, ctx) => ctx.findings.raise('ddl', `CREATE INDEX on ${relation(body)}`),
  ViewStmt: (body, ctx) => ctx.findings.raise('ddl', `CREATE VIEW ${relation(body, 'view')}`),
  CreateSeqStmt: ddl('CREATE SEQUENCE'),
  AlterSeqStmt: ddl('ALTER SEQUENCE'),
  CompositeTypeStmt: ddl('CREATE TYPE'),
  CreateEnumStmt: ddl('CREATE TYPE … AS ENUM'),
  CreateRangeStmt: ddl('CREATE TYPE … AS RANGE'),
  AlterEnumStmt: ddl('ALTER TYPE'),
  CreateDomainStmt: ddl('CREATE DOMAIN'),
  AlterDomainStmt: ddl('ALTER DOMAIN'),
  CreateSchemaStmt: (body, ctx) => {
    ctx.findings.raise('ddl', `CREATE SCHEMA ${String(body.schemaname ?? '')}`.trim());
    // Its elements' relations are made in the new schema, not where the path would put them.
    const schema = typeof body.schemaname === 'string' && body.schemaname !== '' ? body.schemaname : undefined;
    for (const e of asArray(body.schemaElts)) {
      if (!isRecord(e) || schema === undefined) continue;
      const rv = isRecord(e.CreateStmt) ? e.CreateStmt.relation : isRecord(e.ViewStmt) ? e.ViewStmt.view : isRecord(e.CreateSeqStmt) ? e.CreateSeqStmt.sequence : undefined;
      if (isRecord(rv) && typeof rv.relname === 'string') ctx.findings.tables.add(qualifiedName(schema, rv.relname));
    }
  },
  CommentStmt: ddl('COMMENT'),
  CreateTrigStmt: ddl('CREATE TRIGGER'),
  RuleStmt: ddl('CREATE RULE'),
  DefineStmt: (body, ctx) => ctx.findings.raise('ddl', `CREATE ${objectWord(body.kind)}`),
  CreateConversionStmt: ddl('CREATE CONVERSION'),
  CreateCastStmt: ddl('CREATE CAST'),
  CreateOpClassStmt: ddl('CREATE OPERATOR CLASS'),
  CreateOpFamilyStmt: ddl('CREATE OPERATOR FAMILY'),
  AlterOpFamilyStmt: ddl('ALTER OPERATOR FAMILY'),
  AlterOperatorStmt: ddl('ALTER OPERATOR'),
  AlterTypeStmt: ddl('ALTER TYPE'),
  AlterCollationStmt: ddl('ALTER COLLATION'),
  AlterTSDictionaryStmt: ddl('ALTER TEXT SEARCH DICTIONARY'),
  AlterTSConfigurationStmt: ddl('ALTER TEXT SEARCH CONFIGURATION'),
  CreateStatsStmt: ddl('CREATE STATISTICS'),
  AlterStatsStmt: ddl('ALTER STATISTICS'),
  ImportForeignSchemaStmt: ddl('IMPORT FOREIGN SCHEMA'),
  AlterObjectDependsStmt: ddl('ALTER … DEPENDS ON EXTENSION'),
  AlterObjectSchemaStmt: (body, ctx) => ctx.findings.raise('ddl', `ALTER ${objectWord(body.objectType)} SET SCHEMA`),
  ReplicaIdentityStmt: ddl('REPLICA IDENTITY'),
  ReindexStmt: ddl('REINDEX'),
  AlterTableStmt: alterTable,
  RenameStmt: (body, ctx) => {
    const type = String(body.renameType ?? '');
    if (PRIVILEGED_OBJECT_TYPES.has(type)) ctx.findings.raise('privileged', `ALTER ${objectWord(type)} RENAME`);
    else ctx.findings.raise('ddl', `ALTER ${objectWord(type)} RENAME`);
  },
  CreateFunctionStmt: createFunction,
  AlterFunctionStmt: alterFunction,

  // ---- destructive ----
  DropStmt: dropObjects,
  TruncateStmt: (body, ctx) =>
    ctx.findings.raise('destructive', `TRUNCATE ${asArray(body.relations).map((r) => (isRecord(r) && isRecord(r.RangeVar) ? rangeVarName(r.RangeVar) : '?')).join(', ')}`),
  DropdbStmt: (body, ctx) => ctx.findings.raise('destructive', `DROP DATABASE ${String(body.dbname ?? '')}`),
  ClusterStmt: fixed('destructive', 'CLUSTER rewrites tables under an exclusive lock'),

  // ---- privileged ----
  CreateRoleStmt: privileged('CREATE ROLE'),
  AlterRoleStmt: privileged('ALTER ROLE'),
  AlterRoleSetStmt: privileged('ALTER ROLE … SET'),
  DropRoleStmt: privileged('DROP ROLE'),
  GrantStmt: (body, ctx) => ctx.findings.raise('privileged', body.is_grant ? 'GRANT' : 'REVOKE'),
  GrantRoleStmt: (body, ctx) => ctx.findings.raise('privileged', body.is_grant ? 'GRANT role' : 'REVOKE role'),
  AlterDefaultPrivilegesStmt: privileged('ALTER DEFAULT PRIVILEGES'),
  AlterOwnerStmt: privileged('ALTER … OWNER TO'),
  ReassignOwnedStmt: privileged('REASSIGN OWNED'),
  DropOwnedStmt: privileged('DROP OWNED'),
  AlterSystemStmt: privileged('ALTER SYSTEM'),
  AlterDatabaseStmt: privileged('ALTER DATABASE'),
  AlterDatabaseSetStmt: privileged('ALTER DATABASE … SET'),
  AlterDatabaseRefreshCollStmt: privileged('ALTER DATABASE … REFRESH COLLATION VERSION'),
  CreatedbStmt: privileged('CREATE DATABASE'),
  CreateExtensionStmt: (body, ctx) => ctx.findings.raise('privileged', `CREATE EXTENSION ${String(body.extname ?? '')}`.trim()),
  AlterExtensionStmt: privileged('ALTER EXTENSION'),
  AlterExtensionContentsStmt: privileged('ALTER EXTENSION … ADD/DROP'),
  CreateFdwStmt: privileged('CREATE FOREIGN DATA WRAPPER'),
  AlterFdwStmt: privileged('ALTER FOREIGN DATA WRAPPER'),
  CreateForeignServerStmt: privileged('CREATE SERVER'),
  AlterForeignServerStmt: privileged('ALTER SERVER'),
  CreateUserMappingStmt: privileged('CREATE USER MAPPING'),
  AlterUserMappingStmt: privileged('ALTER USER MAPPING'),
  DropUserMappingStmt: privileged('DROP USER MAPPING'),
  CreateTableSpaceStmt: privileged('CREATE TABLESPACE'),
  DropTableSpaceStmt: privileged('DROP TABLESPACE'),
  AlterTableSpaceOptionsStmt: privileged('ALTER TABLESPACE'),
  AlterTableMoveAllStmt: privileged('ALTER … SET TABLESPACE (ALL)'),
  CreateSubscriptionStmt: privileged('CREATE SUBSCRIPTION'),
  AlterSubscriptionStmt: privileged('ALTER SUBSCRIPTION'),
  DropSubscriptionStmt: privileged('DROP SUBSCRIPTION'),
  CreatePublicationStmt: privileged('CREATE PUBLICATION'),
  AlterPublicationStmt: privileged('ALTER PUBLICATION'),
  CreatePolicyStmt: privileged('CREATE POLICY'),
  AlterPolicyStmt: privileged('ALTER POLICY'),
  CreateEventTrigStmt: privileged('CREATE EVENT TRIGGER'),
  AlterEventTrigStmt: privileged('ALTER EVENT TRIGGER'),
  SecLabelStmt: privileged('SECURITY LABEL'),
  CreatePLangStmt: privileged('CREATE LANGUAGE'),
  CreateTransformStmt: privileged('CREATE TRANSFORM'),
  CreateAmStmt: privileged('CREATE ACCESS METHOD'),
  CheckPointStmt: privileged('CHECKPOINT'),
  LoadStmt: (body, ctx) => ctx.findings.raise('privileged', 'LOAD of a server library'),

  // ---- opaque: code we cannot see ----
  DoStmt: fixed('opaque', 'DO block runs code that cannot be inspected'),
  CallStmt: (body, ctx) => {
    const call = isRecord(body.funccall) ? body.funccall : {};
    const name = functionName(nameParts(call.funcname));
    ctx.findings.functions.add(name);
    ctx.findings.raise('opaque', `CALL ${name}() runs a procedure that cannot be inspected`);
  },
  PLAssignStmt: fixed('opaque', 'PL/pgSQL assignment'),
};

/**
 * Fields whose value is a node body *without* its `{ Type: … }` wrapper (the parser's JSON omits
 * it where the field's type is fixed). The walker needs the type to apply the right rule.
 */
export const UNWRAPPED_FIELDS: Record<string, string> = {
  larg: 'SelectStmt',
  rarg: 'SelectStmt',
  output: 'JsonOutput',
  setstmt: 'VariableSetStmt',
};
