// Which columns of each PostgreSQL target are masked, so that policy can see a statement that uses
// one where masking cannot follow it (core/classify/masked-column-uses.ts). Two sources, cached per
// target: the columns whose names a column rule matches (read from pg_attribute with the rules'
// patterns, at a session's login when the cache is stale), and the columns where detectors found
// sensitive values in a masked session's results (RowDescription names the table OID and attribute
// number of a plain column; the names are looked up on a connection of their own, soon after).
import type { MaskedColumns } from '../../../../core/classify/masked-column-uses.js';
import { compileColumnRules, globToRegExp } from '../../../../core/mask/column-rules.js';
import type { ColumnRule } from '../../../../core/mask/index.js';
import { qualifiedName } from '../../../../core/classify/relation-names.js';
import { queryUpstream, type UpstreamConnection } from './upstream.js';

/** How long rule-matched columns are trusted before a login reads them again (new tables). */
const RULE_COLUMNS_REFRESH_MS = 60_000;
/** Detector hits are looked up in batches, this long after the first of a batch. */
const LOOKUP_DELAY_MS = 50;
/** Most columns kept per target: beyond this, new ones are still found by rules, not learned. */
const MAX_COLUMNS = 100_000;

export interface MaskedColumnsLog {
  warn(obj: object, msg: string): void;
}

class TargetMasked implements MaskedColumns {
  version = 0;
  readonly byTable = new Map<string, Set<string>>();
  size = 0;
  ruleColumnsAt = 0;
  /** `oid:attnum` of each column a rule matches → its name: a result column renamed by an alias is still that column. */
  readonly ruleColumnByOrigin = new Map<string, string>();
  /** `oid:attnum` pairs already known or being looked up. */
  readonly seen = new Set<string>();
  readonly pending: [number, number][] = [];
  timer: NodeJS.Timeout | undefined;

  constructor(readonly ruleMasks: (column: string) => boolean) {}

  columnsOf(table: string): ReadonlySet<string> | undefined {
    return this.byTable.get(table);
  }

  add(schema: string, table: string, column: string): void {
    const key = qualifiedName(schema, table);
    let cols = this.byTable.get(key);
    if (cols?.has(column)) return;
    if (this.size >= MAX_COLUMNS) return;
    if (!cols) this.byTable.set(key, (cols = new Set()));
    cols.add(column);
    this.size++;
    this.version++;
  }
}

export class MaskedColumnRegistry {
  readonly #byTarget = new Map<string, TargetMasked>();
  readonly #ruleMasks: (column: string) => boolean;
  /** POSIX regular expressions (case-insensitive) for the column rules; empty when there are none. */
  readonly #patterns: string[];

  constructor(
    rules: readonly ColumnRule[],
    private readonly log: MaskedColumnsLog,
  ) {
    const match = compileColumnRules([...rules]);
    this.#ruleMasks = (c) => match(c) !== undefined;
    // JavaScript's `^…$` with `.` and escapes is also a valid POSIX ARE for these patterns.
    this.#patterns = rules.map((r) => globToRegExp(r.pattern).source);
  }

  /** What is masked on `target`, as the session resolver asks for it. */
  of(target: string): MaskedColumns {
    let t = this.#byTarget.get(target);
    if (!t) this.#byTarget.set(target, (t = new TargetMasked(this.#ruleMasks)));
    return t;
  }

  /** Reads the columns the rules match, on a session's fresh connection, when not read lately. */
  async ensureRuleColumns(target: string, conn: UpstreamConnection): Promise<void> {
    const t = this.of(target) as TargetMasked;
    if (this.#patterns.length === 0 || Date.now() - t.ruleColumnsAt < RULE_COLUMNS_REFRESH_MS) return;
    const regexes = this.#patterns.map((p) => `E'${p.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`).join(', ');
    const rows = await queryUpstream(
      conn,
      `SELECT n.nspname::text, c.relname::text, a.attname::text, c.oid::text, a.attnum::text
         FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'v', 'm', 'f', 'p')
          AND a.attname::text ~* ANY (ARRAY[${regexes}])`,
      MAX_COLUMNS,
    );
    for (const [schema, table, column, oid, attnum] of rows) {
      if (!schema || !table || !column) continue;
      t.add(schema, table, column);
      if (oid && attnum) t.ruleColumnByOrigin.set(`${oid}:${attnum}`, column);
    }
    t.ruleColumnsAt = Date.now();
  }

  /** The name of the rule-matched column a result column comes from (by RowDescription's table OID and attribute number). */
  ruleColumnAt(target: string, tableOid: number, attnum: number): string | undefined {
    return (this.#byTarget.get(target) as TargetMasked | undefined)?.ruleColumnByOrigin.get(`${tableOid}:${attnum}`);
  }

  /**
   * A detector masked a value of the column `attnum` of the table with `tableOid` (from a
   * RowDescription). Looked up soon, in a batch, on a connection of its own; a failure is logged
   * and the column is tried again at its next hit.
   */
  detectorHit(target: string, tableOid: number, attnum: number, open: () => Promise<UpstreamConnection>, close: (c: UpstreamConnection) => void): void {
    if (!(tableOid > 0 && attnum > 0)) return;
    const t = this.of(target) as TargetMasked;
    const key = `${tableOid}:${attnum}`;
    if (t.seen.has(key) || t.size >= MAX_COLUMNS) return;
    t.seen.add(key);
    t.pending.push([tableOid, attnum]);
    if (t.timer) return;
    t.timer = setTimeout(() => void this.#lookUp(target, t, open, close), LOOKUP_DELAY_MS);
    t.timer.unref();
  }

  async #lookUp(target: string, t: TargetMasked, open: () => Promise<UpstreamConnection>, close: (c: UpstreamConnection) => void): Promise<void> {
    t.timer = undefined;
    const batch = t.pending.splice(0);
    if (batch.length === 0) return;
    let conn: UpstreamConnection | undefined;
    try {
      conn = await open();
      // Integers only: the pairs go into the query as numbers.
      const pairs = batch.map(([oid, att]) => `(${Math.trunc(oid)}::oid, ${Math.trunc(att)}::int2)`).join(', ');
      const rows = await queryUpstream(
        conn,
        `SELECT n.nspname::text, c.relname::text, a.attname::text
           FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE (a.attrelid, a.attnum) IN (${pairs})`,
        batch.length,
      );
      for (const [schema, table, column] of rows) if (schema && table && column) t.add(schema, table, column);
    } catch (err) {
      for (const [oid, att] of batch) t.seen.delete(`${oid}:${att}`);
      this.log.warn({ target, err: (err as Error).message }, 'looking up columns where detectors found sensitive values failed');
    } finally {
      if (conn) close(conn);
    }
  }

  close(): void {
    for (const t of this.#byTarget.values()) if (t.timer) clearTimeout(t.timer);
  }
}
