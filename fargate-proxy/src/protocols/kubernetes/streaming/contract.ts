// The seam between the Kubernetes engine and its streaming subresources (pods/exec, pods/attach,
// pods/portforward). The engine authenticates the agent, resolves the request attributes and knows
// the upstream and its credential; it hands such an upgrade request to `handleStreamingUpgrade`
// (streaming/index.ts) with a StreamingContext and does nothing more with it. From there the
// streaming code owns the request: it parses the exec/attach/port-forward parameters, decides every
// command, typed line and port through `decide`, appends the statement events, terminates the
// agent's WebSocket, opens its own upstream one with the engine's headers, masks and records.
//
// The engine must NOT decide or audit these requests itself (the decision needs the command's
// classification, which only the streaming code has) and must not forward them in any other way.
import type { Logger } from 'pino';
import type { AuditSink } from '../../../../../core/audit/ports.js';
import type { Masker } from '../../../../../core/mask/index.js';
import type { Decision, Principal, StatementClass, TargetInfo } from '../../../../../core/model.js';

export type StreamingSubresource = 'exec' | 'attach' | 'portforward';

/** The request attributes the streaming code needs (a subset of the engine's own, structurally). */
export interface StreamingAttributes {
  /** Always `pods` for the requests handed over; the handler refuses anything else. */
  resource: string;
  subresource: StreamingSubresource | string;
  namespace: string;
  /** The pod's name. */
  name: string;
}

/**
 * The Cedar actions the streaming code asks about, and the context each carries. The engine's schema
 * declares these actions with exactly these context attributes (Cedar types in the comments); the
 * engine may add its own common attributes to the context it evaluates, but never drop these.
 */
export type StreamingDecisionRequest = (ExecDecisionRequest | PortForwardDecisionRequest) & DecisionWaiting;

/** For a decision that waits on a reviewer. */
export interface DecisionWaiting {
  /** Tells the agent something while it waits (an approval notice: id and where to review); one line, no secrets. */
  notify?(message: string): void;
  /** Aborted when the agent goes away: a pending approval is withdrawn and the verdict is `deny`. */
  signal?: AbortSignal;
}

export interface ExecDecisionRequest {
  action: 'k8s_exec';
  context: K8sExecContext;
  /** Shown to a reviewer and kept in the approval record: the command or line (masked), never a credential. */
  text: string;
  /** The inspection's class (for the reviewer and the audit event). */
  class: StatementClass;
  /** What makes two requests "the same" for approval reuse (command shape), like the SSH engine's `shape`. */
  shape: string;
  /** The statement id the decision will be audited under: approval events name it. */
  statementId: string;
}

export interface K8sExecContext {
  subresource: 'exec' | 'attach'; // String
  namespace: string; //               String
  pod: string; //                     String
  container: string; //               String ("" when the request names none: the pod's default container)
  stdin: boolean; //                  Bool
  tty: boolean; //                    Bool
  /**
   * What is decided (String): `command` an exec's command (argv, or the script of `sh -c`);
   * `shell` opening an interactive shell (`kubectl exec -it POD -- sh`) whose every line is then
   * decided as `line`; `attach` attaching to the container's running process (with stdin: every
   * line then decided as `line`); `line` one line typed into such a session.
   */
  input: 'command' | 'shell' | 'attach' | 'line';
  // The command's classification (core/shell's inspectCommand; the same facts as the SSH engine's
  // Command type). For `attach`, the facts of an empty command: class "read", empty sets.
  class: string; //                   String: read | write | destructive | privileged | opaque
  binaries: string[]; //              Set<String>
  argv: string[]; //                  Set<String>
  categories: string[]; //            Set<String>
  sudo: boolean; //                   Bool
  paths: string[]; //                 Set<String>
}

export interface PortForwardDecisionRequest {
  action: 'k8s_portforward';
  /** One decision per port the agent asks for (the `ports` query parameter). */
  context: { namespace: string; pod: string; port: number }; // String, String, Long
  text: string;
  class: StatementClass;
  shape: string;
  statementId: string;
}

/**
 * The final word on one request: policy, then (when policy says approve) a human. Never `approve`.
 * The reason is for the agent (no secrets, no data values).
 */
export interface StreamingVerdict extends Omit<Decision, 'effect'> {
  effect: 'allow' | 'deny';
  approvalId?: string;
}

/** Where the gateway connects to: the API server, with the credential the agent never sees. */
export interface StreamingUpstream {
  /** The API server's URL (scheme, host, port and any base path). The streaming code builds the subresource path and query itself from what it decided. */
  baseUrl: string;
  /** Sent on the upstream upgrade: the injected credential (`authorization`) and any `impersonate-*`; nothing of the agent's request is forwarded. */
  headers: Record<string, string>;
  /** Every string that would reveal the credential (token, encoded forms): scrubbed from anything the agent receives or anything recorded. */
  revealing: readonly string[];
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; servername?: string; rejectUnauthorized?: boolean };
  connectTimeoutMs?: number;
}

/** The engine's audit session for this agent and target (session.start already appended). */
export interface StreamingAuditSession {
  readonly sessionId: string;
  readonly sink: AuditSink;
  /** Statement ids in this session; one per decided command, line or port. */
  nextStatementId(): string;
  /** Counts bytes for the session's end event. */
  onBytes?(direction: 'in' | 'out', n: number): void;
  /** A decided statement (allowed or refused): for the session's statement count. */
  onStatement?(): void;
}

export interface StreamingContext {
  /** The engine's id for this request (logs, the agent's error messages). */
  requestId: string;
  principal: Principal;
  target: TargetInfo;
  attributes: StreamingAttributes;
  /**
   * Cedar for (principal, target, action, context), then approvals when policy asks (holding up to
   * the engine's wait, appending `approval` events under `request.statementId`). Resolves `deny`
   * (never rejects) when policy or approvals cannot answer: fail closed. The streaming code appends
   * the `statement` event itself with the verdict.
   */
  decide(request: StreamingDecisionRequest): Promise<StreamingVerdict>;
  upstream: StreamingUpstream;
  audit: StreamingAuditSession;
  /** Output masking for this principal and target; absent when `view_unmasked` is granted or masking is off. */
  masker?: Masker;
  /** exec/attach sessions are recorded (asciicast v2) to `<recordingsDir>/<sessionId>/<n>.cast`, as SSH shells are; absent: only the audit's capture. */
  recordingsDir?: string;
  log?: Logger;
  /** Longest line held for inspection in an interactive session (default 16 KiB). */
  maxLineBytes?: number;
}

/**
 * Is this request one for the streaming handler? The engine asks before deciding it: any request
 * (upgrade or not) on pods/exec, pods/attach or pods/portforward goes to `handleStreamingUpgrade`.
 */
export function isStreamingRequest(attributes: Pick<StreamingAttributes, 'resource' | 'subresource'>): boolean {
  return attributes.resource === 'pods' && ['exec', 'attach', 'portforward'].includes(attributes.subresource);
}

/**
 * The handler's signature (implemented in streaming/index.ts):
 *   handleStreamingUpgrade(ctx: StreamingContext, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void>
 * It always answers the socket: 101 and the relay, or an HTTP error carrying a Kubernetes `Status`
 * (JSON), also for a non-upgrade request or a SPDY upgrade. It resolves when the exchange is over
 * and never rejects.
 */
export type HandleStreamingUpgrade = (
  ctx: StreamingContext,
  req: import('node:http').IncomingMessage,
  socket: import('node:stream').Duplex,
  head: Buffer,
) => Promise<void>;
