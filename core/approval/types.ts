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
  /** Answered at once by a standing grant (no reviewer is asked): the approval that left it. */
  standingGrant?: { approvalId: string; scope: string; reviewer: string };
}

export interface ApprovalService {
  /**
   * Standing grants (shape/session, not expired, same requester+target) short-circuit to an
   * immediate approved outcome. Rejects when the approval backend is unreachable (caller refuses: fail closed).
   */
  request(input: ApprovalRequestInput, onEvent?: (e: ApprovalEvent) => void): Promise<PendingApproval>;
  // --- held requests (issue 30) ---
  /** Waits on an existing request (an agent's retry, possibly on another gateway task); undefined when there is no such request. */
  resume?(id: string, onEvent?: (e: ApprovalEvent) => void): Promise<PendingApproval | undefined>;
  /** Where held requests are recorded for the whole fleet (the approval store). */
  readonly heldRequests?: HeldRequestStore;
  // --- end held requests ---
}

export type HeldRequestStore = Required<Pick<ApprovalStore, 'holdRequest' | 'getHeld' | 'useHeld'>>;

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
  // --- held requests (issue 30) ---
  /** Records which approval a held request waits on, unless a live, unused one is there already (then returns it). */
  holdRequest?(held: HeldRequest, now: number): Promise<{ won: boolean; current: HeldRequest | undefined }>;
  getHeld?(key: string): Promise<HeldRequest | undefined>;
  /** Marks the held request used by its approval: true for exactly one caller across the fleet. */
  useHeld?(key: string, approvalId: string, now: number): Promise<boolean>;
  // --- end held requests ---
}

/**
 * A request held for approval that the agent may retry (HTTP): the identity of the request (a hash
 * of principal, target, method, canonical path, query and body) names the approval it waits on, so
 * an identical retry reaching any gateway task finds the same approval and runs at most once.
 */
export interface HeldRequest {
  /** A UUID-shaped digest of the request's identity (version nibble 8, never a random request id). */
  key: string;
  approvalId: string;
  /** The request id the agent was given first; a retry is told the same one. */
  requestId: string;
  reviewUrl: string;
  expiresAt: number;
  /** Set once the approval ran the request (or was refused): an identical request after that is new. */
  usedAt?: number;
}

/** Whether a held record still names the approval a retry should wait on. */
export function isHeldLive(h: HeldRequest | undefined, now: number): h is HeldRequest {
  return h !== undefined && h.usedAt === undefined && h.expiresAt > now;
}
