// Tool errors. A refusal the gateway sent on a wire protocol (PostgreSQL ErrorResponse, SSH stderr,
// HTTP problem+json) becomes an MCP tool error (`isError: true`) with the same stable code
// (core/refusal.ts) and what to do next. The MCP server reads the gateway's answer; it never decides.
import { isRefusalCode, refusalHint, type Refusal, type RefusalCode, type RefusalNext } from '../../../core/refusal.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';

/**
 * A tool error: a refusal (one of the stable codes in core/refusal.ts) or another failure with its
 * own code (`token_invalid`, `unknown_target`, `database_error`, `gateway_unreachable`, …).
 */
export interface ToolFailure {
  code: RefusalCode | string;
  message: string;
  next?: RefusalNext;
  /** PostgreSQL SQLSTATE, SSH exit status or HTTP status, as the gateway answered. */
  protocol?: { sqlstate?: string; exitStatus?: number; status?: number };
}

export function toolError(f: ToolFailure): CallToolResult {
  const hint = isRefusalCode(f.code) ? refusalHint(f as Refusal) : undefined;
  const error = { code: f.code, message: f.message, ...(f.next && Object.keys(f.next).length > 0 && { next: f.next }), ...(hint && { hint }), ...(f.protocol && { protocol: f.protocol }) };
  return { isError: true, content: [{ type: 'text', text: JSON.stringify({ error }, null, 2) }], structuredContent: { error } };
}

/** `airlock: code=budget_exceeded task=t_1 budget=rowsAffected approval=… scope=a,b retry_after=5` (core/refusal.ts refusalDetail). */
function parseDetailLine(text: string): { code: RefusalCode; next: RefusalNext } | undefined {
  const m = /airlock: (code=[a-z_]+(?: [a-z_]+=[^\s;]+)*)/.exec(text);
  if (!m) return undefined;
  const kv = new Map(m[1]!.split(' ').map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)] as const));
  const code = kv.get('code');
  if (!isRefusalCode(code)) return undefined;
  const next: RefusalNext = {};
  if (kv.has('task')) next.taskId = kv.get('task');
  if (kv.has('budget')) next.budget = kv.get('budget');
  if (kv.has('approval')) next.approvalId = kv.get('approval');
  if (kv.has('scope')) next.taskScope = kv.get('scope')!.split(',');
  if (kv.has('retry_after')) next.retryAfterSeconds = Number(kv.get('retry_after'));
  return { code, next };
}

/** The code a refusal's words imply, for gateways whose answers carry no `code=` line. */
function inferred(text: string): { code: RefusalCode; next: RefusalNext } {
  const approvalId = /(?:approval request|request) ([A-Za-z0-9_-]{6,})/.exec(text)?.[1];
  const next: RefusalNext = approvalId ? { approvalId } : {};
  if (/approval (denied|expired|cancelled)/.test(text)) return { code: 'approval_denied', next };
  if (/needs approval and no approval service|approval is required but/.test(text)) return { code: 'approval_required', next };
  return { code: 'policy_denied', next };
}

/** A PostgreSQL error from the gateway's listener. */
export function postgresFailure(err: { message: string; code?: string; detail?: string; hint?: string; severity?: string }): ToolFailure {
  const all = [err.message, err.detail ?? '', err.hint ?? ''].join('\n');
  const protocol = { sqlstate: err.code };
  const stated = parseDetailLine(all);
  if (stated) return { code: stated.code, message: err.message, next: stated.next, protocol };
  if (err.code === '28P01' || /^access token rejected/.test(err.message)) return { code: 'token_invalid', message: err.message, protocol };
  // The connect decision (protocols/postgres/session.ts): this target is not open to the principal.
  if (err.code === '28000' && /may not connect to target/.test(err.message)) return { code: 'policy_denied', message: err.message, next: {}, protocol };
  if (/^Airlock refused.*audit trail/.test(err.message)) return { code: 'audit_unavailable', message: err.message, protocol };
  if (/^Airlock\b/i.test(err.message)) {
    const { code, next } = inferred(all);
    return { code, message: err.message, next, protocol };
  }
  return { code: 'database_error', message: err.message, protocol: { sqlstate: err.code } };
}

/** An SSH exec the gateway refused: its stderr line(s) and exit status. */
export function sshFailure(stderr: string, exitStatus: number): ToolFailure {
  const lines = stderr.split('\n').filter((l) => l.startsWith('airlock: '));
  const message = lines.filter((l) => !l.startsWith('airlock: code=')).pop() ?? lines.pop() ?? `exit status ${exitStatus}`;
  const stated = parseDetailLine(stderr);
  if (stated) return { code: stated.code, message, next: stated.next, protocol: { exitStatus } };
  if (/audit trail cannot accept/.test(message)) return { code: 'audit_unavailable', message, protocol: { exitStatus } };
  const { code, next } = inferred(message);
  return { code, message, next, protocol: { exitStatus } };
}

/** RFC 9457 problem+json from the HTTP listener: its `code` is the machine code. */
export function httpFailure(status: number, problem: Record<string, unknown>): ToolFailure {
  const code = typeof problem.code === 'string' ? problem.code : `http_${status}`;
  const next: RefusalNext = {};
  if (typeof problem.approvalId === 'string') next.approvalId = problem.approvalId;
  if (typeof problem.reviewUrl === 'string') next.reviewUrl = problem.reviewUrl;
  if (typeof problem.taskId === 'string') next.taskId = problem.taskId;
  if (typeof problem.budget === 'string') next.budget = problem.budget;
  if (Array.isArray(problem.taskScope)) next.taskScope = problem.taskScope.map(String);
  if (typeof problem.retryAfter === 'number') next.retryAfterSeconds = problem.retryAfter;
  const message = [problem.title, problem.detail].filter((s) => typeof s === 'string').join(': ') || `HTTP ${status}`;
  return { code: code === 'approval_pending' ? 'approval_required' : code, message, next, protocol: { status } };
}
