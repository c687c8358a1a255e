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
    kind: String,        // "postgres" | "ssh" | "kube" | "http" | "kubernetes"
    environment: String, // e.g. "production", "staging", "demo"
  } tags String;

  // What inspection found in one statement. The statement text is deliberately absent:
  // matching SQL text with patterns is easy to evade; decide on the parsed facts instead.
  type Statement = {
    class: String,               // the statement class, same as the action id
    statementTypes: Set<String>, // parser node types, e.g. "SelectStmt", "DeleteStmt"
    tables: Set<String>,         // canonical "schema.table" as the server resolves it (search_path, CTEs, quoting)
    functions: Set<String>,      // as written: exact case, schema-qualified when qualified
    dmlWithoutWhere: Bool,       // an UPDATE or DELETE without WHERE somewhere inside
    // --- issue 28: name resolution, server secrets, limits ---
    serverSecrets: Bool,         // reads pg_authid, pg_shadow, pg_hba_file_rules, pg_file_settings, user mappings, ...
    liftsServerLimits: Bool,     // statement_timeout/lock_timeout = 0, work_mem above 1 GB, ...
    maskedColumnsInPredicates: Set<String>, // masked columns ("schema.table.column") in WHERE/JOIN/HAVING/ORDER BY, LIKE, comparisons
    maskedColumnsTransformed: Set<String>,  // masked columns passed through a function, operator or cast, or copied (INSERT … SELECT, COPY)
    // --- end issue 28 ---
    // --- issue 32: present when the agent connected with a task token ---
    task?: Task,
  };

  // The task an action runs under (docs/tasks.md). Test with "context has task" first.
  type Task = {
    id: String,
    scope: Set<String>,          // as granted, normalised: "read", "write", "write:public.orders"
    read: Bool,
    writeTables: Set<String>,    // canonical "schema.table"; "*" when the scope says "write"
    targets: Set<String>,
    expiresAt: Long,             // seconds since epoch
    remaining: {                 // budget left; -1 = unlimited
      statements: Long,
      rowsReturned: Long,
      rowsAffected: Long,
      bytesRead: Long,
      commands: Long,
    },
  };

  // An agent asks for a task on this target: allow = granted at once, @approval("required") = a
  // reviewer decides, no permit = denied. One decision per target the task names.
  action task_open appliesTo {
    principal: [Agent],
    resource: [Target],
    context: {
      scope: Set<String>,
      write: Bool,
      writeTables: Set<String>,
      durationSeconds: Long,
    },
  };
  // --- end issue 32 ---

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

  // What inspection found in one shell command line (SSH exec, or a line typed in a shell).
  // The text is absent for the same reason as a statement's: decide on the parsed facts.
  type Command = {
    class: String,               // read | write | destructive | privileged | opaque (the action is "command_" + class)
    binaries: Set<String>,       // programs run, base names, wrappers included: "sudo", "rm", "systemctl"
    argv: Set<String>,           // every word of every command in the line
    categories: Set<String>,     // e.g. "privilege_escalation", "destructive_file", "service_control", "process_control",
                                 // "package_install", "disk_tool", "network_exfiltration", "download_execute",
                                 // "system_path_write", "user_management", "file_write", "inline_script"
    sudo: Bool,                  // something runs as another user (sudo, su, doas, pkexec, runuser, chroot)
    paths: Set<String>,          // files written, as written on the command line
    task?: Task,                 // issue 32: present when the agent logged in with a task token
  };

  // Every shell command: a policy naming action in Airlock::Action::"command" matches any command.
  action command;

  // One action per command class (SSH exec requests and lines submitted in interactive shells).
  action command_read, command_write, command_destructive, command_privileged, command_opaque in [command] appliesTo {
    principal: [Agent],
    resource: [Target],
    context: Command,
  };

  // SSH: open an interactive shell (each submitted line is still decided as a command).
  action interactive_shell appliesTo {
    principal: [Agent],
    resource: [Target],
    context: { pty: Bool },
  };

  // SSH file transfer (SFTP, and scp over SFTP): one request per file operation.
  action file_transfer;
  action file_read, file_write in [file_transfer] appliesTo {
    principal: [Agent],
    resource: [Target],
    context: { operation: String, path: String },
  };

  // SSH port forwarding: local (-L/-W, direct-tcpip) to host:port as seen from the target, or remote
  // (-R, tcpip-forward) where host:port is the address the target listens on.
  action port_forward appliesTo {
    principal: [Agent],
    resource: [Target],
    context: { host: String, port: Long },
  };

  // SSH agent forwarding and X11 forwarding requests.
  action agent_forward, x11_forward appliesTo {
    principal: [Agent],
    resource: [Target],
    context: {},
  };
  // --- http (issue 30) ---
  // One HTTP request, as the gateway will forward it. "path" is the canonical path below the
  // target's base URL (percent-decoded, dot segments resolved, duplicate slashes merged; see docs/http.md):
  // match it with "like", e.g. context.path like "/admin/*".
  type HttpRequest = {
    method: String,             // GET, POST, … (upper case)
    path: String,               // canonical, always starting with "/"
    query: String,              // the query string as forwarded, without "?" ("" when none)
    queryParams: Set<String>,   // names of the query parameters (decoded)
    headers: Set<String>,       // "name=value" for the target's configured contextHeaders
    contentType: String,        // media type of the request body, lower case, no parameters ("" when none)
    bodyBytes: Long,            // size of the request body
    route: String,              // id of the target's route rule that classified it ("" when none)
    upgrade: String,            // "websocket" for a WebSocket upgrade (decided as http_write: it can send), else ""
    operationId: String,        // the operation in the target's OpenAPI document the request matched ("" when none)
    operationTags: Set<String>, // that operation's tags
    task?: Task,                // issue 32: present when the bearer is a task token
  };

  // Every HTTP request: a policy naming action in Airlock::Action::"http_request" matches any request.
  action http_request;

  // GET/HEAD/OPTIONS are reads, POST/PUT/PATCH writes, DELETE deletes, unless a route rule reclassifies.
  // http_opaque: the target's OpenAPI document names no operation for the request (openapi.unmatched: opaque).
  action http_read, http_write, http_delete, http_opaque in [http_request] appliesTo {
    principal: [Agent],
    resource: [Target],
    context: HttpRequest,
  };
  // --- end http ---
  // --- kubernetes (issue 31) ---
  // One Kubernetes API request, resolved as kube-apiserver resolves it (docs/kubernetes.md). The
  // action is the request's family; the context its attributes, e.g.
  //   context.namespace like "prod-*" && context.resource == "pods" && context.verb == "delete".
  type KubeRequest = {
    verb: String,         // get list watch create update patch delete deletecollection proxy; non-resource: the lower-case method
    apiGroup: String,     // "" for the core group, "apps", "rbac.authorization.k8s.io", ...
    apiVersion: String,   // "v1", ...
    resource: String,     // plural: "pods", "secrets", "deployments" ("" for a non-resource path)
    subresource: String,  // "status", "scale", "log", "token", "proxy", "ephemeralcontainers", ... ("" when none)
    namespace: String,    // "" for cluster-scoped requests
    name: String,         // "" for collections (a list narrowed by fieldSelector metadata.name carries the name)
    path: String,         // the decoded request path (discovery, /version, /openapi/... are non-resource paths)
    dryRun: Bool,         // dryRun=All: the API server validates and persists nothing
    podRisks: Set<String>, // in a written body: "privileged", "hostNetwork", "hostPID", "hostIPC", "hostPath",
                           // "capabilities", "allowPrivilegeEscalation", "ephemeralContainers" (k8s_privileged_pod)
    task?: Task,           // issue 32: present when the bearer is a task token
  };

  // Every Kubernetes API request but exec/attach/port-forward streams.
  action k8s_request;

  // k8s_read: get/list/watch and non-resource reads (discovery); k8s_secret_read: the same on Secrets;
  // k8s_write: create/update/patch; k8s_delete: delete/deletecollection; k8s_credential_mint:
  // serviceaccounts/token and certificatesigningrequests; k8s_privileged_pod: writes whose pod spec or
  // pod template asks for privilege or the host's namespaces (podRisks), and ephemeral containers;
  // k8s_proxy: the proxy subresource or verb (HTTP into pods, services, nodes).
  action k8s_read, k8s_secret_read, k8s_write, k8s_delete, k8s_credential_mint, k8s_privileged_pod, k8s_proxy in [k8s_request] appliesTo {
    principal: [Agent],
    resource: [Target],
    context: KubeRequest,
  };

  // pods/exec and pods/attach: the command, the interactive shell, or each line typed into one.
  action k8s_exec appliesTo {
    principal: [Agent],
    resource: [Target],
    context: {
      subresource: String, // "exec" | "attach"
      namespace: String,
      pod: String,
      container: String,   // "" when the request names none
      stdin: Bool,
      tty: Bool,
      input: String,       // "command" | "shell" | "attach" | "line"
      class: String,       // read | write | destructive | privileged | opaque (as for SSH commands)
      binaries: Set<String>,
      argv: Set<String>,
      categories: Set<String>,
      sudo: Bool,
      paths: Set<String>,
    },
  };

  // pods/portforward: one decision per port.
  action k8s_portforward appliesTo {
    principal: [Agent],
    resource: [Target],
    context: { namespace: String, pod: String, port: Long },
  };
  // --- end kubernetes ---
}
`;
