import { createHash } from 'node:crypto';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import type { Context } from '@cedar-policy/cedar-wasm/nodejs';
import type { Decision, Principal, StatementInspection, TargetInfo } from '../model.js';
import { STATEMENT_CLASSES } from '../model.js';
import { analysePolicySet, type PolicyInfo } from './compile.js';
import { toDecision } from './decide.js';
import { PolicyError } from './errors.js';
import { cedarRequest, commandAction, commandContext, httpContext, statementContext, type ActionId, type CedarRequest, type HttpRequestFacts } from './request.js';
import { kubeRequestContext, type KubeRequestActionId, type KubeRequestFacts } from './request.js';
import type { CommandInspection } from '../shell/index.js';
import { AIRLOCK_SCHEMA } from './schema.js';
import { taskPolicyContext, type TaskOpenFacts } from '../task/service.js';

export interface PolicyEngine {
  /** Content hash of the policy set and schema; recorded with every decision. */
  readonly version: string;
  /** Validator warnings and ignored annotations found when the set was compiled. */
  readonly warnings: readonly string[];
  authorizeConnect(principal: Principal, target: TargetInfo): Decision;
  authorizeStatement(principal: Principal, target: TargetInfo, statement: StatementInspection): Decision;
  authorizeFunctionCall(principal: Principal, target: TargetInfo, functionOid: number): Decision;
  /** May this principal see the target's responses unmasked (action `view_unmasked`)? */
  authorizeUnmasked(principal: Principal, target: TargetInfo): Decision;
  /** A shell command line (SSH exec, or a line submitted in an interactive shell). */
  authorizeCommand(principal: Principal, target: TargetInfo, command: CommandInspection): Decision;
  /** Opening an interactive shell (`interactive_shell`). */
  authorizeShell(principal: Principal, target: TargetInfo, pty: boolean): Decision;
  /** One SFTP operation: reads (open for reading, stat, list) are `file_read`, anything else `file_write`. */
  authorizeFileOperation(principal: Principal, target: TargetInfo, op: FileOperation): Decision;
  authorizePortForward(principal: Principal, target: TargetInfo, host: string, port: number): Decision;
  authorizeForwarding(principal: Principal, target: TargetInfo, kind: 'agent_forward' | 'x11_forward'): Decision;
  // --- http (issue 30) ---
  /** One HTTP request (`http_read` / `http_write` / `http_delete`). */
  authorizeHttpRequest(principal: Principal, target: TargetInfo, request: HttpRequestFacts): Decision;
  // --- end http ---
  /** An agent asks for a task on this target (`task_open`; issue 32). */
  authorizeTaskOpen(principal: Principal, target: TargetInfo, facts: TaskOpenFacts): Decision;
  // --- kubernetes (issue 31) ---
  /** One Kubernetes API request, under the action of its family (`k8s_read`, `k8s_write`, ...). */
  authorizeKubernetesRequest(principal: Principal, target: TargetInfo, action: KubeRequestActionId, request: KubeRequestFacts): Decision;
  /** An exec/attach command or line (`k8s_exec`) or a forwarded port (`k8s_portforward`); the context as the streaming contract states it. */
  authorizeKubernetesStream(principal: Principal, target: TargetInfo, action: 'k8s_exec' | 'k8s_portforward', context: Record<string, string | number | boolean | string[]>, what: string): Decision;
  // --- end kubernetes ---
}

export interface FileOperation {
  access: 'read' | 'write';
  /** The SFTP request, e.g. `open`, `remove`, `rename`, `mkdir`, `readdir`, `stat`. */
  operation: string;
  path: string;
}

/**
 * Parses, validates and preparses a policy set once; authorizations then reuse the parsed form.
 * Throws PolicyError listing every problem when the set does not validate against the schema.
 * Without `schemaText` the published Airlock schema is used.
 */
