// Translates Airlock's vocabulary into Cedar's entity model (see policies/airlock.cedarschema).
import type { Context, EntityJson, EntityUidJson } from '@cedar-policy/cedar-wasm/nodejs';
import type { Principal, StatementInspection, TargetInfo } from '../model.js';

export const AGENT = 'Airlock::Agent';
export const GROUP = 'Airlock::Group';
export const TARGET = 'Airlock::Target';
export const ACTION = 'Airlock::Action';

export type ActionId = 'connect' | 'function_call' | 'view_unmasked' | StatementInspection['class'];

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
  };
}
