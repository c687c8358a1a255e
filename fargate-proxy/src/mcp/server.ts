// The Airlock MCP server: six tools over the gateway's own listeners. It holds no policy, masking or
// audit of its own: `query`, `exec` and `http_request` connect to the PostgreSQL, SSH and HTTP
// listeners with the agent's token (or a task's token), exactly as psql, ssh and curl do, so every
// tool call is inspected, decided, held, masked and audited by the one data path. Used by
// `airlock mcp` (stdio) and the gateway's MCP listener (streamable HTTP, mcp/http-listener.ts).
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { Principal } from '../../../core/model.js';
import type { TaskService } from '../../../core/task/types.js';
import type { GatewayEndpoints } from './endpoints.js';
import { progressReporter } from './progress.js';
import { toolError } from './refusals.js';
import { runExec } from './tools/exec.js';
import { runHttpRequest } from './tools/http-request.js';
import { MAX_ROWS_LIMIT, runQuery } from './tools/query.js';
import { requestAccess, taskStatus, taskToken } from './tools/tasks.js';

export interface McpServerOptions {
  endpoints: GatewayEndpoints;
  /** The agent's access token (verified by the listeners on every connection, like any client's). */
  token(): Promise<string>;
  /** The agent, for the task service; absent where the MCP server cannot verify it (stdio without tasks). */
  principal?(): Promise<Principal>;
  tasks?: TaskService;
  /** Longest an `http_request` keeps retrying a request held for approval (the approval's lifetime). */
  maxApprovalWaitMs: number;
  version: string;
}

const TARGET = z.string().regex(/^[A-Za-z0-9_.-]{1,63}$/).describe('target name, from list_targets');
const TASK = z.string().min(1).max(128).optional().describe('act under this task (its id from request_access); default: your own access');

