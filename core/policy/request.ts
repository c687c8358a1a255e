// Translates Airlock's vocabulary into Cedar's entity model (see policies/airlock.cedarschema).
import type { Context, EntityJson, EntityUidJson } from '@cedar-policy/cedar-wasm/nodejs';
import type { Principal, StatementInspection, TargetInfo } from '../model.js';
import type { CommandInspection } from '../shell/index.js';

export const AGENT = 'Airlock::Agent';
export const GROUP = 'Airlock::Group';
export const TARGET = 'Airlock::Target';
export const ACTION = 'Airlock::Action';

export type ActionId = 'connect' | 'function_call' | 'view_unmasked' | 'task_open' | StatementInspection['class'] | SshActionId | HttpActionId | KubeActionId;

// --- http (issue 30) ---
export type HttpActionId = 'http_read' | 'http_write' | 'http_delete' | 'http_opaque';
// --- end http ---
// --- kubernetes (issue 31) ---
export type KubeRequestActionId = 'k8s_read' | 'k8s_secret_read' | 'k8s_write' | 'k8s_delete' | 'k8s_credential_mint' | 'k8s_privileged_pod' | 'k8s_proxy';
export type KubeActionId = KubeRequestActionId | 'k8s_exec' | 'k8s_portforward';
// --- end kubernetes ---

/** Shell commands, file transfers and channel requests of SSH sessions. */
export type SshActionId =
  | `command_${Exclude<CommandInspection['class'], 'ddl'>}`
  | 'interactive_shell'
  | 'file_read'
  | 'file_write'
  | 'port_forward'
  | 'agent_forward'
  | 'x11_forward';

export interface CedarRequest {
  principal: EntityUidJson;
  action: EntityUidJson;
  resource: EntityUidJson;
  context: Context;
  entities: EntityJson[];
}

export function cedarRequest(principal: Principal, target: TargetInfo, action: ActionId, context: Context): CedarRequest {
  const agent = { type: AGENT, id: principal.id };
  const resource = { type: TARGET, id: target.name };
  const groups = [...new Set(principal.groups)].map((id) => ({ type: GROUP, id }));
  return {
    principal: agent,
    action: { type: ACTION, id: action },
    resource,
    context,
    entities: [
      {
        uid: agent,
        attrs: { issuer: principal.issuer, ...(principal.clientId !== undefined ? { clientId: principal.clientId } : {}) },
        parents: groups,
      },
      ...groups.map((uid) => ({ uid, attrs: {}, parents: [] })),
      {
        uid: resource,
        attrs: { kind: target.kind, environment: target.environment },
        parents: [],
        tags: { ...target.tags },
      },
    ],
  };
}

/** The statement facts policy may see. The text is left out on purpose: see the schema. */
export function statementContext(statement: StatementInspection): Context {
  return {
    class: statement.class,
    statementTypes: [...new Set(statement.statementTypes)],
    tables: [...new Set(statement.tables)],
    functions: [...new Set(statement.functions)],
    dmlWithoutWhere: statement.dmlWithoutWhere,
    // --- inspection facts of issue 28 (name resolution, server secrets, limits) ---
    serverSecrets: statement.serverSecrets ?? false,
    liftsServerLimits: statement.liftsServerLimits ?? false,
    maskedColumnsInPredicates: [...new Set(statement.maskedColumnsInPredicates ?? [])],
    maskedColumnsTransformed: [...new Set(statement.maskedColumnsTransformed ?? [])],
    // --- end issue 28 ---
  };
}

/**
 * Names everything a statement decision depends on besides principal and target: two statements
 * with the same key get the same decision from the same policy set (the text is not among it).
 */
export function statementDecisionKey(statement: StatementInspection): string {
  return JSON.stringify([
    statement.class, statement.statementTypes, statement.tables, statement.functions, statement.dmlWithoutWhere,
    statement.serverSecrets ?? false, statement.liftsServerLimits ?? false,
    statement.maskedColumnsInPredicates ?? [], statement.maskedColumnsTransformed ?? [],
  ]);
}

/** The command facts policy may see; the text stays out, as for statements. */
export function commandContext(command: CommandInspection): Context {
  return {
    class: command.class,
    binaries: [...new Set(command.binaries)],
    argv: [...new Set(command.argv)],
    categories: [...new Set(command.categories)],
    sudo: command.sudo,
    paths: [...new Set(command.paths)],
  };
}

/** A command's action; no shell command is DDL, but a caller's class is never widened silently. */
export function commandAction(command: CommandInspection): SshActionId {
  return command.class === 'ddl' ? 'command_write' : `command_${command.class}`;
}

// --- http (issue 30) ---
/** One HTTP request's facts, as policy sees them (see HttpRequest in the schema). */
export interface HttpRequestFacts {
  /** `opaque`: the target's OpenAPI document names no such operation and the target says so. */
  action: 'read' | 'write' | 'delete' | 'opaque';
  method: string;
  /** Canonical path below the target's base URL. */
  path: string;
  query: string;
  queryParams: string[];
  /** `name=value` for the target's configured context headers. */
  headers: string[];
  contentType: string;
  bodyBytes: number;
  route: string;
  /** `websocket` for an upgrade, else "". */
  upgrade?: string;
  /** The OpenAPI operation the request matched ("" when none, or the target has no document). */
  operationId?: string;
  operationTags?: string[];
}

export function httpContext(r: HttpRequestFacts): Context {
  return {
    method: r.method,
    path: r.path,
    query: r.query,
    queryParams: [...new Set(r.queryParams)],
    headers: [...new Set(r.headers)],
    contentType: r.contentType,
    bodyBytes: r.bodyBytes,
    route: r.route,
    upgrade: r.upgrade ?? '',
    operationId: r.operationId ?? '',
    operationTags: [...new Set(r.operationTags ?? [])],
  };
}
// --- end http ---

// --- kubernetes (issue 31) ---
/** One Kubernetes API request's attributes, as policy sees them (KubeRequest in the schema). */
export interface KubeRequestFacts {
  verb: string;
  apiGroup: string;
  apiVersion: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  path: string;
  dryRun: boolean;
  podRisks: string[];
}

export function kubeRequestContext(r: KubeRequestFacts): Context {
  return {
    verb: r.verb,
    apiGroup: r.apiGroup,
    apiVersion: r.apiVersion,
    resource: r.resource,
    subresource: r.subresource,
    namespace: r.namespace,
    name: r.name,
    path: r.path,
    dryRun: r.dryRun,
    podRisks: [...new Set(r.podRisks)],
  };
}
// --- end kubernetes ---
