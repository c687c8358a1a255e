// `query`: SQL through the gateway's PostgreSQL listener, as psql would send it (simple query
// protocol, the token as the password). The listener inspects, decides, holds, audits and masks;
// this only relays its answer: rows as the text the gateway sent, its NOTICEs, its refusals.
import pg from 'pg';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { pinnedTls, type ListenerEndpoint } from '../endpoints.js';
import { postgresFailure, toolError } from '../refusals.js';

export interface QueryArgs {
  target: string;
  sql: string;
  maxRows: number;
}

interface ResultSet {
  command?: string;
  rowCount?: number | null;
  fields: string[];
  rows: (string | null)[][];
  /** Rows received beyond maxRows (counted, not kept). */
  omittedRows: number;
}

/** Values exactly as the gateway sent them (masked text), not converted to JavaScript types. */
const asText = { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig;

/** Rows kept across all result sets of one call; the rest are counted only (memory stays bounded). */
export const MAX_ROWS_LIMIT = 5000;
const MAX_TEXT_BYTES = 512 * 1024;

export async function runQuery(endpoint: ListenerEndpoint | undefined, token: string, args: QueryArgs, onHold: (message: string) => void, signal: AbortSignal): Promise<CallToolResult> {
  if (!endpoint) return toolError({ code: 'protocol_unavailable', message: 'this gateway has no PostgreSQL listener' });
  const client = new pg.Client({
    host: endpoint.host,
    port: endpoint.port,
    database: args.target,
    user: 'mcp',
    password: token,
    application_name: 'airlock-mcp',
    ssl: endpoint.tls ? (pinnedTls(endpoint.tls) as pg.ClientConfig['ssl']) : false,
    types: asText,
    connectionTimeoutMillis: 15_000,
  });
  const notices: string[] = [];
  client.on('notice', (n) => {
    const text = [n.message, n.detail].filter(Boolean).join(' — ');
    // The gateway's hold notice: the statement waits for a reviewer (relay.ts #holdForApproval).
    if (/^Airlock: .*needs approval/.test(n.message ?? '')) onHold(text);
    else notices.push(text);
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code === 'ECONNREFUSED' || e.code === 'ETIMEDOUT') return toolError({ code: 'gateway_unreachable', message: `the gateway's PostgreSQL listener is not reachable (${e.code})` });
    const f = postgresFailure(e);
    return toolError(f.code === 'database_error' ? { ...f, code: /database|target/.test(e.message) && e.code === '3D000' ? 'unknown_target' : 'connect_refused' } : f);
  }
  // Cancelling the tool call cancels the statement (and withdraws a held one's approval request), as Ctrl-C in psql does.
  const cancel = () => void client.end().catch(() => undefined);
  signal.addEventListener('abort', cancel, { once: true });
  try {
    const sets = await simpleQuery(client, args.sql, Math.min(args.maxRows, MAX_ROWS_LIMIT));
    const body = { results: sets, ...(notices.length > 0 && { notices }) };
    let text = JSON.stringify(body, null, 1);
    if (Buffer.byteLength(text) > MAX_TEXT_BYTES) text = `${text.slice(0, MAX_TEXT_BYTES)}\n… (output cut at ${MAX_TEXT_BYTES} bytes; ask for fewer rows)`;
    return { content: [{ type: 'text', text }] };
  } catch (err) {
    return toolError(postgresFailure(err as Error & { code?: string; detail?: string; hint?: string }));
  } finally {
    signal.removeEventListener('abort', cancel);
    await client.end().catch(() => undefined);
  }
}

/** One Query message (psql's path); rows are streamed and the first `maxRows` kept. */
function simpleQuery(client: pg.Client, sql: string, maxRows: number): Promise<ResultSet[]> {
  return new Promise((resolve, reject) => {
    const sets: ResultSet[] = [];
    const byResult = new Map<unknown, ResultSet>();
    let kept = 0;
    const setOf = (r: pg.QueryResult): ResultSet => {
      let s = byResult.get(r);
      if (!s) {
        s = { fields: r.fields.map((f) => f.name), rows: [], omittedRows: 0 };
        byResult.set(r, s);
        sets.push(s);
      }
      return s;
    };
    const q = new pg.Query({ text: sql, rowMode: 'array' } as pg.QueryConfig);
    q.on('row', (row: (string | null)[], result?: pg.ResultBuilder) => {
      const s = setOf(result as unknown as pg.QueryResult);
      if (kept < maxRows) {
        s.rows.push(row);
        kept++;
      } else s.omittedRows++;
    });
    q.on('error', reject);
    q.on('end', (results: pg.QueryResult | pg.QueryResult[]) => {
      for (const r of Array.isArray(results) ? results : [results]) {
        const s = setOf(r);
        s.command = r.command;
        s.rowCount = r.rowCount;
      }
      resolve(sets);
    });
    client.query(q as unknown as pg.QueryConfig);
  });
}
