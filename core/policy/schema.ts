// The published Airlock Cedar schema, embedded so the domain needs no file access.
// The same text is published as policies/airlock.cedarschema; test/unit/policy-schema.test.ts keeps them identical.
export const AIRLOCK_SCHEMA = `// Airlock policy schema (Cedar). Every policy set is validated against it before it is used,
// so a typo in an attribute or action name is a load error, not a silent "never matches".
// Keep in sync with core/policy/schema.ts (a unit test compares the two).
namespace Airlock {
  // A group from the access token's groups claim (entity id = the group name).
  entity Group;

  // The agent: the principal of a verified access token (entity id = Principal.id).
  entity Agent in [Group] {
    issuer: String,
    clientId?: String,
  };

  // A configured target (entity id = TargetInfo.name). Its free-form configuration tags are Cedar
  // entity tags, read with resource.hasTag("team") && resource.getTag("team") == "payments".
  entity Target {
    kind: String,        // "postgres" | "ssh" | "kube" | "http"
    environment: String, // e.g. "production", "staging", "demo"
  } tags String;

  // What inspection found in one statement. The statement text is deliberately absent:
  // matching SQL text with patterns is easy to evade; decide on the parsed facts instead.
  type Statement = {
    class: String,               // the statement class, same as the action id
    statementTypes: Set<String>, // parser node types, e.g. "SelectStmt", "DeleteStmt"
    tables: Set<String>,         // lower-cased, schema-qualified when the statement qualified them
    functions: Set<String>,      // lower-cased, schema-qualified when qualified
    dmlWithoutWhere: Bool,       // an UPDATE or DELETE without WHERE somewhere inside
  };

  // Every per-statement action: a policy naming action in Airlock::Action::"statement" matches any statement.
  action statement;

  // Connect time: may this agent use this target at all?
  action connect appliesTo {
    principal: [Agent],
    resource: [Target],
    context: {},
  };

  // One action per statement class, least to most dangerous.
  action read, write, ddl, destructive, privileged, opaque in [statement] appliesTo {
    principal: [Agent],
    resource: [Target],
    context: Statement,
  };

  // Session start: may this agent see this target's responses without masking? Default: masked.
  action view_unmasked appliesTo {
    principal: [Agent],
    resource: [Target],
    context: {},
  };

  // The PostgreSQL FunctionCall protocol message: a function invoked by oid, with no SQL to inspect.
  action function_call appliesTo {
    principal: [Agent],
    resource: [Target],
    context: { functionOid: Long },
  };
}
`;
