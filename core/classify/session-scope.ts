// One session's view of names: the statement classifier reports names as written; this resolves
// them the way the session's server will — relations to canonical `schema.table` through the
// effective search_path, and calls of trusted built-in names checked against what the target has
// outside pg_catalog (a same-named function, operator or type there could be chosen instead).
//
// The session's search_path is followed from the statements it sends (SET, SET LOCAL, RESET,
// set_config). The gateway does not learn whether a statement succeeded or a transaction rolled
// back, so it keeps every path that may be in effect and resolves under all of them: a name that
// could mean two tables is reported as both. Reporting more is the safe direction for policy
// (a forbid matches more, an allow-list of tables admits less).
import type { Inspection, StatementClass, StatementInspection } from '../model.js';
import { moreDangerous } from '../model.js';
import { isTrustedBuiltinName } from './functions.js';
import { inspectSql, type PreparedLookup } from './index.js';
import { parseStatements } from './parser.js';
import { qualifiedName, quoteName, splitQualifiedName } from './relation-names.js';
import {
  creationSchema, functionSearchOrder, parseSearchPath, relationSearchOrder, TEMP_SCHEMA, type PathFacts,
} from './search-path.js';
import { arityCanMatch, withDescendants, withForeignKeyActions, type TargetCatalog } from './target-catalog.js';
import { readsServerSecrets } from './server-secrets.js';
import { truncateIdentifier } from './identifiers.js';
import { maskedColumnFacts, type MaskedColumns } from './masked-column-uses.js';
import { asArray, constText, isRecord, nameParts } from './findings.js';

export interface SessionScopeOptions {
  /** The session's user (current_user at login), for "$user". */
  user: string;
  /** search_path as the server reported it at login (current_setting('search_path')). */
  searchPath: string;
  /** The target's catalog as cached now; undefined when it could not be read (names then resolve to every candidate). */
  catalog: () => TargetCatalog | undefined;
  /** Called when a statement may have changed the catalog (DDL): the owner re-reads it. */
  onCatalogChange?: () => void;
  /**
   * Whether a (resolved) statement may run at all: one that policy denies changes nothing, so a
   * refused `SET search_path` does not widen the session's paths. Default: every statement may.
   */
  mayRun?: (s: StatementInspection) => boolean;
  /**
   * What is masked for this session on this target; absent for a session that sees data unmasked
   * (its statements then report no masked column uses).
   */
  masked?: () => MaskedColumns | undefined;
}

/** Statements that create relations: an unqualified name there is also the creation schema's. */
const CREATES_RELATIONS = new Set(['CreateStmt', 'CreateTableAsStmt', 'ViewStmt', 'CreateSeqStmt', 'CreateForeignTableStmt']);
/** Statements whose deleted or updated rows foreign keys' ON DELETE / ON UPDATE actions follow. */
const CASCADING = new Set(['DeleteStmt', 'UpdateStmt', 'MergeStmt', 'TruncateStmt']);
/** Relation names the elements of a CREATE SCHEMA make (tables, views, sequences: all in the new schema). */
function schemaElementRelations(create: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const e of asArray(create.schemaElts)) {
    if (!isRecord(e)) continue;
    const rv = isRecord(e.CreateStmt) ? e.CreateStmt.relation : isRecord(e.ViewStmt) ? e.ViewStmt.view : isRecord(e.CreateSeqStmt) ? e.CreateSeqStmt.sequence : undefined;
    if (isRecord(rv) && typeof rv.relname === 'string') out.push(rv.relname);
  }
  return out;
}

