// What an SSH session needs from the gateway: the shared ports of GatewayContext plus the SSH
// targets and the SSH decisions of the policy engine (core/policy's PolicyEngine provides them).
import type { Logger } from 'pino';
import type { LiveSessions } from '../../tasks/live-sessions.js';
import type { Decision, Principal, TargetInfo } from '../../../../core/model.js';
import type { AuditSink } from '../../../../core/audit/ports.js';
import type { ApprovalService } from '../../../../core/approval/types.js';
import type { CommandInspection } from '../../../../core/shell/index.js';
import type { FileOperation } from '../../../../core/policy/engine.js';
import type { Masker } from '../../../../core/mask/index.js';
import type { TokenVerifierPort } from '../../context.js';
import type { SecretStore } from '../../ports/secrets.js';
import type { UpstreamSshSpec } from './upstream.js';

export interface SshPolicyPort {
  readonly version: string;
  authorizeConnect(principal: Principal, target: TargetInfo): Decision;
  authorizeUnmasked(principal: Principal, target: TargetInfo): Decision;
  authorizeCommand(principal: Principal, target: TargetInfo, command: CommandInspection): Decision;
  authorizeShell(principal: Principal, target: TargetInfo, pty: boolean): Decision;
  authorizeFileOperation(principal: Principal, target: TargetInfo, op: FileOperation): Decision;
  authorizePortForward(principal: Principal, target: TargetInfo, host: string, port: number): Decision;
  authorizeForwarding(principal: Principal, target: TargetInfo, kind: 'agent_forward' | 'x11_forward'): Decision;
}

export interface SshTarget {
  info: TargetInfo;
  upstream: UpstreamSshSpec;
  credentialRef: string;
}

export interface SshGatewayContext {
  log: Logger;
  verifier: TokenVerifierPort;
  /** Always the current policy set. */
  policy(): SshPolicyPort;
  secrets: SecretStore;
  audit: AuditSink;
  /** Absent: commands that need approval are refused, saying so. */
  approvals?: ApprovalService;
  sshTargets: Map<string, SshTarget>;
  /** Live sessions by principal and task (issue 32): the kill switch and task ends reach them here. */
  sessions?: LiveSessions;
  /** Output masking; absent: output passes unchanged. */
  masker?: Masker;
  /** Interactive shells are recorded (asciicast v2) into `<recordingsDir>/<sessionId>/<n>.cast`; absent: only the audit's capture. */
  recordingsDir?: string;
  /** Bytes of interactive input held for inspection before a line is refused (default 16 KiB). */
  maxLineBytes?: number;
}
