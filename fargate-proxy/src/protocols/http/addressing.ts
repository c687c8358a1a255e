// Which target a request names, and the path below it. Two forms, never mixed:
//   by path: `https://<gateway>/<target>/<path>` — any host name that is not `<label>.<domain>`;
//   by host: `https://<target>.<domain>/<path>` — the whole path is the target's (its first segment is
//            never read as a target name, so the two forms cannot shadow each other).
// On TLS the host is named twice, by SNI in the handshake and by Host / :authority in each request;
// when both are present they must agree (else 421 Misdirected Request, RFC 9110 §15.5.20), so no
// decision depends on which of the two some component would have read.
import type { TLSSocket } from 'node:tls';
import type { Http2ServerRequest } from 'node:http2';
import type { IncomingMessage } from 'node:http';
import type { Problem } from './problem.js';

export interface Addressed {
  /** The target name as addressed (host labels lower-cased), or "" when none was named. */
  name: string;
  /** The raw path below the target (before canonicalisation), starting with "/". */
  below: string;
  query: string;
  by: 'path' | 'host';
  /** The host name the request was addressed to (lower case, no port), or "" when none was sent. */
  host: string;
}

// RFC 3986 reg-name restricted to DNS names, or an IP literal; optional port.
const AUTHORITY = /^(?:([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*)\.?|(\[[0-9a-f:.]+\]))(?::([0-9]{1,5}))?$/i;
/** A target reachable by host name must be one DNS label. */
export const HOST_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

function fail(status: number, code: string, title: string, detail: string, requestId: string): { problem: Problem } {
  return { problem: { status, code, title, detail, requestId } };
}

/** The TLS server name the agent sent in its ClientHello, lower case, or "" (plain HTTP, or no SNI). */
export function serverNameOf(req: IncomingMessage | Http2ServerRequest): string {
  const h2 = (req as Http2ServerRequest).stream?.session?.socket as TLSSocket | undefined;
  const socket = (h2 ?? req.socket) as TLSSocket | undefined;
  const name = socket && typeof socket.servername === 'string' ? socket.servername : '';
  return name.toLowerCase().replace(/\.$/, '');
}

/** The host the request names: `:authority` (HTTP/2) or `Host`, exactly once, well formed. */
function hostOf(req: IncomingMessage | Http2ServerRequest, requestId: string): { host: string } | { problem: Problem } {
  const values: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === 'host' || raw[i] === ':authority') values.push(raw[i + 1]!);
  if (values.length === 0) return { host: '' };
  // Two hosts (two Host fields, or Host beside a different :authority) have two readings.
  if (values.some((v) => v.toLowerCase() !== values[0]!.toLowerCase())) return fail(400, 'bad_host', 'The request names more than one host', 'send one Host (or :authority)', requestId);
  if (values.length > 1 && !raw.includes(':authority')) return fail(400, 'bad_host', 'The request names more than one host', 'send one Host header', requestId);
  const m = AUTHORITY.exec(values[0]!);
  if (!m || (m[3] !== undefined && Number(m[3]) > 65535)) return fail(400, 'bad_host', 'The Host header is not a host name', 'send Host: <name>[:port]', requestId);
  return { host: (m[1] ?? m[2]!).toLowerCase() };
}

/**
 * Reads the request target and the host it was sent to. `domain` (lower case, no leading dot) turns
 * on host addressing; without it every request is addressed by path.
 */
export function addressOf(req: IncomingMessage | Http2ServerRequest, domain: string | undefined, requestId: string): Addressed | { problem: Problem } {
  const url = req.url ?? '';
  if (!url.startsWith('/')) return fail(400, 'bad_request_target', 'Only origin-form request targets are accepted', 'address a target as /<target>/<path> or https://<target>.<domain>/<path>', requestId);
  const q = url.indexOf('?');
  const rawPath = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q + 1);

  const named = hostOf(req, requestId);
  if ('problem' in named) return named;
  const sni = serverNameOf(req);
  // SNI and Host must name the same host: the certificate chosen, a load balancer's rule and this
  // gateway's addressing then all read one name. (HTTP/2 connection reuse across names gets 421,
  // and the client opens a connection for the other name.)
  if (sni && named.host && sni !== named.host) {
    return fail(421, 'misdirected_request', 'The request names a different host than its TLS connection', `the connection is for "${sni}"; open a new connection for "${named.host}"`, requestId);
  }
  const host = named.host || sni;

  if (domain && host.endsWith(`.${domain}`)) {
    const label = host.slice(0, -domain.length - 1);
    // `a.b.<domain>` names no target: it is refused, never read as a path-addressed request.
    return { name: HOST_LABEL.test(label) ? label : '', below: rawPath, query, by: 'host', host };
  }
  const slash = rawPath.indexOf('/', 1);
  return { name: slash < 0 ? rawPath.slice(1) : rawPath.slice(1, slash), below: slash < 0 ? '/' : rawPath.slice(slash), query, by: 'path', host };
}
