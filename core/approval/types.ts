// The approval vocabulary: what the gateway asks, what a reviewer answers, what is stored.
// Shared by the proxy (local and AWS adapters) and the Lambdas; no I/O here.
import type { Principal, StatementClass, TargetInfo } from '../model.js';

export type ApprovalState = 'pending' | 'approved' | 'denied' | 'expired' | 'cancelled';
export type ApprovalScope = 'once' | 'shape' | 'session';

export interface ApprovalRequestInput {
  requester: Principal;
  target: TargetInfo;
  sessionId: string;
  statementId: string;
  /** Already masked by the caller: it is shown to reviewers and stored. */
  statementText: string;
  statementClass: StatementClass;
  policyIds: string[];
  /** Fingerprint of the statement with literals removed, computed by the caller. */
  shape: string;
  agentReason?: string;
}

export type ApprovalOutcome =
  | { state: 'approved'; reviewer: string; scope: ApprovalScope; reason?: string }
  | { state: 'denied' | 'expired' | 'cancelled'; reviewer?: string; reason: string };

export interface ApprovalEvent {
  state: string;
  approvalId: string;
  reviewer?: string;
  reason?: string;
}

export interface PendingApproval {
  id: string;
  reviewUrl: string;
  outcome: Promise<ApprovalOutcome>;
  cancel(reason: string): Promise<void>;
}

export interface ApprovalService {
  /**
   * Standing grants (shape/session, not expired, same requester+target) short-circuit to an
   * immediate approved outcome. Rejects when the approval backend is unreachable (caller refuses: fail closed).
   */
  request(input: ApprovalRequestInput, onEvent?: (e: ApprovalEvent) => void): Promise<PendingApproval>;
}

/** The stored request. Times are milliseconds since epoch. */
export interface ApprovalRecord {
  id: string;
  state: ApprovalState;
  requester: Principal;
  target: TargetInfo;
  sessionId: string;
  statementId: string;
  statementText: string;
  statementClass: StatementClass;
  policyIds: string[];
  shape: string;
  agentReason?: string;
  createdAt: number;
  /** After this instant a pending request counts as expired whoever looks at it. */
  expiresAt: number;
  decidedAt?: number;
  reviewer?: string;
  scope?: ApprovalScope;
  /** How long a shape/session grant lasts. */
  scopeMinutes?: number;
  reason?: string;
}

/** The fields a settlement (pending → final) writes. */
export type Settlement = Pick<ApprovalRecord, 'state' | 'decidedAt' | 'reviewer' | 'scope' | 'scopeMinutes' | 'reason'>;

/** What a reviewer answers. */
export type ReviewerDecision =
  | { verdict: 'approve'; scope: ApprovalScope; minutes?: number; reason?: string }
  | { verdict: 'deny'; reason: string };

/** A standing approval for later statements of the same shape, or of the same session. */
export interface StandingGrant {
  key: string;
  scope: 'shape' | 'session';
  approvalId: string;
  reviewer: string;
  expiresAt: number;
}

/**
 * Where requests and grants live (in-process map locally, DynamoDB in AWS).
 * `settle` is a conditional write: it succeeds only while the record is still pending, so the
 * first decision wins and every later one sees the stored outcome.
 */
export interface ApprovalStore {
  create(record: ApprovalRecord): Promise<void>;
  get(id: string): Promise<ApprovalRecord | undefined>;
  listPending(): Promise<ApprovalRecord[]>;
  settle(id: string, settlement: Settlement): Promise<{ won: boolean; record: ApprovalRecord | undefined }>;
  putGrant(grant: StandingGrant): Promise<void>;
  getGrant(key: string): Promise<StandingGrant | undefined>;
}
