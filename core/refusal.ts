// The one refusal contract: every refusal on every protocol (PostgreSQL, SSH, HTTP, MCP) carries one
// of these stable codes and what the agent can do next. Protocol code renders a Refusal in its own
// wire format (ErrorResponse detail/hint, SSH stderr, problem+json, MCP tool error); it never invents
// a code of its own. No I/O here.

export const REFUSAL_CODES = [
  'policy_denied',
  'approval_required',
  'approval_denied',
  'budget_exceeded',
  'task_expired',
  'session_killed',
] as const;
export type RefusalCode = (typeof REFUSAL_CODES)[number];

/** What the agent can do about a refusal. Every field is optional; none carries data values or secrets. */
export interface RefusalNext {
  /** Task scope entries that would cover the refused action, e.g. `["write:public.orders"]` (ask with request_access / `airlock task open`). */
  taskScope?: string[];
  /** The approval to wait for or to cite. */
  approvalId?: string;
  /** Where a reviewer decides it. */
  reviewUrl?: string;
  /** The budget that ran out, e.g. `rowsAffected`. */
  budget?: string;
  /** The task concerned. */
  taskId?: string;
  /** Seconds after which retrying may succeed. */
  retryAfterSeconds?: number;
}

export interface Refusal {
  code: RefusalCode;
  /** One sentence for the agent (no data values, no secrets). */
  message: string;
  next?: RefusalNext;
}

export function isRefusalCode(value: unknown): value is RefusalCode {
  return typeof value === 'string' && (REFUSAL_CODES as readonly string[]).includes(value);
}

/**
 * The `detail` line protocols without structured fields show (PostgreSQL DETAIL, SSH stderr):
 * `airlock: code=budget_exceeded budget=rowsAffected task=t_…` — one line, key=value, stable keys.
 */
export function refusalDetail(r: Refusal): string {
  const parts = [`code=${r.code}`];
  const n = r.next ?? {};
  if (n.taskId) parts.push(`task=${n.taskId}`);
  if (n.budget) parts.push(`budget=${n.budget}`);
  if (n.approvalId) parts.push(`approval=${n.approvalId}`);
  if (n.taskScope && n.taskScope.length > 0) parts.push(`scope=${n.taskScope.join(',')}`);
  if (n.retryAfterSeconds !== undefined) parts.push(`retry_after=${n.retryAfterSeconds}`);
  return `airlock: ${parts.join(' ')}`;
}

/** The human hint: what to do next, in words. */
export function refusalHint(r: Refusal): string {
  const n = r.next ?? {};
  switch (r.code) {
    case 'policy_denied':
      return n.taskScope && n.taskScope.length > 0
        ? `Open a task with scope ${n.taskScope.join(',')} (airlock task open … --scope ${n.taskScope.join(',')}, or the request_access tool) and use its token.`
        : 'This is not allowed by policy; ask an administrator if it should be.';
    case 'approval_required':
      return n.approvalId
        ? `Waiting for a reviewer on approval ${n.approvalId}${n.reviewUrl ? ` (${n.reviewUrl})` : ''}; retry when it is approved.`
        : 'A reviewer must approve this; retry to ask again.';
    case 'approval_denied':
      return `A reviewer denied ${n.approvalId ? `approval ${n.approvalId}` : 'this request'}; do not retry as is.`;
    case 'budget_exceeded':
      if (n.retryAfterSeconds !== undefined) return `The ${n.budget ?? ''} budget${n.taskId ? ` of task ${n.taskId}` : ' of this agent'} is spent for now; nothing was done. Retry after ${n.retryAfterSeconds} s.`;
      return `The ${n.budget ?? ''} budget${n.taskId ? ` of task ${n.taskId}` : ''} is spent; nothing was changed. Ask for a task with a larger budget or narrow the statement.`;
    case 'task_expired':
      return `Task ${n.taskId ?? ''} has ended; open a new task (airlock task open / request_access) and reconnect with its token.`;
    case 'session_killed':
      return 'An operator ended this session; do not reconnect until told to.';
  }
}
