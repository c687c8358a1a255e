// What a reviewer is shown about a request (the record minus nothing secret: the statement is
// already masked and the requester carries no token). One shape for the console, the CLI and Lambdas.
import type { ApprovalRecord } from './types.js';

export interface ApprovalView {
  id: string;
  state: ApprovalRecord['state'];
  requester: string;
  requesterGroups: string[];
  target: string;
  targetKind: string;
  environment: string;
  statement: string;
  statementClass: string;
  policyIds: string[];
  agentReason?: string;
  createdAt: string;
  expiresAt: string;
  ageSeconds: number;
  reviewer?: string;
  scope?: string;
  scopeMinutes?: number;
  reason?: string;
}

export function toApprovalView(r: ApprovalRecord, now = Date.now()): ApprovalView {
  const view: ApprovalView = {
    id: r.id,
    state: r.state,
    requester: r.requester.id,
    requesterGroups: r.requester.groups,
    target: r.target.name,
    targetKind: r.target.kind,
    environment: r.target.environment,
    statement: r.statementText,
    statementClass: r.statementClass,
    policyIds: r.policyIds,
    createdAt: new Date(r.createdAt).toISOString(),
    expiresAt: new Date(r.expiresAt).toISOString(),
    ageSeconds: Math.max(0, Math.floor((now - r.createdAt) / 1000)),
  };
  if (r.agentReason !== undefined) view.agentReason = r.agentReason;
  if (r.reviewer !== undefined) view.reviewer = r.reviewer;
  if (r.scope !== undefined) view.scope = r.scope;
  if (r.scopeMinutes !== undefined) view.scopeMinutes = r.scopeMinutes;
  if (r.reason !== undefined) view.reason = r.reason;
  return view;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Statements are attacker-controlled: everything interpolated into HTML goes through this. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}
