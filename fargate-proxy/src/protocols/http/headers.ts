// Which request headers reach the upstream and which response headers reach the agent. The target
// is chosen from the request path alone, never from what the agent says about routing; the agent's
// own credentials stop here, and the upstream's credential is added here.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

/** RFC 9110 §7.6.1 connection-specific headers, plus HTTP/2 pseudo-headers' HTTP/1 cousins. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'http2-settings']);

/** Headers some upstream frameworks read as the "real" URL, method or client: none may come from the agent. */
const ROUTING = new Set([
  'host',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-forwarded-server',
  'x-original-url',
  'x-rewrite-url',
  'x-original-uri',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  'x-real-ip',
  'x-client-ip',
  'true-client-ip',
  'x-envoy-original-path',
]);

/** The agent's credentials for the gateway; never forwarded, never audited. */
const AGENT_CREDENTIALS = new Set(['authorization', 'proxy-authorization', 'cookie']);

/** Set by the gateway itself (length after masking, encoding after decoding). */
const RECOMPUTED = new Set(['content-length', 'accept-encoding', 'expect']);

/**
 * Whether an agent's request header stays behind. Names with `_` are dropped (as nginx does by
 * default): CGI, WSGI (Python's wsgiref), Rack and PHP file `X_HTTP_Method_Override` under the same
 * key as `X-HTTP-Method-Override`, so every name below, and the credential's and the policy's
 * context headers, would otherwise reach such an upstream under a second spelling.
 */
export function dropsFromRequest(name: string): boolean {
  return name.startsWith(':') || name.includes('_') || HOP_BY_HOP.has(name) || ROUTING.has(name) || AGENT_CREDENTIALS.has(name) || RECOMPUTED.has(name);
}

/** Extra names listed in the `Connection` header are hop-by-hop too. */
function connectionListed(headers: IncomingHttpHeaders): Set<string> {
  const c = headers.connection;
  return new Set((Array.isArray(c) ? c.join(',') : (c ?? '')).split(',').map((s) => s.trim().toLowerCase()).filter(Boolean));
}

/** The agent's request headers as they go upstream (credential not yet added). */
export function upstreamRequestHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const listed = connectionListed(headers);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || dropsFromRequest(name) || listed.has(name)) continue;
    out[name] = value;
  }
  // The gateway decodes responses to mask them; ask only for encodings it can decode.
  out['accept-encoding'] = 'gzip, deflate, br';
  return out;
}

/** For the audit trail: the request headers minus anything that carries a credential. */
export function auditedHeaders(headers: Record<string, string | string[] | undefined>, secretHeader?: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(':') || AGENT_CREDENTIALS.has(name) || name === secretHeader) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** Response headers the agent must not get from the upstream (framing is the gateway's own). */
const RESPONSE_DROPS = new Set([...HOP_BY_HOP, 'content-length', 'content-encoding', 'set-cookie', 'alt-svc']);

/** The upstream's response headers as the agent gets them; `scrub` removes the credential from values. */
export function agentResponseHeaders(headers: Record<string, string | string[] | undefined>, scrub: (s: string) => string): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || RESPONSE_DROPS.has(name)) continue;
    out[name] = Array.isArray(value) ? value.map(scrub) : scrub(value);
  }
  return out;
}

/** Media type without parameters, lower case: `application/json; charset=utf-8` → `application/json`. */
export function mediaType(value: string | string[] | undefined): string {
  const v = Array.isArray(value) ? value[0] : value;
  return (v ?? '').split(';')[0]!.trim().toLowerCase();
}
