// The audit event schema, version 1. Every event is one JSON object; the sink adds `v`, `seq`, `at`
// (when absent), `prev` and `hash`. Fields are only ever added to a version, never renamed or removed:
// a breaking change bumps `v` and readers keep understanding the old one.
import { randomBytes } from 'node:crypto';
import type { Effect, Principal, StatementClass, TargetKind } from '../model.js';

export const AUDIT_SCHEMA_VERSION = 1 as const;

export interface AuditPrincipal {
  id: string;
  groups: string[];
  issuer: string;
  tokenId?: string;
  clientId?: string;
  /** The task whose token opened the session (issue 32): sessions are grouped by it. */
  taskId?: string;
}

/** What the trail keeps of a principal: who it is, never the token itself. */
export function auditPrincipal(p: Principal): AuditPrincipal {
  return { id: p.id, groups: p.groups, issuer: p.issuer, tokenId: p.tokenId, clientId: p.clientId, ...(p.task ? { taskId: p.task.id } : {}) };
}

export interface ClientAddress {
  address: string;
  port: number;
}

export interface SessionStartBody {
  type: 'session.start';
  principal: AuditPrincipal;
  target: string;
  targetKind: TargetKind;
  client: ClientAddress;
  protocol: string;
}

export interface SessionEndBody {
  type: 'session.end';
  reason: string;
  statements: number;
  bytesIn: number;
  bytesOut: number;
  durationMs: number;
}

export interface AuthRefusedBody {
  type: 'auth.refused';
  code: string;
  reason: string;
  target?: string;
  client: ClientAddress;
}

export interface StatementBody {
  type: 'statement';
  statementId: string;
  /** Statement text with sensitive literals masked (the sink masks SQL literals of postgres sessions itself). */
  text: string;
  class: StatementClass;
  statementTypes: string[];
  tables: string[];
  functions: string[];
  decision: { effect: Effect; policyIds: string[]; policyVersion: string; reason: string };
  approvalId?: string;
  /** Values bound to the statement's parameters ($1, $2, …; extended protocol), masked like literals. */
  parameters?: string[];
  // --- http (issue 30) ---
  /** HTTP requests: what was asked, the agent's credentials removed, the body capped and masked. */
  http?: HttpRequestRecord;
  // --- end http ---
}

// --- http (issue 30) ---
export interface HttpRequestRecord {
  method: string;
  /** Canonical path below the target's base URL (what was decided and forwarded). */
  path: string;
  query: string;
  /** Request headers as received, credentials (Authorization, Proxy-Authorization, Cookie) removed. */
  headers: Record<string, string>;
  /** The request body, masked, kept up to the response cap, hashed over every byte. */
  body?: CapturedResponse;
  /** The target's route rule that classified it. */
  route?: string;
  /** The OpenAPI operation it matched. */
  operationId?: string;
  /** HTTP/1.1 or HTTP/2. */
  version: string;
}
// --- end http ---

/** What the agent received for one statement, already masked; kept up to the configured cap. */
export interface CapturedResponse {
  /** The first `responseCapBytes` bytes, in the order sent; undefined when the cap is 0. */
  chunks: string[] | undefined;
  /** How `chunks` are encoded: text when every piece given was a string, base64 otherwise. */
  encoding?: 'utf8' | 'base64';
  /** True when bytes past the cap were not kept. */
  truncated: boolean;
  /** sha256 (hex) over every byte sent, kept or not: proves what was sent without storing it. */
  sha256: string;
  totalBytes: number;
  /** How many pieces (messages, rows, writes) were sent in total. */
  totalChunks?: number;
}

export interface MaskingSummary {
  /** Values masked, per detector or column rule. */
  counts: Record<string, number>;
  total: number;
}

export interface StatementOutcomeBody {
  type: 'statement.outcome';
  statementId: string;
  status: 'ok' | 'error' | 'cancelled';
  rows?: number;
  bytes: number;
  durationMs: number;
  error?: { code: string; message: string };
  masking?: MaskingSummary;
  response?: CapturedResponse;
  // --- http (issue 30) ---
  /** HTTP: the status and response headers the agent got (credential scrubbed); the body is `response`. */
  http?: {
    status: number;
    headers: Record<string, string>;
    /** WebSocket: the messages the agent sent (capped, hashed); `response` holds what it received. */
    sent?: CapturedResponse;
  };
  // --- end http ---
}

export interface ApprovalBody {
  type: 'approval';
  statementId: string;
  approvalId: string;
  /** `decision-refused`: someone tried to decide and was refused (their own request, not a reviewer); the request stays as it was. */
  state: 'pending' | 'approved' | 'denied' | 'expired' | 'cancelled' | 'decision-refused';
  reviewer?: string;
  reason?: string;
}

// --- tasks (issue 32) ---
/**
 * A task's lifecycle (docs/tasks.md). A task's events form a log of their own, `task.<id>.<writer>`,
 * opened by a `session.start` (protocol `task`) and closed by a `session.end` once the task ends,
 * so the chain, the index and `airlock audit verify` treat it like any session.
 */
export interface TaskEventBody {
  type: 'task';
  event: 'opened' | 'granted' | 'denied' | 'closed' | 'expired' | 'killed';
  taskId: string;
  /** Who did it: the agent, a reviewer, `policy`, `clock`. */
  by?: string;
  reason?: string;
  title?: string;
  ticket?: string;
  targets?: string[];
  scope?: string[];
  budget?: Record<string, number>;
  /** ISO time the task's token stops working (granted). */
  expiresAt?: string;
  approvalId?: string;
  /** Sessions the event ended (killed). */
  sessions?: string[];
}
// --- end tasks ---

export type AuditEventBody =
  | SessionStartBody
  | SessionEndBody
  | AuthRefusedBody
  | StatementBody
  | StatementOutcomeBody
  | ApprovalBody
  | TaskEventBody;

export type AuditEventType = AuditEventBody['type'];

/** Distributes `Omit` over the union so each variant keeps its own fields. */
type WithHeader<B, H> = B extends unknown ? H & B : never;

/** What the gateway hands the sink: `seq`, `v`, the chain links and (unless given) `at` are the sink's job. */
export type AuditEventInput = WithHeader<AuditEventBody, { sessionId: string; at?: string }>;

/** An event as stored: header + body. */
export type AuditEvent = WithHeader<AuditEventBody, { v: typeof AUDIT_SCHEMA_VERSION; sessionId: string; seq: number; at: string }>;

/** An event with its hash-chain links, exactly as written to a store (one JSON line locally). */
export type AuditRecord = AuditEvent & { prev: string; hash: string };

/** Session ids sort by creation time (useful for listing) and carry 64 random bits. */
export function newAuditSessionId(now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${randomBytes(8).toString('hex')}`;
}

const SESSION_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** Session ids become file names and store keys: only a safe alphabet is accepted. */
export function isValidSessionId(id: string): boolean {
  return SESSION_ID.test(id) && id !== '.' && id !== '..';
}