export function compilePolicySet(policyText: string, schemaText: string = AIRLOCK_SCHEMA): PolicyEngine {
  const analysis = analysePolicySet(policyText, schemaText);
  if (!analysis.ok) throw new PolicyError(analysis.errors);

  const version = `sha256:${createHash('sha256').update(JSON.stringify([policyText, schemaText])).digest('hex')}`;
  const schemaName = `schema:${createHash('sha256').update(schemaText).digest('hex')}`;
  // The wasm module caches preparsed sets by name for the life of the process (there is no
  // eviction), so names are content hashes: reloading identical text reuses the cached entry.
  const preparsed = [cedar.preparseSchema(schemaName, schemaText), cedar.preparsePolicySet(version, { staticPolicies: analysis.policies })];
  const preparseErrors = preparsed.flatMap((r) => (r.type === 'failure' ? r.errors.map((e) => e.message) : []));
  if (preparseErrors.length > 0) throw new PolicyError(preparseErrors);

  const engine = new CedarPolicyEngine(version, schemaName, analysis.info, analysis.warnings);
  engine.selfTest();
  return engine;
}

/** A task token's live task (scope, expiry, the budget left) as `context.task` (issue 32). */
function withTask(principal: Principal, context: Context): Context {
  if (principal.task) (context as Record<string, unknown>).task = taskPolicyContext(principal.task);
  return context;
}

/** For `airlock policy check`: every error and warning, without throwing. */
export function checkPolicy(policyText: string, schemaText: string = AIRLOCK_SCHEMA): { ok: boolean; errors: string[]; warnings: string[] } {
  const analysis = analysePolicySet(policyText, schemaText);
  if (!analysis.ok) return { ok: false, errors: analysis.errors, warnings: analysis.warnings };
  try {
    const engine = compilePolicySet(policyText, schemaText);
    return { ok: true, errors: [], warnings: [...engine.warnings] };
  } catch (err) {
    const errors = err instanceof PolicyError ? err.errors : [String(err)];
    return { ok: false, errors, warnings: analysis.warnings };
  }
}

/** Decisions remembered per engine; a few hundred bytes each. */
const RECENT_DECISIONS = 2000;

class CedarPolicyEngine implements PolicyEngine {
  private readonly recent = new Map<string, Decision>();

  constructor(
    readonly version: string,
    private readonly schemaName: string,
    private readonly info: ReadonlyMap<string, PolicyInfo>,
    readonly warnings: readonly string[],
  ) {}

  authorizeConnect(principal: Principal, target: TargetInfo): Decision {
    return this.decide(cedarRequest(principal, target, 'connect', {}), `connect to target "${target.name}"`);
  }

  authorizeUnmasked(principal: Principal, target: TargetInfo): Decision {
    return this.decide(cedarRequest(principal, target, 'view_unmasked', {}), `view unmasked data on target "${target.name}"`);
  }

  authorizeStatement(principal: Principal, target: TargetInfo, statement: StatementInspection): Decision {
    const context = statementContext(statement);
    return this.decide(cedarRequest(principal, target, statement.class, withTask(principal, context)), `${statement.class} on target "${target.name}"`);
  }

  authorizeTaskOpen(principal: Principal, target: TargetInfo, f: TaskOpenFacts): Decision {
    return this.decide(
      cedarRequest(principal, target, 'task_open', { scope: f.scope, write: f.write, writeTables: f.writeTables, durationSeconds: f.durationSeconds }),
      `a task with scope ${f.scope.join(',')} on target "${target.name}"`,
    );
  }

  authorizeFunctionCall(principal: Principal, target: TargetInfo, functionOid: number): Decision {
    return this.decide(
      cedarRequest(principal, target, 'function_call', { functionOid }),
      `function call (oid ${functionOid}) on target "${target.name}"`,
    );
  }

  authorizeCommand(principal: Principal, target: TargetInfo, command: CommandInspection): Decision {
    return this.decide(cedarRequest(principal, target, commandAction(command), withTask(principal, commandContext(command))), `${command.class} command on target "${target.name}"`);
  }

  authorizeShell(principal: Principal, target: TargetInfo, pty: boolean): Decision {
    return this.decide(cedarRequest(principal, target, 'interactive_shell', { pty }), `interactive shell on target "${target.name}"`);
  }