/** Statements that make functions, operators or types (a composite type, a table's row type). */
const CREATES_OBJECTS = new Set(['CreateFunctionStmt', 'DefineStmt', 'CreateDomainStmt', 'CompositeTypeStmt', 'CreateRangeStmt', 'CreateStmt']);
/** Statements that may take a name away from where the catalog shows it, or give one a new place. */
const MOVES_NAMES = new Set(['DropStmt', 'DropOwnedStmt', 'RenameStmt', 'AlterObjectSchemaStmt', 'CreateSchemaStmt']);
const RELATION_KINDS = new Set(['OBJECT_TABLE', 'OBJECT_VIEW', 'OBJECT_MATVIEW', 'OBJECT_FOREIGN_TABLE', 'OBJECT_SEQUENCE', 'OBJECT_INDEX']);
const FUNCTION_KINDS = new Set(['OBJECT_FUNCTION', 'OBJECT_PROCEDURE', 'OBJECT_ROUTINE', 'OBJECT_AGGREGATE']);
const TYPE_KINDS = new Set(['OBJECT_TYPE', 'OBJECT_DOMAIN']);
/** Statements after which the target's catalog must be read again. */
const CHANGES_CATALOG = /^(Create|Alter|Drop|Rename|Define|Composite|Import)/;

type Names = Map<string, Set<string>>;

export class SqlSessionScope {
  readonly #o: SessionScopeOptions;
  readonly #initialPath: string[];
  /** Every search_path that may be in effect (the initial one always among them). */
  readonly #paths: string[][] = [];
  /** A set_config() or unreadable SET ran: any schema may be on the path. */
  #pathUnknown = false;
  /** Relations this session created in its temporary schema (or tried to). */
  readonly #temp = new Set<string>();
  /**
   * Relation names this session dropped, renamed or moved to another schema: until the end of the
   * session (the gateway cannot tell when the server has done it, nor whether a catalog read since
   * shows it), such a name may resolve past the schema the catalog still shows it in.
   */
  readonly #moved = new Set<string>();
  /** A schema was dropped or renamed (or DROP OWNED ran): names resolve as if there were no catalog. */
  #movedAll = false;
  /** Schemas this session created (or renamed one to), until the catalog shows them. */
  readonly #createdSchemas = new Set<string>();
  /** Objects this session created since login, until the catalog shows them: name → schemas. */
  readonly #created = { relations: new Map() as Names, functions: new Map() as Names, operators: new Map() as Names, types: new Map() as Names };
  #version = 0;
  readonly #applied = new WeakMap<Inspection, { version: number; catalog: TargetCatalog | undefined; masked: number; changesScope: boolean; result: Inspection }>();
  /** Resolved inspection → the classifier's, for resolveAgain(). */
  readonly #rawOf = new WeakMap<Inspection, Inspection>();
  readonly #memo = new WeakMap<StatementInspection, { version: number; catalog: TargetCatalog | undefined; masked: number; resolved: StatementInspection }>();
  /**
   * Statements of one shape share their (frozen) fact arrays: resolving those once keeps the
   * resolved arrays shared too, which lets the relay reuse a decision by identity.
   */
  readonly #tablesMemo = new WeakMap<readonly string[], { version: number; catalog: TargetCatalog | undefined; creates: boolean; deletes: boolean; tables: readonly string[]; secrets: boolean }>();
  readonly #concernsMemo = new WeakMap<readonly string[], { version: number; catalog: TargetCatalog | undefined; lookups: StatementInspection['lookups']; concerns: string[] }>();

  constructor(o: SessionScopeOptions) {
    this.#o = o;
    this.#initialPath = parseSearchPath(o.searchPath) ?? [];
    if (!parseSearchPath(o.searchPath)) this.#pathUnknown = true;
    this.#paths.push(this.#initialPath);
  }

  /** Every search_path this session may be using, as lists of schema names (for tests and logs). */
  get possiblePaths(): string[][] {
    return this.#paths.map((p) => [...p]);
  }

  /** inspectSql(), then names resolved for this session; statements seen change the session's state. */
  inspect(sql: string, prepared?: PreparedLookup): Inspection {
    return this.apply(inspectSql(sql, prepared));
  }

