// `airlock task open | show | close | list` and `airlock sessions kill`: plain functions over the
// running gateway's console API (tasks live in the gateway). The agent signs in with its own access
// token ($AIRLOCK_TOKEN); `task open` prints the task token to stdout (only it), so
// `PGPASSWORD=$(airlock task open …)` works. Exit codes: 0 done, 1 refused/denied, 2 usage or connection, 3 pending.
import { describeBudget } from '../../../core/task/budget.js';
import type { Task, TaskOpenResult, TaskUsageSource } from '../../../core/task/types.js';
import { call, consoleOutput, type ApprovalCliOptions, type CliOutput } from './approval-commands.js';

/** `2h`, `90m`, `30s`, `1h30m` → seconds. */
export function parseDuration(text: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text.trim());
  if (!m || text.trim() === '') throw new Error(`"${text}" is not a duration like 2h, 90m or 1h30m`);
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

export interface TaskOpenOptions extends ApprovalCliOptions {
  title: string;
  ticket?: string;
  targets: string;
  scope: string;
  for: string;
  /** Rows the task may insert, update or delete (rowsAffected). */
  maxRows?: number;
  maxRowsReturned?: number;
  maxStatements?: number;
  maxSessions?: number;
  /** SSH commands the task may run (commands). */
  maxCommands?: number;
  /** HTTP requests a minute (requestsPerMinute). */
  maxRequestsPerMinute?: number;
  reason?: string;
  /** Wait for a reviewer (seconds) and print the token once granted. */
  wait?: number;
  json?: boolean;
}

/** Where the figures of `did` were counted: this gateway, or (a fleet) the shared ledger each proxy task adds to. */
function usageWhere(source?: TaskUsageSource): string {
  if (!source) return '';
  if (source.source === 'gateway') return ' (counted by this gateway, where all its sessions ran)';
  return ` (counted fleet-wide, added by each proxy task at every poll${source.pollSeconds !== undefined ? ` (≤ ${source.pollSeconds} s behind)` : ''})`;
}

function describe(t: Task, source?: TaskUsageSource): string[] {
  const lines = [
    `${t.id}  ${t.status}  ${t.title}${t.ticket ? `  [${t.ticket}]` : ''}`,
    `  agent: ${t.principalId}  targets: ${t.targets.join(', ')}  scope: ${t.scope.entries.join(', ')}`,
  ];
  if (t.expiresAt) lines.push(`  granted by ${t.grantedBy ?? '?'}; expires ${new Date(t.expiresAt).toISOString()}`);
  if (t.approvalId) lines.push(`  approval: ${t.approvalId}${t.reviewUrl ? `  ${t.reviewUrl}` : ''}`);
  if (t.endReason) lines.push(`  ended: ${t.endReason}${t.endedBy ? ` (by ${t.endedBy})` : ''}`);
  const u = t.usage;
  if (source?.source === 'fleet' && source.error) lines.push(`  did: unknown across the fleet (${source.error})`);
  else lines.push(`  did: ${u.statements} statements, ${u.commands} commands, ${u.requests} requests, ${u.refusals} refusals, ${u.sessions} sessions; rows returned ${u.rowsReturned}, rows affected ${u.rowsAffected}, bytes read ${u.bytesRead}${usageWhere(source)}`);
  const budget = describeBudget(t.budget, t.usage);
  if (budget.length) lines.push(`  budget: ${budget.join(', ')}`);
  return lines;
}

