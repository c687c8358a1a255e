// `airlock approvals list | approve ID | deny ID --reason …`: plain functions over the running
// gateway's console API (the approvals live in the gateway process, so the CLI asks it).
// Exit codes: 0 done, 1 refused by the gateway or already decided, 2 usage or connection problem.
import type { ApprovalView } from '../../../core/approval/index.js';

export interface ApprovalCliOptions {
  /** Console base URL; defaults to $AIRLOCK_CONSOLE_URL. */
  url?: string;
  /** Reviewer's access token; defaults to $AIRLOCK_TOKEN. Never printed. */
  token?: string;
  env?: Record<string, string | undefined>;
  fetch?: typeof fetch;
}

export interface CliOutput {
  out(line: string): void;
  err(line: string): void;
}

export const consoleOutput: CliOutput = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
};

type Call = { ok: true; body: Record<string, unknown> } | { ok: false; code: number };

export async function call(opts: ApprovalCliOptions, io: CliOutput, method: string, path: string, body?: unknown): Promise<Call> {
  const env = opts.env ?? process.env;
  const base = opts.url ?? env.AIRLOCK_CONSOLE_URL;
  const token = opts.token ?? env.AIRLOCK_TOKEN;
  if (!base) {
    io.err('no console URL: pass --url or set AIRLOCK_CONSOLE_URL (printed by `npm start`)');
    return { ok: false, code: 2 };
  }
  if (!token) {
    io.err('no reviewer token: pass --token or set AIRLOCK_TOKEN');
    return { ok: false, code: 2 };
  }
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    const init: RequestInit = { method, headers, signal: AbortSignal.timeout(10_000) };
    if (body !== undefined) init.body = JSON.stringify(body);
    res = await (opts.fetch ?? fetch)(new URL(path, base.endsWith('/') ? base : base + '/'), init);
  } catch (error) {
    io.err(`cannot reach the console at ${base}: ${(error as Error).message}`);
    return { ok: false, code: 2 };
  }
  const parsed = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) {
    io.err(`refused (${res.status}): ${typeof parsed.error === 'string' ? parsed.error : res.statusText}`);
    return { ok: false, code: res.status === 400 ? 2 : 1 };
  }
  return { ok: true, body: parsed };
}

function oneLine(text: string, max = 100): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? flat.slice(0, max - 1) + '…' : flat;
}

export async function approvalsList(opts: ApprovalCliOptions & { json?: boolean }, io: CliOutput = consoleOutput): Promise<number> {
  const r = await call(opts, io, 'GET', 'api/approvals');
  if (!r.ok) return r.code;
  const list = (r.body.approvals ?? []) as ApprovalView[];
  if (opts.json) {
    io.out(JSON.stringify(list, null, 2));
    return 0;
  }
  if (list.length === 0) {
    io.out('no pending approvals');
    return 0;
  }
  for (const a of list) {
    io.out(`${a.id}  ${a.statementClass}  ${a.requester} → ${a.target} (${a.environment})  policy ${a.policyIds.join(',') || '-'}  ${a.ageSeconds}s`);
    io.out(`    ${oneLine(a.statement)}`);
    if (a.agentReason) io.out(`    reason: ${oneLine(a.agentReason)}`);
  }
  return 0;
}

function report(body: Record<string, unknown>, io: CliOutput): number {
  const a = body.approval as ApprovalView;
  const scope = a.scope && a.scope !== 'once' ? ` for this ${a.scope} (${a.scopeMinutes} min)` : '';
  if (body.first === true) {
    io.out(`${a.id} ${a.state}${a.state === 'approved' ? scope : ''}`);
    return 0;
  }
  io.err(`${a.id} was already ${a.state}${a.reviewer ? ` by ${a.reviewer}` : ''}${a.reason ? `: ${a.reason}` : ''}`);
  return 1;
}

export async function approvalsApprove(
  opts: ApprovalCliOptions & { id: string; scope?: 'once' | 'shape' | 'session'; minutes?: number; reason?: string },
  io: CliOutput = consoleOutput,
): Promise<number> {
  const body: Record<string, unknown> = { scope: opts.scope ?? 'once' };
  if (opts.minutes !== undefined) body.minutes = opts.minutes;
  if (opts.reason !== undefined) body.reason = opts.reason;
  const r = await call(opts, io, 'POST', `api/approvals/${encodeURIComponent(opts.id)}/approve`, body);
  return r.ok ? report(r.body, io) : r.code;
}

export async function approvalsDeny(opts: ApprovalCliOptions & { id: string; reason: string }, io: CliOutput = consoleOutput): Promise<number> {
  if (!opts.reason || !opts.reason.trim()) {
    io.err('deny needs --reason');
    return 2;
  }
  const r = await call(opts, io, 'POST', `api/approvals/${encodeURIComponent(opts.id)}/deny`, { reason: opts.reason });
  return r.ok ? report(r.body, io) : r.code;
}