export function createAirlockMcpServer(o: McpServerOptions): McpServer {
  const server = new McpServer(
    { name: 'airlock', version: o.version },
    {
      instructions:
        'Airlock is the gateway to production systems. Every call is checked by policy, may wait for a human reviewer (progress notifications), ' +
        'has sensitive values masked and is audited. Refusals are tool errors with a stable error.code (policy_denied, approval_required, ' +
        'approval_denied, budget_exceeded, task_expired, session_killed) and a hint saying what to do next.',
    },
  );
  const principal = async () => (o.principal ? o.principal().catch(() => undefined) : undefined);
  /** The token a data tool connects with: the agent's own, or the task's. */
  const tokenFor = async (task: string | undefined): Promise<string | CallToolResult> => (task ? taskToken(o.tasks, await principal(), task) : o.token());
  const hasKind = (target: string, kind: string): CallToolResult | undefined => {
    const t = o.endpoints.targets.find((x) => x.name === target);
    if (!t) return toolError({ code: 'unknown_target', message: `no target "${target}"; list_targets shows them` });
    if (t.kind !== kind) return toolError({ code: 'wrong_tool', message: `"${target}" is a ${t.kind} target; use ${t.kind === 'postgres' ? 'query' : t.kind === 'ssh' ? 'exec' : 'http_request'}` });
    return undefined;
  };

  server.registerTool(
    'list_targets',
    {
      title: 'List targets',
      description: 'The systems this gateway fronts: name, kind (postgres → query, ssh → exec, http → http_request), environment and tags. Whether you may use one is decided per call.',
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async () => {
      const tools: Record<string, string> = { postgres: 'query', ssh: 'exec', http: 'http_request' };
      const targets = o.endpoints.targets.map((t) => ({ ...t, tool: tools[t.kind] ?? null }));
      return { content: [{ type: 'text', text: JSON.stringify({ targets }, null, 1) }], structuredContent: { targets } };
    },
  );

  server.registerTool(
    'query',
    {
      title: 'Run SQL',
      description:
        'Runs SQL on a PostgreSQL target through the gateway (one simple-protocol Query, as psql sends it; several statements may be separated by ;). ' +
        'Values come back as text, masked where sensitive. Statements needing approval wait for a reviewer (progress notifications).',
      inputSchema: { target: TARGET, sql: z.string().min(1).max(1024 * 1024), max_rows: z.number().int().min(1).max(MAX_ROWS_LIMIT).default(200).describe('rows kept in the answer; the rest are counted'), task: TASK },
      annotations: { destructiveHint: true, openWorldHint: true },
    },
    async (a, extra) => {
      const wrong = hasKind(a.target, 'postgres');
      if (wrong) return wrong;
      const token = await tokenFor(a.task);
      if (typeof token !== 'string') return token;
      return runQuery(o.endpoints.postgres, token, { target: a.target, sql: a.sql, maxRows: a.max_rows }, progressReporter(extra), extra.signal);
    },
  );

  server.registerTool(
    'exec',
    {
      title: 'Run a command',
      description:
        'Runs one shell command on an SSH target through the gateway (as `ssh target@gateway "command"`). Output is masked where sensitive. ' +
        'Commands needing approval wait for a reviewer (progress notifications).',
      inputSchema: { target: TARGET, command: z.string().min(1).max(64 * 1024), task: TASK },
      annotations: { destructiveHint: true, openWorldHint: true },
    },
    async (a, extra) => {
      const wrong = hasKind(a.target, 'ssh');
      if (wrong) return wrong;
      const token = await tokenFor(a.task);
      if (typeof token !== 'string') return token;
      return runExec(o.endpoints.ssh, token, { target: a.target, command: a.command }, progressReporter(extra), extra.signal);
    },
  );

  server.registerTool(
    'http_request',
    {
      title: 'HTTP request',
      description:
        'Sends one HTTP request to an HTTP target through the gateway (path below the target, e.g. /v1/orders?limit=5). ' +
        'The gateway adds the upstream credential; the response body is masked where sensitive. Requests needing approval wait for a reviewer.',
      inputSchema: {
        target: TARGET,
        method: z.enum(['GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH', 'DELETE']).default('GET'),
        path: z.string().min(1).max(8192),
        headers: z.record(z.string(), z.string()).optional(),
        body: z.string().max(8 * 1024 * 1024).optional(),
        task: TASK,
      },
      annotations: { destructiveHint: true, openWorldHint: true },
    },
    async (a, extra) => {
      const wrong = hasKind(a.target, 'http');
      if (wrong) return wrong;
      const token = await tokenFor(a.task);
      if (typeof token !== 'string') return token;
      return runHttpRequest(o.endpoints.http, token, { target: a.target, method: a.method, path: a.path, headers: a.headers, body: a.body }, progressReporter(extra), extra.signal, o.maxApprovalWaitMs);
    },
  );

  server.registerTool(
    'request_access',
    {
      title: 'Request access for a task',
      description:
        'Asks for access scoped to one piece of work: targets, scope (read, write, write:<table>), duration and optional budgets. ' +
        'Policy grants it at once or a reviewer decides; then pass `task: <id>` to query, exec and http_request.',
      inputSchema: {
        title: z.string().min(1).max(200),
        ticket: z.string().max(100).optional(),
        targets: z.array(TARGET).min(1),
        scope: z.array(z.string().regex(/^(read|write)(:[A-Za-z0-9_.]+)?$/)).min(1).describe('e.g. ["read", "write:orders"]'),
        duration_minutes: z.number().int().min(1).max(24 * 60),
        max_rows: z.number().int().positive().optional(),
        max_statements: z.number().int().positive().optional(),
        max_rows_affected: z.number().int().positive().optional(),
        reason: z.string().max(1000).optional().describe('shown to the reviewer'),
      },
      annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: false },
    },
    async (a) =>
      requestAccess(o.tasks, await principal(), {
        title: a.title,
        ticket: a.ticket,
        targets: a.targets,
        scope: a.scope,
        durationSeconds: a.duration_minutes * 60,
        budget: {
          ...(a.max_rows !== undefined && { rowsReturned: a.max_rows }),
          ...(a.max_statements !== undefined && { statements: a.max_statements }),
          ...(a.max_rows_affected !== undefined && { rowsAffected: a.max_rows_affected }),
        },
        reason: a.reason,
      }),
  );

  server.registerTool(
    'task_status',
    {
      title: 'Task status',
      description: 'The state of one of your tasks (pending, active, denied, expired, closed), its scope, expiry, budget and what it used.',
      inputSchema: { id: z.string().min(1).max(128) },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async (a) => taskStatus(o.tasks, await principal(), a.id),
  );
  return server;
}
