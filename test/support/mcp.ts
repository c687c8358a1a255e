// A gateway with every listener the MCP tools use (PostgreSQL, HTTP, the MCP listener itself and the
// console for reviewers), and MCP clients from the official SDK: streamable HTTP with a bearer token,
// and stdio against a spawned `airlock mcp`.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { AuditRecord } from '../../core/audit/events.js';
import { createLocalAuditReader } from '../../fargate-proxy/src/adapters/local/audit-file-reader.js';
import { writeGatewayRecord } from '../../fargate-proxy/src/cli/gateway-record.js';
import { startTestGateway, type TestGateway, type TestGatewayOptions } from './gateway.js';
import type { RunningPostgres } from './pg-server.js';

const MAIN = fileURLToPath(new URL('../../fargate-proxy/src/cli/main.ts', import.meta.url));

export interface McpTestGateway extends TestGateway {
  mcpUrl: string;
  configFile: string;
  auditRecords(): Promise<AuditRecord[]>;
}

/** The gateway of test/support/gateway.ts plus HTTP, MCP and console listeners; its config is also written to a file for `airlock mcp -c`. */
export async function startMcpTestGateway(pg: RunningPostgres | undefined, o: TestGatewayOptions & { extraListeners?: Record<string, unknown> } = {}): Promise<McpTestGateway> {
  let rawConfig: Record<string, unknown> = {};
  const gw = await startTestGateway(pg, {
    ...o,
    config: (raw) => {
      raw.listeners = {
        postgres: { host: '127.0.0.1', port: 0, allowPlaintext: true },
        http: { host: '127.0.0.1', port: 0, allowPlaintext: true, approvalWaitSeconds: 1 },
        mcp: { host: '127.0.0.1', port: 0, allowPlaintext: true },
        console: { host: '127.0.0.1', port: 0 },
        ...o.extraListeners,
      };
      raw.approvals = { reviewerGroups: ['reviewers'], timeoutSeconds: 120 };
      o.config?.(raw);
      rawConfig = raw;
    },
  });
  const configFile = join(gw.dir, 'config.json');
  writeFileSync(configFile, JSON.stringify(rawConfig, null, 2));
  // `airlock mcp` finds the running gateway's real ports here, as it does for `airlock serve`.
  writeGatewayRecord(gw.gw.config.dataDir, gw.gw, configFile);
  const reader = createLocalAuditReader(join(gw.dir, 'data', 'audit'));
  return {
    ...gw,
    mcpUrl: gw.gw.mcpUrl!,
    configFile,
    auditRecords: async () => {
      const out: AuditRecord[] = [];
      for (const id of await reader.sessionIds()) for (const e of (await reader.readSession(id)) ?? []) if (!('unparsable' in e)) out.push(e);
      return out;
    },
  };
}

export async function httpMcpClient(url: string, token: string): Promise<Client> {
  const client = new Client({ name: 'airlock-test', version: '0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  return client;
}

/**
 * Spawns `airlock mcp -c <config>` as an agent's MCP configuration would: with the token in
 * AIRLOCK_TOKEN, or with `--client ID` (tokens from the local issuer).
 */
export async function stdioMcpClient(configFile: string, auth: string | { client: string }): Promise<{ client: Client; stderr: () => string }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: ['--import', 'tsx', MAIN, 'mcp', '-c', configFile, ...(typeof auth === 'string' ? [] : ['--client', auth.client])],
    env: { PATH: process.env.PATH ?? '', ...(typeof auth === 'string' && { AIRLOCK_TOKEN: auth }) },
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const client = new Client({ name: 'airlock-test', version: '0' });
  await client.connect(transport);
  return { client, stderr: () => stderr };
}

export interface ToolCall {
  result: CallToolResult;
  progress: string[];
  /** The tool's text, parsed when it is JSON. */
  body: Record<string, unknown>;
}

/** Calls a tool with progress on; `onProgress` sees each progress message as it arrives. */
export async function callTool(client: Client, name: string, args: Record<string, unknown>, onProgress?: (message: string) => void): Promise<ToolCall> {
  const progress: string[] = [];
  const result = (await client.callTool({ name, arguments: args }, undefined, {
    timeout: 120_000,
    resetTimeoutOnProgress: true,
    onprogress: (p) => {
      progress.push(p.message ?? '');
      onProgress?.(p.message ?? '');
    },
  })) as CallToolResult;
  const text = result.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { text };
  }
  return { result, progress, body };
}

/** The error a refused tool call carries. */
export const toolErrorOf = (c: ToolCall): { code: string; message: string; next?: Record<string, unknown>; hint?: string } =>
  (c.body as { error: { code: string; message: string; next?: Record<string, unknown>; hint?: string } }).error;