  /** Resolves an inspection made elsewhere (any SqlInspector) for this session, statement by statement. */
  apply(raw: Inspection): Inspection {
    if (!raw.ok) return raw;
    const catalog = this.#o.catalog();
    // A repeated statement (the classifier's cache hands back the same object) costs one look-up.
    const masked = this.#o.masked?.();
    const maskedVersion = masked?.version ?? -1;
    const seen = this.#applied.get(raw);
    if (seen && seen.version === this.#version && seen.catalog === catalog && seen.masked === maskedVersion && !seen.changesScope) return seen.result;
    let cls: StatementClass = 'read';
    let changesScope = false;
    let changed = false;
    const statements = raw.statements.map((s) => {
      const resolved = this.resolve(s, catalog, masked);
      // Asking policy costs a decision: only for the few statements that change anything here.
      if (SqlSessionScope.changesScope(s)) {
        changesScope = true;
        if (this.#o.mayRun?.(resolved) ?? true) this.observe(s);
      }
      cls = moreDangerous(cls, resolved.class);
      changed ||= resolved !== s;
      return resolved;
    });
    const result: Inspection = changed ? Object.freeze({ ok: true as const, statements: Object.freeze(statements) as StatementInspection[], class: cls }) : raw;
    this.#applied.set(raw, { version: this.#version, catalog, masked: maskedVersion, changesScope, result });
    if (result !== raw) this.#rawOf.set(result, raw);
    return result;
  }

  /**
   * An inspection this scope resolved earlier, resolved again for the session as it is now: a
   * statement prepared before a `SET search_path` is re-analysed by PostgreSQL when it next runs,
   * and may then mean other tables and functions.
   */
  resolveAgain(resolved: Inspection): Inspection {
    return this.apply(this.#rawOf.get(resolved) ?? resolved);
  }

  /** One statement with canonical table names and any shadowed call made opaque. */
  resolve(s: StatementInspection, catalog = this.#o.catalog(), masked = this.#o.masked?.()): StatementInspection {
    const maskedVersion = masked?.version ?? -1;
    const memo = this.#memo.get(s);
    if (memo && memo.version === this.#version && memo.catalog === catalog && memo.masked === maskedVersion) return memo.resolved;
    const creates = s.statementTypes.some((t) => CREATES_RELATIONS.has(t));
    const deletes = s.statementTypes.some((t) => CASCADING.has(t));
    let t = this.#tablesMemo.get(s.tables);
    if (!t || t.version !== this.#version || t.catalog !== catalog || t.creates !== creates || t.deletes !== deletes) {
      const resolvedTables = Object.freeze(this.#resolveTables(s, catalog));
      t = { version: this.#version, catalog, creates, deletes, tables: resolvedTables, secrets: readsServerSecrets(resolvedTables) };
      this.#tablesMemo.set(s.tables, t);
    }
    const tables = t.tables;
    let c = this.#concernsMemo.get(s.functions);
    if (!c || c.version !== this.#version || c.catalog !== catalog || c.lookups !== s.lookups) {
      c = { version: this.#version, catalog, lookups: s.lookups, concerns: this.#shadowConcerns(s, catalog) };
      this.#concernsMemo.set(s.functions, c);
    }
    const concerns = c.concerns;
    let cls = s.class;
    for (const _ of concerns) cls = moreDangerous(cls, 'opaque');
    const secrets = t.secrets;
    const facts = masked && s.columnUses ? maskedColumnFacts(s.columnUses, tables, masked) : undefined;
    const resolved: StatementInspection = Object.freeze({
      ...s,
      ...(secrets ? { serverSecrets: true } : {}),
      ...(facts?.inPredicates.length ? { maskedColumnsInPredicates: Object.freeze(facts.inPredicates) as string[] } : {}),
      ...(facts?.transformed.length ? { maskedColumnsTransformed: Object.freeze(facts.transformed) as string[] } : {}),
      class: cls,
      tables: tables as string[],
      reasons: concerns.length ? (Object.freeze([...s.reasons, ...concerns]) as string[]) : s.reasons,
    });
    this.#memo.set(s, { version: this.#version, catalog, masked: maskedVersion, resolved });
    return resolved;
  }

  // ---- relations ----

  #facts(catalog: TargetCatalog | undefined): PathFacts {
    let schemas = catalog?.schemas;
    if (schemas && this.#createdSchemas.size > 0) schemas = new Set([...schemas, ...this.#createdSchemas]);
    return { schemas, user: this.#o.user, hasTemp: this.#temp.size > 0 };
  }

  #resolveTables(s: StatementInspection, catalog: TargetCatalog | undefined): string[] {
    const out = new Set<string>();
    const creates = s.statementTypes.some((t) => CREATES_RELATIONS.has(t));
    for (const written of s.tables) {
      const parts = splitQualifiedName(written);
      const name = parts[parts.length - 1]!;
      if (parts.length > 1) {
        out.add(qualifiedName(parts[parts.length - 2], name));
        continue;
      }
      for (const schema of this.#candidates(name, this.#movedAll ? undefined : catalog, creates)) out.add(qualifiedName(schema, name));
    }
    // A parent's inheritance children and partitions are scanned (and written) with it; deleting or
    // updating rows writes the tables whose foreign keys' ON DELETE / ON UPDATE actions follow them
    // (the key checks of other foreign keys only read, and are left out: they reveal no values).
    const reached = withDescendants([...out], catalog);
    if (!s.statementTypes.some((t) => CASCADING.has(t))) return reached;
    const types = s.statementTypes;
    return withForeignKeyActions(reached, catalog, {
      deletes: types.includes('DeleteStmt') || types.includes('MergeStmt'),
      updates: types.includes('UpdateStmt') || types.includes('MergeStmt'),
      // Without CASCADE the server refuses to truncate a referenced table unless its referencing tables are named too.
      truncatesCascade: types.includes('TruncateStmt'),
    });
  }

  /** Schemas an unqualified relation name may resolve to, under every path the session may have. */
  #candidates(name: string, catalog: TargetCatalog | undefined, creates: boolean): Set<string> {
    const found = new Set<string>();
    const facts = this.#facts(catalog);
    const inCatalog = (schema: string) =>
      schema === TEMP_SCHEMA ? this.#temp.has(name) : catalog === undefined || (catalog.relations.get(name)?.includes(schema) ?? false);
    const createdHere = (schema: string) => this.#created.relations.get(name)?.has(schema) ?? false;
    if (this.#pathUnknown) {
      for (const schema of catalog?.relations.get(name) ?? []) found.add(schema);
      for (const schema of this.#created.relations.get(name) ?? []) found.add(schema);
      if (this.#temp.has(name)) found.add(TEMP_SCHEMA);
    }
    for (const path of this.#paths) {
      let hit = false;
      for (const schema of relationSearchOrder(path, facts)) {
        if (inCatalog(schema)) {
          found.add(schema);
          hit = true;
          // Without a catalog every schema is a candidate; with one, the first that has it wins
          // (unless this session dropped or moved a relation of that name: it may be gone from there).
          if (catalog !== undefined && !this.#moved.has(name)) break;
        } else if (createdHere(schema)) {
          found.add(schema); // made by this session, perhaps: the next one down may still be the real one
        }
      }
      const creation = creationSchema(path, facts);
      if ((!hit || creates) && creation !== undefined) found.add(creation);
    }
    if (found.size === 0) found.add('pg_catalog'); // nowhere to create it: the server will refuse; name it still
    return found;
  }

  // ---- calls that a same-named object outside pg_catalog could take over ----

  /**
   * Schemas other than pg_catalog that an unqualified name could come from under any path the
   * session may have: functions and operators (`functionSearchOrder`), or types (`relationSearchOrder`).
   */
  #searchedSchemas(catalog: TargetCatalog | undefined, order: typeof functionSearchOrder): Set<string> | 'any' {
    if (this.#pathUnknown || this.#movedAll || catalog === undefined) return 'any';
    const facts = this.#facts(catalog);
    const out = new Set<string>();
    for (const path of this.#paths) for (const s of order(path, facts)) if (s !== 'pg_catalog') out.add(s);
    return out;
  }

  #shadowConcerns(s: StatementInspection, catalog: TargetCatalog | undefined): string[] {
    const concerns: string[] = [];
    const functionSchemas = this.#searchedSchemas(catalog, functionSearchOrder);
    // Types are looked up in the session's temporary schema first whenever it exists — a temporary
    // domain can exist without any temporary table — so it is always a candidate for them.
    const typeSchemas = this.#searchedSchemas(catalog, relationSearchOrder);
    if (typeSchemas !== 'any') typeSchemas.add(TEMP_SCHEMA);
    const shadowIn = (map: ReadonlyMap<string, readonly string[]> | undefined, created: Names, name: string, schemas: Set<string> | 'any'): string | undefined => {
      const all = [...(map?.get(name) ?? []), ...(created.get(name) ?? [])];
      // The catalog names temporary schemas pg_temp_N (this session's among them, which one is not known).
      return all.find((schema) => schemas === 'any' || schemas.has(/^pg_temp_[0-9]+$/.test(schema) ? TEMP_SCHEMA : schema));
    };
    // Argument counts per call name: a function outside pg_catalog that cannot take that many is no candidate.
    const arities = new Map<string, number[]>();
    for (const c of s.lookups?.calls ?? []) {
      const at = c.lastIndexOf('/');
      const list = arities.get(c.slice(0, at)) ?? [];
      list.push(Number(c.slice(at + 1)));
      arities.set(c.slice(0, at), list);
    }
    for (const f of s.functions) {
      const parts = splitQualifiedName(f);
      const name = parts[parts.length - 1]!;
      if (!isTrustedBuiltinName(name) || (parts.length > 1 && parts[0] !== 'pg_catalog') || parts.length > 2) continue;
      if (catalog === undefined) {
        concerns.push(`calls ${f}(): the target's catalog could not be read, so it cannot be told from a function of the same name`);
        continue;
      }
      if (!catalog.builtinFunctions.has(name)) {
        concerns.push(`calls ${f}(), which is not a built-in function of this server`);
        continue;
      }
      if (parts.length > 1) continue; // pg_catalog.name: only the built-in can be chosen
      const shadow = this.#shadowFunction(catalog, name, functionSchemas, arities.get(f));
      if (shadow !== undefined) concerns.push(`calls ${f}(), which could resolve to ${quoteName(shadow)}.${quoteName(name)}() instead of the built-in`);
    }
    const lookups = s.lookups;
    if (!lookups) return concerns;
    for (const op of lookups.operators) {
      const parts = splitQualifiedName(op);
      if (parts.length > 1) continue; // a qualified operator is judged by the classifier already
      const name = parts[0]!;
      const shadow = catalog === undefined ? 'an unknown schema' : shadowIn(catalog.operators, this.#created.operators, name, functionSchemas);
      if (shadow !== undefined) concerns.push(`uses operator ${name}, which could resolve to one defined in ${quoteName(shadow)}`);
    }
    for (const t of lookups.types) {
      const parts = splitQualifiedName(t);
      const name = parts[parts.length - 1]!;
      if (catalog === undefined) {
        if (parts[0] !== 'pg_catalog') concerns.push(`casts to ${t}: the target's catalog could not be read`);
        continue;
      }
      if (catalog.userCastsOnBuiltins) {
        concerns.push(`casts to ${t}, and this server has casts between built-in types that run functions outside pg_catalog`);
        continue;
      }
      const schemas = parts.length > 1 ? new Set([parts[parts.length - 2]!]) : typeSchemas;
      if (parts.length > 1 && parts[0] === 'pg_catalog') continue;
      const shadow = shadowIn(catalog.codeTypes, this.#created.types, name, schemas);
      if (shadow !== undefined) concerns.push(`casts to ${t}, which runs code defined in ${quoteName(shadow)} (a domain's checks, a type's or a cast's functions)`);
    }
    for (const a of lookups.attributes) {
      const shadow = catalog === undefined ? undefined : shadowIn(catalog.attributeFunctions, this.#created.functions, a, functionSchemas);
      if (shadow !== undefined) concerns.push(`x.${quoteName(a)} may call function ${quoteName(shadow)}.${quoteName(a)}(x) (attribute notation)`);
    }
    return concerns;
  }

  /**
   * A schema whose function named `name` a call could choose instead of the built-in: any searched
   * schema with such a function that takes one of the call's argument counts (all of them when the
   * counts are unknown), or that this session created one in (its arity is not known).
   */
  #shadowFunction(catalog: TargetCatalog, name: string, schemas: Set<string> | 'any', counts: number[] | undefined): string | undefined {
    const searched = (schema: string) => schemas === 'any' || schemas.has(schema);
    const created = [...(this.#created.functions.get(name) ?? [])].find(searched);
    if (created !== undefined) return created;
    for (const schema of catalog.functions.get(name) ?? []) {
      if (!searched(schema)) continue;
      const overloads = catalog.functionArities.get(name)?.filter((a) => a.schema === schema);
      if (counts === undefined || !overloads?.length) return schema;
      if (overloads.some((a) => counts.some((n) => arityCanMatch(a, n)))) return schema;
    }
    return undefined;
  }

  // ---- what a statement changes for the statements after it ----

  /** True when observe() would take note of something: SET, set_config, DDL. */
  static changesScope(s: StatementInspection): boolean {
    return s.statementTypes.some((t) => t === 'VariableSetStmt' || CHANGES_CATALOG.test(t) || CREATES_RELATIONS.has(t)) || s.functions.some((f) => /(^|\.)set_config$/.test(f));
  }

  /** Takes note of what a statement may change: search_path, temporary relations, new objects. */
  observe(s: StatementInspection): void {
    const types = s.statementTypes;
    if (s.functions.some((f) => /(^|\.)set_config$/.test(f))) this.#setUnknownPath();
    if (types.includes('VariableSetStmt')) this.#observeSet(s.text);
    if (types.some((t) => CREATES_RELATIONS.has(t))) this.#observeCreatedRelations(s);
    if (types.some((t) => CREATES_OBJECTS.has(t))) this.#observeCreatedObjects(s.text);
    if (types.some((t) => MOVES_NAMES.has(t))) this.#observeMovedNames(s.text);
    if (types.some((t) => CHANGES_CATALOG.test(t))) this.#o.onCatalogChange?.();
  }

  #setUnknownPath(): void {
    if (!this.#pathUnknown) this.#version++;
    this.#pathUnknown = true;
  }

  #addPath(path: string[]): void {
    const key = JSON.stringify(path);
    if (this.#paths.some((p) => JSON.stringify(p) === key)) return;
    this.#paths.push(path);
    this.#version++;
  }

  #observeSet(text: string): void {
    const parsed = parseStatements(text);
    if (!parsed.ok) return this.#setUnknownPath();
    for (const { node } of parsed.statements) {
      const set = isRecord(node.VariableSetStmt) ? node.VariableSetStmt : undefined;
      if (!set) continue;
      const name = typeof set.name === 'string' ? set.name.toLowerCase() : '';
      if (set.kind === 'VAR_SET_VALUE' && name === 'search_path') {
        const values = asArray(set.args).map((a) => constText(a));
        if (values.some((v) => v === undefined)) this.#setUnknownPath();
        // Each element is one schema, truncated as the server truncates identifiers it reads from the setting.
        else this.#addPath((values as string[]).map(truncateIdentifier));
      }
      // RESET / SET DEFAULT / RESET ALL go back to the initial path, which is always kept.
    }
  }

  #observeCreatedRelations(s: StatementInspection): void {
    const facts = this.#facts(this.#o.catalog());
    for (const written of s.tables) {
      const parts = splitQualifiedName(written);
      const name = parts[parts.length - 1]!;
      if (parts.length > 1) this.#createdIn(name, [parts[0]!]);
      else this.#createdIn(name, this.#paths.map((p) => creationSchema(p, facts)).filter((x): x is string => x !== undefined));
    }
  }

  /** A relation `name` now (perhaps) exists in these schemas; the temporary schema by any of its names. */
  #createdIn(name: string, schemas: Iterable<string>): void {
    for (const schema of schemas) {
      if (schema === TEMP_SCHEMA || /^pg_temp_[0-9]+$/.test(schema)) {
        if (!this.#temp.has(name)) this.#version++;
        this.#temp.add(name);
      } else this.#remember(this.#created.relations, name, [schema]);
    }
  }

  /**
   * DROP, RENAME and SET SCHEMA of relations, functions, types and schemas, and CREATE SCHEMA: the
   * old name may now resolve elsewhere (further down the path), the new one here. The catalog is
   * read again after DDL, but not necessarily after the server ran it.
   */
  #observeMovedNames(text: string): void {
    const parsed = parseStatements(text);
    if (!parsed.ok) {
      if (!this.#movedAll) this.#version++;
      this.#movedAll = true;
      return;
    }
    const catalog = this.#o.catalog();
    const movedAll = () => {
      if (!this.#movedAll) this.#version++;
      this.#movedAll = true;
    };
    const moved = (name: string) => {
      if (!this.#moved.has(name)) this.#version++;
      this.#moved.add(name);
    };
    const schemaCreated = (name: string) => {
      if (!this.#createdSchemas.has(name)) this.#version++;
      this.#createdSchemas.add(name);
    };
    /** Schemas an unqualified function or type name may be found in now (where a rename leaves its new name). */
    const searched = (order: typeof functionSearchOrder) => {
      const facts = this.#facts(catalog);
      return [...new Set(this.#paths.flatMap((p) => order(p, facts)))];
    };
    const note = (map: Names, parts: string[], newName: string, order: typeof functionSearchOrder) =>
      this.#remember(map, newName, parts.length > 1 ? [parts[parts.length - 2]!] : searched(order));
    for (const { node } of parsed.statements) {
      const drop = isRecord(node.DropStmt) ? node.DropStmt : undefined;
      if (drop) {
        if (drop.removeType === 'OBJECT_SCHEMA') movedAll();
        else if (RELATION_KINDS.has(String(drop.removeType))) {
          for (const o of asArray(drop.objects)) {
            const parts = isRecord(o) && isRecord(o.List) ? nameParts(o.List.items) : [];
            if (parts.length > 0) moved(parts[parts.length - 1]!);
          }
        }
      }
      if (isRecord(node.DropOwnedStmt)) movedAll();
      const create = isRecord(node.CreateSchemaStmt) ? node.CreateSchemaStmt : undefined;
      if (create) {
        const role = isRecord(create.authrole) ? create.authrole : undefined;
        const name = typeof create.schemaname === 'string' && create.schemaname !== '' ? create.schemaname : typeof role?.rolename === 'string' ? role.rolename : this.#o.user;
        schemaCreated(name);
        // `CREATE SCHEMA app CREATE TABLE orders …` makes app.orders, whatever the path says.
        for (const rv of schemaElementRelations(create)) this.#createdIn(rv, [name]);
      }
      const rename = isRecord(node.RenameStmt) ? node.RenameStmt : undefined;
      if (rename && typeof rename.newname === 'string') {
        const type = String(rename.renameType);
        const newName = rename.newname;
        if (type === 'OBJECT_SCHEMA') {
          movedAll();
          schemaCreated(newName);
        } else if (RELATION_KINDS.has(type) && isRecord(rename.relation) && typeof rename.relation.relname === 'string') {
          const rv = rename.relation;
          const old = rv.relname as string;
          const schemas = typeof rv.schemaname === 'string' && rv.schemaname !== '' ? [rv.schemaname] : this.#candidates(old, catalog, false);
          moved(old);
          this.#createdIn(newName, schemas);
        } else if (FUNCTION_KINDS.has(type) && isRecord(rename.object) && isRecord(rename.object.ObjectWithArgs)) {
          note(this.#created.functions, nameParts(rename.object.ObjectWithArgs.objname), newName, functionSearchOrder);
        } else if (TYPE_KINDS.has(type) && isRecord(rename.object) && isRecord(rename.object.List)) {
          note(this.#created.types, nameParts(rename.object.List.items), newName, relationSearchOrder);
        }
      }
      const setSchema = isRecord(node.AlterObjectSchemaStmt) ? node.AlterObjectSchemaStmt : undefined;
      if (setSchema && typeof setSchema.newschema === 'string') {
        const type = String(setSchema.objectType);
        const to = setSchema.newschema;
        if (RELATION_KINDS.has(type) && isRecord(setSchema.relation) && typeof setSchema.relation.relname === 'string') {
          moved(setSchema.relation.relname);
          this.#createdIn(setSchema.relation.relname, [to]);
        } else if (FUNCTION_KINDS.has(type) && isRecord(setSchema.object) && isRecord(setSchema.object.ObjectWithArgs)) {
          const parts = nameParts(setSchema.object.ObjectWithArgs.objname);
          if (parts.length > 0) this.#remember(this.#created.functions, parts[parts.length - 1]!, [to]);
        } else if (type === 'OBJECT_OPERATOR' && isRecord(setSchema.object) && isRecord(setSchema.object.ObjectWithArgs)) {
          const parts = nameParts(setSchema.object.ObjectWithArgs.objname);
          if (parts.length > 0) this.#remember(this.#created.operators, parts[parts.length - 1]!, [to]);
        } else if (TYPE_KINDS.has(type) && isRecord(setSchema.object) && isRecord(setSchema.object.List)) {
          const parts = nameParts(setSchema.object.List.items);
          if (parts.length > 0) this.#remember(this.#created.types, parts[parts.length - 1]!, [to]);
        }
      }
    }
  }

  /** CREATE FUNCTION / AGGREGATE / OPERATOR / DOMAIN: a new candidate for names already trusted. */
  #observeCreatedObjects(text: string): void {
    const parsed = parseStatements(text);
    if (!parsed.ok) return;
    const facts = this.#facts(this.#o.catalog());
    const creation = this.#paths.map((p) => creationSchema(p, facts)).filter((x): x is string => x !== undefined);
    const note = (map: Names, parts: string[]) => {
      const name = parts[parts.length - 1];
      if (name !== undefined) this.#remember(map, name, parts.length > 1 ? [parts[parts.length - 2]!] : creation);
    };
    for (const { node } of parsed.statements) {
      if (isRecord(node.CreateFunctionStmt)) note(this.#created.functions, nameParts(node.CreateFunctionStmt.funcname));
      if (isRecord(node.CreateDomainStmt)) note(this.#created.types, nameParts(node.CreateDomainStmt.domainname));
      if (isRecord(node.CreateRangeStmt)) note(this.#created.types, nameParts(node.CreateRangeStmt.typeName));
      // A composite type, or a table's row type, runs its columns' domain checks when cast to.
      for (const rv of [isRecord(node.CompositeTypeStmt) ? node.CompositeTypeStmt.typevar : undefined, isRecord(node.CreateStmt) ? node.CreateStmt.relation : undefined]) {
        if (!isRecord(rv) || typeof rv.relname !== 'string') continue;
        const temp = rv.relpersistence === 't';
        note(this.#created.types, temp ? [TEMP_SCHEMA, rv.relname] : typeof rv.schemaname === 'string' && rv.schemaname !== '' ? [rv.schemaname, rv.relname] : [rv.relname]);
      }
      if (isRecord(node.DefineStmt)) {
        const kind = node.DefineStmt.kind;
        const parts = nameParts(node.DefineStmt.defnames);
        if (kind === 'OBJECT_AGGREGATE') note(this.#created.functions, parts);
        else if (kind === 'OBJECT_OPERATOR') note(this.#created.operators, parts);
        else if (kind === 'OBJECT_TYPE') note(this.#created.types, parts);
      }
    }
  }

  #remember(map: Names, name: string, schemas: string[]): void {
    let set = map.get(name);
    if (!set) map.set(name, (set = new Set()));
    for (const s of schemas) {
      if (!set.has(s)) this.#version++;
      set.add(s);
    }
  }
}