  authorizeFileOperation(principal: Principal, target: TargetInfo, op: FileOperation): Decision {
    return this.decide(
      cedarRequest(principal, target, op.access === 'read' ? 'file_read' : 'file_write', { operation: op.operation, path: op.path }),
      `file ${op.operation} of ${op.path} on target "${target.name}"`,
    );
  }

  authorizePortForward(principal: Principal, target: TargetInfo, host: string, port: number): Decision {
    return this.decide(cedarRequest(principal, target, 'port_forward', { host, port }), `port forwarding to ${host}:${port} from target "${target.name}"`);
  }

  authorizeForwarding(principal: Principal, target: TargetInfo, kind: 'agent_forward' | 'x11_forward'): Decision {
    return this.decide(cedarRequest(principal, target, kind, {}), `${kind.replace('_', ' ')}ing on target "${target.name}"`);
  }

  // --- http (issue 30) ---
  authorizeHttpRequest(principal: Principal, target: TargetInfo, r: HttpRequestFacts): Decision {
    return this.decide(cedarRequest(principal, target, `http_${r.action}`, withTask(principal, httpContext(r))), `http_${r.action} ${r.method} ${r.path} on target "${target.name}"`);
  }
  // --- end http ---

  // --- kubernetes (issue 31) ---
  authorizeKubernetesRequest(principal: Principal, target: TargetInfo, action: KubeRequestActionId, r: KubeRequestFacts): Decision {
    const object = r.resource ? `${r.resource}${r.subresource ? `/${r.subresource}` : ''}${r.name ? ` "${r.name}"` : ''}${r.namespace ? ` in namespace "${r.namespace}"` : ''}` : r.path;
    return this.decide(cedarRequest(principal, target, action, withTask(principal, kubeRequestContext(r))), `${action} ${r.verb} ${object} on target "${target.name}"`);
  }

  authorizeKubernetesStream(principal: Principal, target: TargetInfo, action: 'k8s_exec' | 'k8s_portforward', context: Record<string, string | number | boolean | string[]>, what: string): Decision {
    return this.decide(cedarRequest(principal, target, action, context as cedar.Context), `${action} ${what} on target "${target.name}"`);
  }
  // --- end kubernetes ---

