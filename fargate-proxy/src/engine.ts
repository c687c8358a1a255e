// The protocol seam. Every protocol (PostgreSQL, SSH, HTTP; Kubernetes later) is an engine: it owns
// its listener and its sessions (session → inspect → decide/approve → audit → forward → mask/record)
// and reaches the rest of the gateway only through the shared ports below. gateway.ts builds the
// ports once, starts the configured engines and knows nothing of their insides.
import type { Logger } from 'pino';
import type { AuditSink } from '../../core/audit/ports.js';
import type { ResponseCapture } from '../../core/audit/response-capture.js';
import type { ApprovalService } from '../../core/approval/types.js';
import type { MaskingConfig } from '../../core/mask/index.js';
import type { PolicyEngine } from '../../core/policy/index.js';
import type { TargetInfo } from '../../core/model.js';
import type { TargetConfig } from './config/schema.js';
import type { TokenVerifierPort } from './context.js';
import type { SecretStore } from './ports/secrets.js';
import type { LiveSessions } from './tasks/live-sessions.js';
import type { TaskService } from '../../core/task/types.js';
import type { FleetMembership } from './ports/fleet.js';
import type { ProcessSiblings } from './ports/processes.js';

/** What every engine may use; adapters (local or AWS) stand behind each port. */
export interface EnginePorts {
  log: Logger;
  verifier: TokenVerifierPort;
  /** Always the current policy set: hot reloads swap what this returns. */
  policy(): PolicyEngine;
  secrets: SecretStore;
  /** Sessions append here (possibly through a metrics counter). */
  audit: AuditSink;
  /** A bounded recorder of one response; absent when responses are not recorded. */
  responseCapture?: () => ResponseCapture;
  /** Masking settings; a principal granted `view_unmasked` on a target gets none. */
  masking: MaskingConfig;
  /** Absent: anything that needs approval is refused, saying so. */
  approvals?: ApprovalService;
  /** Every configured target; an engine picks the kinds it serves. */
  targets: readonly TargetConfig[];
  /** The gateway's state directory (recordings and the like live under it). */
  dataDir: string;
  /** Live sessions by principal and task (issue 32): the kill switch and task ends reach them here. */
  sessions?: LiveSessions;
  /** The task service (issue 32): request_access / task_status of the MCP server call it. */
  tasks?: TaskService;
  /** Set when this gateway is one task of a fleet behind a load balancer (ports/fleet.ts). */
  fleet?: FleetMembership;
  /** Set when this gateway is one of several processes of its task (ports/processes.ts). */
  siblings?: ProcessSiblings;
}

/** A started protocol engine. */
export interface Engine {
  /** `postgres`, `ssh`, `http`: the listener's name in configuration and in logs. */
  readonly protocol: string;
  /** Where the listener accepts connections (port 0 in configuration resolves here). */
  readonly address: { host: string; port: number };
  /** Sessions in progress, when the engine counts them (drain waits for them; health reports them). */
  liveSessions?(): number;
  /** Drain: accept no new connections; live sessions carry on. */
  stopAccepting(): void;
  /** Ends every session and releases the listener. */
  close(): Promise<void>;
}

/** What policy may know of a target: never its address or credential. */
export const targetInfo = (t: TargetConfig): TargetInfo => ({ name: t.name, kind: t.kind, environment: t.environment, tags: t.tags });
