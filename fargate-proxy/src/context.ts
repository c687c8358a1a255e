// What every protocol session needs from the rest of the gateway. Protocol code depends on these
// small interfaces only; main.ts decides which adapters (local or AWS) stand behind them.
import type { Logger } from 'pino';
import type { Decision, Inspection, Principal, StatementInspection, TargetInfo } from '../../core/model.js';
import type { AuditSink } from '../../core/audit/ports.js';
import type { ApprovalService } from '../../core/approval/types.js';
import type { ResponseCapture } from '../../core/audit/response-capture.js';
import type { MaskingConfig } from '../../core/mask/index.js';
import type { SecretStore } from './ports/secrets.js';
import type { LiveSessions } from './tasks/live-sessions.js';
import type { UpstreamSpec } from './protocols/postgres/upstream.js';

export interface TokenVerifierPort {
  verify(token: string): Promise<Principal>;
}

export interface PolicyPort {
  readonly version: string;
  authorizeConnect(principal: Principal, target: TargetInfo): Decision;
  authorizeStatement(principal: Principal, target: TargetInfo, statement: StatementInspection): Decision;
  authorizeFunctionCall(principal: Principal, target: TargetInfo, functionOid: number): Decision;
  authorizeUnmasked(principal: Principal, target: TargetInfo): Decision;
}

export interface SqlInspectorPort {
  inspect(sql: string, prepared?: (name: string) => StatementInspection | undefined): Inspection;
  /**
   * Resolves names for this session (canonical tables, shadowed built-ins) in an inspection made
   * elsewhere — a worker thread's, for large statements. `inspect` already includes it.
   */
  resolve?(inspection: Inspection): Inspection;
}

export interface PostgresTarget {
  info: TargetInfo;
  upstream: UpstreamSpec;
  credentialRef: string;
  /** Upstream role and credential for sessions whose principal may only read (issue 28). */
  readOnly?: { user: string; credentialRef: string };
}

export interface GatewayContext {
  log: Logger;
  verifier: TokenVerifierPort;
  /** Always the current policy set: hot reloads swap what this returns. */
  policy(): PolicyPort;
  sql: SqlInspectorPort;
  secrets: SecretStore;
  audit: AuditSink;
  /** A bounded recorder of one statement's response; absent when responses are not recorded. */
  responseCapture?: () => ResponseCapture;
  /** Masking settings; sessions whose principal may `view_unmasked` the target get none. */
  masking: MaskingConfig;
  /** Absent: statements that need approval are refused, saying so. */
  approvals?: ApprovalService;
  postgresTargets: Map<string, PostgresTarget>;
  /** Live sessions by principal and task (issue 32). */
  sessions?: LiveSessions;
}
