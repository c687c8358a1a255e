// `http_request`: one request through the gateway's HTTP listener (`/<target>/<path>`, the token as
// the bearer). The listener canonicalises, decides, holds, audits, injects the upstream credential
// and masks; this relays its answer. A request held past the listener's wait comes back as 503
// `approval_required` + Retry-After: it is retried identically (the listener runs it once, when
// approved) and the wait is reported as progress.
import { Agent, request, type Dispatcher } from 'undici';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { pinnedTls, type ListenerEndpoint } from '../endpoints.js';
import { httpFailure, toolError } from '../refusals.js';

export interface HttpArgs {
  target: string;
  method: string;
  /** Below the target, e.g. `/v1/orders?limit=5`. */
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

const MAX_BODY_BYTES = 512 * 1024;
/** Headers the tool never forwards: the bearer is the agent's token, routing is the gateway's. */
const DROPPED = new Set(['authorization', 'proxy-authorization', 'host', 'connection', 'transfer-encoding', 'content-length', 'upgrade', 'te', 'keep-alive']);

const dispatchers = new Map<string, Dispatcher>();
function dispatcherFor(endpoint: ListenerEndpoint): Dispatcher | undefined {
  if (!endpoint.tls) return undefined;
  const key = `${endpoint.host}:${endpoint.port}`;
  let d = dispatchers.get(key);
  if (!d) {
    d = new Agent({ connect: pinnedTls(endpoint.tls) as Agent.Options['connect'] });
    dispatchers.set(key, d);
  }
  return d;
}

export async function runHttpRequest(endpoint: ListenerEndpoint | undefined, token: string, args: HttpArgs, onHold: (message: string) => void, signal: AbortSignal, maxWaitMs: number): Promise<CallToolResult> {
  if (!endpoint) return toolError({ code: 'protocol_unavailable', message: 'this gateway has no HTTP listener' });
  const path = args.path.startsWith('/') ? args.path : `/${args.path}`;
  const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
  const url = `${endpoint.tls ? 'https' : 'http'}://${host}:${endpoint.port}/${encodeURIComponent(args.target)}${path}`;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(args.headers ?? {})) if (!DROPPED.has(k.toLowerCase())) headers[k.toLowerCase()] = v;
  headers.authorization = `Bearer ${token}`;
  const deadline = Date.now() + maxWaitMs;
  for (;;) {
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, { method: args.method as Dispatcher.HttpMethod, headers, body: args.body, dispatcher: dispatcherFor(endpoint), signal });
    } catch (err) {
      if (signal.aborted) return toolError({ code: 'cancelled', message: 'the tool call was cancelled' });
      return toolError({ code: 'gateway_unreachable', message: `the gateway's HTTP listener: ${(err as Error).message}` });
    }
    const { text, cut } = await readBounded(res.body);
    const contentType = String(res.headers['content-type'] ?? '');
    if (contentType.startsWith('application/problem+json')) {
      let problem: Record<string, unknown> = {};
      try {
        problem = JSON.parse(text) as Record<string, unknown>;
      } catch {
        // an upstream's malformed problem document: reported as it came
      }
      // The listener's hold: 503 with `approval_required` (the refusal contract) or `approval_pending` (before it).
      if (res.statusCode === 503 && (problem.code === 'approval_required' || problem.code === 'approval_pending') && Date.now() < deadline) {
        const retryAfter = Math.max(1, Number(res.headers['retry-after'] ?? 5));
        onHold(`waiting for a reviewer: approval ${String(problem.approvalId ?? '')}${problem.reviewUrl ? ` (${String(problem.reviewUrl)})` : ''}`);
        if (!(await sleep(Math.min(retryAfter * 1000, deadline - Date.now()), signal))) return toolError({ code: 'cancelled', message: 'the tool call was cancelled while the request was held; the approval stays open' });
        continue;
      }
      // Only the gateway's own problem documents carry its codes; an upstream's is relayed as a response.
      if (typeof problem.type === 'string' && problem.type.startsWith('https://airlock.dev/problems/')) return toolError(httpFailure(res.statusCode, problem));
    }
    const body = {
      status: res.statusCode,
      headers: Object.fromEntries(Object.entries(res.headers).filter(([k]) => ['content-type', 'location', 'etag', 'last-modified', 'x-airlock-request-id'].includes(k))),
      body: text,
      ...(cut && { truncated: true }),
    };
    return { content: [{ type: 'text', text: JSON.stringify(body, null, 1) }], ...(res.statusCode >= 400 && { isError: true }) };
  }
}

async function readBounded(body: Dispatcher.ResponseData['body']): Promise<{ text: string; cut: boolean }> {
  const parts: Buffer[] = [];
  let size = 0;
  let cut = false;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (size >= MAX_BODY_BYTES) {
      cut = true;
      continue; // drained, not kept
    }
    const keep = chunk.subarray(0, MAX_BODY_BYTES - size);
    parts.push(keep);
    size += keep.length;
    if (keep.length < chunk.length) cut = true;
  }
  return { text: Buffer.concat(parts).toString('utf8'), cut };
}

function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const t = setTimeout(() => resolve(true), Math.max(0, ms));
    signal.addEventListener('abort', () => (clearTimeout(t), resolve(false)), { once: true });
  });
}