export async function taskOpen(o: TaskOpenOptions, io: CliOutput = consoleOutput): Promise<number> {
  let durationSeconds: number;
  try {
    durationSeconds = parseDuration(o.for);
  } catch (err) {
    io.err((err as Error).message);
    return 2;
  }
  const budget: Record<string, number> = {};
  if (o.maxRows !== undefined) budget.rowsAffected = o.maxRows;
  if (o.maxRowsReturned !== undefined) budget.rowsReturned = o.maxRowsReturned;
  if (o.maxStatements !== undefined) budget.statements = o.maxStatements;
  if (o.maxSessions !== undefined) budget.concurrentSessions = o.maxSessions;
  if (o.maxCommands !== undefined) budget.commands = o.maxCommands;
  if (o.maxRequestsPerMinute !== undefined) budget.requestsPerMinute = o.maxRequestsPerMinute;
  const r = await call(o, io, 'POST', 'api/tasks', {
    title: o.title,
    ticket: o.ticket,
    targets: o.targets.split(',').map((s) => s.trim()).filter(Boolean),
    scope: o.scope.split(',').map((s) => s.trim()).filter(Boolean),
    durationSeconds,
    budget,
    reason: o.reason,
  });
  if (!r.ok) return r.code;
  const result = r.body as unknown as TaskOpenResult;
  if (o.json) io.out(JSON.stringify(result, null, 2));
  if (result.state === 'granted') {
    if (!o.json) io.out(result.token);
    io.err(`task ${result.task.id} granted until ${new Date(result.task.expiresAt!).toISOString()}; the line on stdout is its token`);
    return 0;
  }
  if (result.state === 'denied') {
    io.err(`task ${result.task.id} denied: ${result.reason}`);
    return 1;
  }
  io.err(`task ${result.task.id} waits for a reviewer: approval ${result.approvalId} (${result.reviewUrl})`);
  if (!o.wait) return 3;
  const deadline = Date.now() + o.wait * 1000;
  while (Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 500));
    const s = await call(o, io, 'GET', `api/tasks/${encodeURIComponent(result.task.id)}`);
    if (!s.ok) return s.code;
    const task = s.body.task as Task;
    if (task.status === 'active' && typeof s.body.token === 'string') {
      if (!o.json) io.out(s.body.token);
      io.err(`task ${task.id} granted by ${task.grantedBy}; the line on stdout is its token`);
      return 0;
    }
    if (task.status !== 'pending') {
      io.err(`task ${task.id} ${task.status}: ${task.endReason ?? ''}`);
      return 1;
    }
  }
  io.err(`still waiting for a reviewer; \`airlock task show ${result.task.id} --token-only\` prints the token once granted`);
  return 3;
}

export async function taskShow(o: ApprovalCliOptions & { id: string; json?: boolean; tokenOnly?: boolean }, io: CliOutput = consoleOutput): Promise<number> {
  const r = await call(o, io, 'GET', `api/tasks/${encodeURIComponent(o.id)}`);
  if (!r.ok) return r.code;
  const task = r.body.task as Task;
  if (o.tokenOnly) {
    if (typeof r.body.token !== 'string') {
      io.err(`task ${task.id} is ${task.status}: no token`);
      return task.status === 'pending' ? 3 : 1;
    }
    io.out(r.body.token);
    return 0;
  }
  if (o.json) {
    const { token: _token, ...rest } = r.body;
    io.out(JSON.stringify(rest, null, 2));
    return 0;
  }
  for (const l of describe(task, r.body.usageSource as TaskUsageSource | undefined)) io.out(l);
  const sessions = (r.body.sessions ?? []) as { sessionId: string; target: string; protocol: string }[];
  for (const s of sessions) io.out(`  live session ${s.sessionId}  ${s.protocol} → ${s.target}`);
  // The task's lifecycle as the hash-chained audit trail holds it.
  const events = (r.body.events ?? []) as { at: string; event: string; by?: string; reason?: string; sessions?: string[] }[];
  for (const e of events) io.out(`  ${e.at}  ${e.event}${e.by ? ` by ${e.by}` : ''}${e.reason ? `: ${e.reason}` : ''}${e.sessions?.length ? ` (${e.sessions.length} session(s) ended)` : ''}`);
  return 0;
}

export async function taskClose(o: ApprovalCliOptions & { id: string; reason?: string }, io: CliOutput = consoleOutput): Promise<number> {
  const r = await call(o, io, 'POST', `api/tasks/${encodeURIComponent(o.id)}/close`, { reason: o.reason ?? 'closed' });
  if (!r.ok) return r.code;
  const t = r.body.task as Task;
  io.out(`${t.id} ${t.status}${t.endReason ? `: ${t.endReason}` : ''}`);
  return 0;
}

export async function taskList(o: ApprovalCliOptions & { all?: boolean; json?: boolean }, io: CliOutput = consoleOutput): Promise<number> {
  const r = await call(o, io, 'GET', `api/tasks${o.all ? '?all=1' : ''}`);
  if (!r.ok) return r.code;
  const tasks = (r.body.tasks ?? []) as Task[];
  if (o.json) io.out(JSON.stringify(tasks, null, 2));
  else if (tasks.length === 0) io.out('no tasks');
  else for (const t of tasks) io.out(describe(t)[0]!);
  return 0;
}

export async function sessionsKill(o: ApprovalCliOptions & { principal: string; reason?: string }, io: CliOutput = consoleOutput): Promise<number> {
  const r = await call(o, io, 'POST', 'api/sessions/kill', { principal: o.principal, reason: o.reason });
  if (!r.ok) return r.code;
  const ended = (r.body.ended ?? []) as string[];
  io.out(`ended ${ended.length} session(s) of ${o.principal}${ended.length ? `: ${ended.join(', ')}` : ''}`);
  return 0;
}