  /**
   * A schema that parses and validates the policies may still not describe the requests Airlock
   * sends (a missing action, a different context); find that at load time, not on the first query.
   */
  selfTest(): void {
    const principal: Principal = { id: 'self-test', groups: ['self-test'], issuer: 'self-test', clientId: 'self-test' };
    const target: TargetInfo = { name: 'self-test', kind: 'postgres', environment: 'self-test', tags: { team: 'self-test' } };
    const statement = (cls: (typeof STATEMENT_CLASSES)[number]): StatementInspection => ({
      class: cls, statementTypes: ['SelectStmt'], tables: ['t'], functions: ['f'], dmlWithoutWhere: false, reasons: [], text: '',
    });
    const selfTestTask = { id: 't', scope: ['read'], read: true, writeTables: [], targets: ['t'], expiresAt: 1, remaining: { statements: -1, rowsReturned: -1, rowsAffected: -1, bytesRead: -1, commands: -1 } };
    const requests: [ActionId, CedarRequest][] = [
      ['connect', cedarRequest(principal, target, 'connect', {})],
      ['function_call', cedarRequest(principal, target, 'function_call', { functionOid: 1 })],
      ['view_unmasked', cedarRequest(principal, target, 'view_unmasked', {})],
      ...STATEMENT_CLASSES.map((c): [ActionId, CedarRequest] => [c, cedarRequest(principal, target, c, statementContext(statement(c)))]),
      ...STATEMENT_CLASSES.filter((c) => c !== 'ddl').map((c): [ActionId, CedarRequest] => {
        const command: CommandInspection = { class: c, binaries: ['ls'], argv: ['ls'], categories: [], sudo: false, paths: [], reasons: [], text: '' };
        return [commandAction(command), cedarRequest(principal, target, commandAction(command), commandContext(command))];
      }),
      ['interactive_shell', cedarRequest(principal, target, 'interactive_shell', { pty: true })],
      ['file_read', cedarRequest(principal, target, 'file_read', { operation: 'open', path: '/' })],
      ['file_write', cedarRequest(principal, target, 'file_write', { operation: 'open', path: '/' })],
      ['port_forward', cedarRequest(principal, target, 'port_forward', { host: 'localhost', port: 1 })],
      ['agent_forward', cedarRequest(principal, target, 'agent_forward', {})],
      ['x11_forward', cedarRequest(principal, target, 'x11_forward', {})],
      ['read', cedarRequest(principal, target, 'read', { ...statementContext(statement('read')), task: selfTestTask })],
      ['command_read', cedarRequest(principal, target, 'command_read', { ...commandContext({ class: 'read', binaries: ['ls'], argv: ['ls'], categories: [], sudo: false, paths: [], reasons: [], text: '' }), task: selfTestTask })],
      ['http_read', cedarRequest(principal, target, 'http_read', { ...httpContext({ action: 'read', method: 'GET', path: '/', query: '', queryParams: [], headers: [], contentType: '', bodyBytes: 0, route: '' }), task: selfTestTask })],
      ['task_open', cedarRequest(principal, target, 'task_open', { scope: ['read'], write: false, writeTables: [], durationSeconds: 60 })],
      // --- http (issue 30) ---
      ...(['read', 'write', 'delete', 'opaque'] as const).map((action): [ActionId, CedarRequest] => [
        `http_${action}`,
        cedarRequest(principal, target, `http_${action}`, httpContext({ action, method: 'GET', path: '/', query: '', queryParams: ['q'], headers: ['h=v'], contentType: '', bodyBytes: 0, route: '' })),
      ]),
      // --- end http ---
      // --- kubernetes (issue 31) ---
      ...(['k8s_read', 'k8s_secret_read', 'k8s_write', 'k8s_delete', 'k8s_credential_mint', 'k8s_privileged_pod', 'k8s_proxy'] as const).map((action): [ActionId, CedarRequest] => [
        action,
        cedarRequest(principal, target, action, kubeRequestContext({ verb: 'get', apiGroup: '', apiVersion: 'v1', resource: 'pods', subresource: '', namespace: 'n', name: 'p', path: '/', dryRun: false, podRisks: ['privileged'] })),
      ]),
      ['k8s_exec', cedarRequest(principal, target, 'k8s_exec', { subresource: 'exec', namespace: 'n', pod: 'p', container: '', stdin: false, tty: false, input: 'command', class: 'read', binaries: ['ls'], argv: ['ls'], categories: [], sudo: false, paths: [] })],
      ['k8s_portforward', cedarRequest(principal, target, 'k8s_portforward', { namespace: 'n', pod: 'p', port: 80 })],
      // --- end kubernetes ---
    ];
    const errors = requests.flatMap(([action, request]) => {
      const answer = this.evaluate(request);
      return answer.type === 'failure'
        ? answer.errors.map((e) => `schema does not describe Airlock's "${action}" requests: ${e.message}`)
        : [];
    });
    if (errors.length > 0) throw new PolicyError(errors);
  }

  private decide(request: CedarRequest, what: string): Decision {
    // Cedar evaluation is a pure function of the request for a given policy set, and agents repeat
    // the same statement shapes; remembering recent answers skips the wasm round trip.
    const key = JSON.stringify(request);
    const cached = this.recent.get(key);
    if (cached) {
      this.recent.delete(key);
      this.recent.set(key, cached);
      return { ...cached, policyIds: [...cached.policyIds] };
    }
    const decision = toDecision(this.evaluate(request), this.info, this.version, what);
    this.recent.set(key, decision);
    if (this.recent.size > RECENT_DECISIONS) this.recent.delete(this.recent.keys().next().value as string);
    return { ...decision, policyIds: [...decision.policyIds] };
  }

  private evaluate(request: CedarRequest): cedar.AuthorizationAnswer {
    return cedar.statefulIsAuthorized({
      ...request,
      preparsedSchemaName: this.schemaName,
      preparsedPolicySetId: this.version,
      // Checks our own request construction against the schema; cheap (~20%) and catches drift.
      validateRequest: true,
    });
  }
}
