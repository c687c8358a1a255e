// The vocabulary every part of Airlock shares. Protocol- and cloud-agnostic by design:
// nothing here knows about wire formats, AWS, files or sockets.
import type { Task } from './task/types.js';

/** Who is acting: derived from a verified access token, never from anything the client asserts. */
export interface Principal {
  /** Stable principal id (the configured claim, `sub` by default). */
  id: string;
  /** Groups from the configured groups claim (empty when the claim is absent). */
  groups: string[];
  /** Issuer that vouched for this principal. */
  issuer: string;
  /** `jti` of the token when present: lets audit tie a session to one token. */
  tokenId?: string;
  /** OAuth client id when present (`client_id` or `azp`). */
  clientId?: string;
  /** Token expiry, seconds since epoch. */
  expiresAt?: number;
  /**
   * Set when the agent presented a task token (core/task): the live task record, whose scope,
   * expiry and budgets bound what the session may do (issue 32).
   */
  task?: Task;
}

export type TargetKind = 'postgres' | 'ssh' | 'kube' | 'http' | /* issue 31 */ 'kubernetes';

/** What policy may know about a target: its name and descriptive attributes, never its address or credential. */
export interface TargetInfo {
  name: string;
  kind: TargetKind;
  /** e.g. `production`, `staging`, `demo`. */
  environment: string;
  /** Free-form string attributes from configuration (team, data classification, …). */
  tags: Record<string, string>;
}

/**
 * Statement classes, from least to most dangerous. Each maps to one Cedar action.
 * The class of a statement is the most dangerous class of anything inside it.
 */
export const STATEMENT_CLASSES = ['read', 'write', 'ddl', 'destructive', 'privileged', 'opaque'] as const;
export type StatementClass = (typeof STATEMENT_CLASSES)[number];

export function moreDangerous(a: StatementClass, b: StatementClass): StatementClass {
  return STATEMENT_CLASSES.indexOf(a) >= STATEMENT_CLASSES.indexOf(b) ? a : b;
}

/** What inspection found in one statement (one element of a multi-statement string). */
export interface StatementInspection {
  class: StatementClass;
  /** Parser node types, e.g. `SelectStmt`, `DeleteStmt`, `CreateRoleStmt` (every one found, nested included). */
  statementTypes: string[];
  /** Relations touched, lower-cased, schema-qualified where the statement qualified them (`public.users` or `users`). */
  tables: string[];
  /** Functions called, lower-cased, schema-qualified where qualified. */
  functions: string[];
  /** True when an UPDATE or DELETE anywhere inside has no WHERE clause. */
  dmlWithoutWhere: boolean;
  /** Reads a catalog holding server secrets: password verifiers, pg_hba rules, configuration files, user mappings. */
  serverSecrets?: boolean;
  /** Sets a limit the server enforces out of the way: `statement_timeout = 0`, `lock_timeout = 0`, a huge `work_mem`. */
  liftsServerLimits?: boolean;
  /** Human-readable reasons for the class, e.g. `calls pg_read_file()`, `COPY ... PROGRAM`. */
  reasons: string[];
  /** The statement's own text (as sent; masking of literals is the audit layer's job). */
  text: string;
  /**
   * Names the server looks up through the session's search_path besides tables and functions:
   * operators, the types of casts (a domain's CHECK or a user cast runs code), and the last field
   * of `x.name` references (attribute notation calls a function `name(x)` when no column has that
   * name). Read by the session resolver (core/classify/session-scope.ts); not shown to policy.
   */
  lookups?: {
    operators: string[];
    types: string[];
    attributes: string[];
    /** `name/n` for each call of `name` with n arguments (as written), to tell overloads apart. */
    calls?: string[];
  };
  /**
   * Columns used where a masked value could be inferred without being returned (conditions,
   * orderings, transformations), by name as written; read by the session resolver, which reports
   * the masked ones as `maskedColumnsInPredicates` / `maskedColumnsTransformed`. Not shown to policy.
   */
  columnUses?: ColumnUses;
  /** Masked columns (canonical `schema.table.column`) in WHERE/JOIN/HAVING/ORDER BY and the like. */
  maskedColumnsInPredicates?: string[];
  /** Masked columns passed through a function, operator or cast, or copied (INSERT … SELECT, COPY). */
  maskedColumnsTransformed?: string[];
  /** Set on `PREPARE name AS body`: the session should remember `body` under `name` once the server accepts it. */
  prepare?: { name: string; body: StatementInspection };
  /** Set on `DEALLOCATE name` (`'*'` for `DEALLOCATE ALL`): the session should forget it. */
  deallocate?: string | '*';
}

/** See StatementInspection.columnUses; `*` stands for any column of the statement's tables. */
export interface ColumnUses {
  predicates: string[];
  transformed: string[];
  /** Output name (select-list alias, renamed subquery or CTE column) → the names it is made from. */
  aliases: [name: string, sources: string[]][];
}

export type Inspection =
  | { ok: true; statements: StatementInspection[]; class: StatementClass }
  | { ok: false; error: string };

export type Effect = 'allow' | 'deny' | 'approve';

/** A policy decision, with enough to explain it to the agent and to the auditor. */
export interface Decision {
  effect: Effect;
  /** Ids of the policies that decided (the permit/forbid that matched; empty for default deny). */
  policyIds: string[];
  /** Version of the policy set that decided; audit records it with every decision. */
  policyVersion: string;
  /** Human-readable explanation for the agent (no secrets, no data values). */
  reason: string;
}
