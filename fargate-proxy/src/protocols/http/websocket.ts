// WebSocket openings — HTTP/1.1 Upgrade (RFC 6455 §4) or HTTP/2 extended CONNECT with
// `:protocol websocket` (RFC 8441) — are admitted like any request (target, token, canonical path),
// decided by policy as `http_write` with `context.upgrade == "websocket"` and `context.method == "GET"`
// whichever HTTP version carried them (a socket can send as well as read), audited, then relayed
// message by message (`ws` on both legs; the upstream leg is always an HTTP/1.1 Upgrade) with the
// upstream credential injected, the upstream's text messages masked and scrubbed of the credential,
// and what went each way recorded (capped, hashed) in the request's outcome.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer, type RawData } from 'ws';
import { ResponseCapture } from '../../../../core/audit/response-capture.js';
import type { HttpRequestFacts } from '../../../../core/policy/request.js';
import type { ConnectionSessions } from './audit-session.js';
import { createTextMasker } from './body-mask.js';
import { injectCredential, scrubText } from './credential.js';
import { admit, Refusal, sendProblem, type AgentRequest, type ExchangeContext } from './exchange.js';
import { auditedHeaders } from './headers.js';
import { policyProblem, problemBody, problemHeaders, type Problem } from './problem.js';
import { queryParamNames } from './query-names.js';

const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** A close code one side reported, as one that may be sent on (1005 "none" and 1006 "abnormal" may not, RFC 6455 §7.4.1). */
function sendable(code: number): number {
  if (code === 1005) return 1000;
  if (code === 1006 || code === 1015) return 1011;
  return code;
}

function refuseUpgrade(socket: Duplex, p: Problem): void {
  if (!socket.writable) return void socket.destroy();
  const body = problemBody(p);
  const headers = Object.entries({ ...problemHeaders(p, body), connection: 'close' })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  const reason = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 502: 'Bad Gateway', 503: 'Service Unavailable' }[p.status] ?? 'Error';
  socket.end(`HTTP/1.1 ${p.status} ${reason}\r\n${headers}\r\n${body}`);
}

/** One agent's WebSocket opening, whichever HTTP version carried it. */
interface Opening {
  req: AgentRequest;
  /** For the audit: `HTTP/1.1` or `HTTP/2`. */
  version: string;
  /** The agent went away while the upstream was being opened. */
  gone(): boolean;
  refuse(p: Problem): void;
  /** Completes the agent's handshake, answering with the subprotocol the upstream chose ("" for none). */
  accept(protocol: string, opened: (agent: WebSocket) => void): void;
}

/** `ws`'s server-side socket attached to a stream after a handshake it did not make (what its WebSocketServer does; private in `ws`). */
interface AttachableWebSocket extends WebSocket {
  setSocket(socket: Duplex, head: Buffer, options: Record<string, unknown>): void;
}

export function createUpgradeHandler(x: ExchangeContext, connectionOf: (req: AgentRequest) => ConnectionSessions) {
  // The agent's subprotocol is the one the upstream chose, not the first the agent offered.
  const chosen = new WeakMap<IncomingMessage, string>();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: MAX_MESSAGE_BYTES, handleProtocols: (_offered, req) => chosen.get(req) || false });
  const open = async (o: Opening, requestId: string): Promise<void> => {
    const { ports } = x;
    const { req } = o;
    try {
      const { target, principal, canonical, query, method, session } = await admit(x, connectionOf(req), req, requestId, 'GET');
      const facts: HttpRequestFacts = {
        action: 'write',
        method,
        path: canonical.path,
        query,
        queryParams: queryParamNames(query),
        headers: target.config.contextHeaders.flatMap((h) => (req.headers[h] === undefined ? [] : [`${h}=${String(req.headers[h])}`])),
        contentType: '',
        bodyBytes: 0,
        route: '',
        upgrade: 'websocket',
        operationId: target.operation?.('GET', canonical.path)?.operationId ?? '',
        operationTags: target.operation?.('GET', canonical.path)?.tags ?? [],
      };
      let decision = ports.policy().authorizeHttpRequest(principal, target.info, facts);
      // A socket cannot wait for a reviewer mid-handshake and be retried identically: refused, saying so.
      if (decision.effect === 'approve') decision = { ...decision, effect: 'deny', reason: `${decision.reason}; WebSocket upgrades cannot be held for approval` };
      const statementId = session.nextStatementId();
      session.requests++;
      await ports.audit.append({
        type: 'statement',
        sessionId: session.sessionId,
        statementId,
        text: `${method} ${canonical.path}${query ? `?${query}` : ''} (websocket)`,
        class: 'write',
        statementTypes: ['http_write', 'websocket'],
        tables: [canonical.path],
        functions: [],
        decision: { effect: decision.effect, policyIds: decision.policyIds, policyVersion: decision.policyVersion, reason: decision.reason },
        http: { method, path: canonical.path, query, headers: auditedHeaders(req.headers), version: o.version },
      }).catch((err: unknown) => {
        // No audit, no forward: as for any request (exchange.ts).
        ports.log.error({ err: (err as Error).message }, 'audit refused a WebSocket opening');
        throw new Refusal({ status: 503, code: 'audit_unavailable', title: 'The audit trail cannot record this request; nothing was forwarded', requestId, retryAfter: 5 });
      });
      if (decision.effect !== 'allow') throw new Refusal(policyProblem(decision, requestId));

      const credRef = 'secret' in target.config.credential ? target.config.credential.secret : undefined;
      const cred = injectCredential(target.config.credential, credRef ? await ports.secrets.get(credRef) : undefined);
      const base = new URL(target.config.baseUrl);
      const url = `${base.protocol === 'https:' ? 'wss' : 'ws'}://${base.host}${target.basePath}${canonical.encoded}${query ? `?${query}` : ''}`;
      const protocols = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter(Boolean);
      const tls = target.config.tls;
      const upstream = new WebSocket(url, protocols, {
        headers: { ...(cred.header && { [cred.header.name]: cred.header.value }), 'x-airlock-request-id': requestId },
        followRedirects: false,
        perMessageDeflate: false,
        maxPayload: MAX_MESSAGE_BYTES,
        handshakeTimeout: target.config.connectTimeoutMs,
        ...(tls?.caFile && { ca: readFileSync(tls.caFile) }),
        ...(tls?.clientCertFile && { cert: readFileSync(tls.clientCertFile), key: readFileSync(tls.clientKeyFile!) }),
      });
      // Messages the upstream sends before the agent's side is upgraded are kept, then relayed in order.
      const early: [RawData, boolean][] = [];
      const keepEarly = (data: RawData, isBinary: boolean) => early.push([data, isBinary]);
      upstream.on('message', keepEarly);
      const started = Date.now();
      await new Promise<void>((resolve, reject) => {
        upstream.once('open', () => resolve());
        upstream.once('unexpected-response', (_r, res) => reject(new Error(`the upstream answered ${res.statusCode} to the upgrade`)));
        upstream.once('error', reject);
      }).catch((err: Error) => {
        ports.audit.appendDeferred?.({ type: 'statement.outcome', sessionId: session.sessionId, statementId, status: 'error', bytes: 0, durationMs: Date.now() - started, error: { code: 'upstream_unreachable', message: scrubText(err.message, cred.revealing) } });
        throw new Refusal({ status: 502, code: 'upstream_unreachable', title: 'The upstream did not accept the WebSocket', detail: scrubText(err.message, cred.revealing), requestId });
      });

      if (o.gone()) {
        upstream.terminate();
        ports.audit.appendDeferred?.({ type: 'statement.outcome', sessionId: session.sessionId, statementId, status: 'error', bytes: 0, durationMs: Date.now() - started, error: { code: 'agent_gone', message: 'the agent left before the upstream accepted' } });
        return;
      }
      const sent = ports.responseCapture?.() ?? new ResponseCapture(0);
      const received = ports.responseCapture?.() ?? new ResponseCapture(0);
      o.accept(upstream.protocol, (agent) => {
        let bytes = 0;
        const masker = session.masker;
        const masked = (text: string): string => {
          if (!masker) return text;
          const m = createTextMasker(/^\s*[[{]/.test(text) ? 'json' : 'text', masker, x.listener.maxMaskTokenBytes);
          return m.push(text) + m.end();
        };
        agent.on('message', (data: RawData, isBinary: boolean) => {
          const buf = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]);
          // Recorded as a request body is: text masked (the upstream gets it as sent).
          sent.add(isBinary ? buf : masked(buf.toString('utf8')));
          session.bytesIn += buf.length;
          if (upstream.readyState === WebSocket.OPEN) upstream.send(buf, { binary: isBinary });
        });
        const fromUpstream = (data: RawData, isBinary: boolean) => {
          const buf = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]);
          let out: Buffer | string;
          if (isBinary) out = Buffer.from(scrubText(buf.toString('latin1'), cred.revealing), 'latin1');
          else out = scrubText(masked(buf.toString('utf8')), cred.revealing);
          bytes += Buffer.byteLength(out);
          received.add(out);
          if (agent.readyState === WebSocket.OPEN) agent.send(out, { binary: isBinary });
        };
        upstream.off('message', keepEarly);
        for (const [data, isBinary] of early.splice(0)) fromUpstream(data, isBinary);
        upstream.on('message', fromUpstream);
        // Backpressure: a slow agent pauses the upstream's socket, and the other way round.
        const pace = (from: WebSocket, to: WebSocket) => {
          const check = () => {
            const raw = (from as unknown as { _socket?: Duplex })._socket;
            if (!raw) return;
            if (to.bufferedAmount > 1024 * 1024) {
              raw.pause();
              const resume = setInterval(() => {
                if (to.bufferedAmount < 256 * 1024 || to.readyState !== WebSocket.OPEN) {
                  clearInterval(resume);
                  raw.resume();
                }
              }, 10);
            }
          };
          from.on('message', check);
        };
        pace(upstream, agent);
        pace(agent, upstream);
        let finished = false;
        const finish = (why: string, code?: number) => {
          if (finished) return;
          finished = true;
          session.bytesOut += bytes;
          const summary = masker?.takeSummary();
          const total = Object.values(summary?.columns ?? {}).reduce((a, b) => a + b, 0) + (summary?.texts ?? 0);
          ports.audit.appendDeferred?.({
            type: 'statement.outcome',
            sessionId: session.sessionId,
            statementId,
            status: code === 1000 || code === 1001 || code === 1005 ? 'ok' : 'error',
            bytes,
            durationMs: Date.now() - started,
            ...(code !== 1000 && code !== 1001 && code !== 1005 && { error: { code: `websocket_${code ?? 'closed'}`, message: why } }),
            ...(masker && { masking: { counts: { ...(summary?.detectors ?? {}) }, total } }),
            response: received.finish(),
            http: { status: 101, headers: {}, sent: sent.finish() },
          });
        };
        agent.on('close', (code, reason) => {
          if (upstream.readyState === WebSocket.OPEN) upstream.close(sendable(code), reason);
          else upstream.terminate();
          finish(`the agent closed (${code})`, code);
        });
        upstream.on('close', (code, reason) => {
          if (agent.readyState === WebSocket.OPEN) agent.close(sendable(code), reason);
          finish(`the upstream closed (${code})`, code);
        });
        agent.on('error', () => upstream.terminate());
        upstream.on('error', () => agent.terminate());
      });
    } catch (err) {
      if (err instanceof Refusal) return o.refuse(err.problem);
      ports.log.error({ err: (err as Error).message }, 'websocket upgrade failed');
      o.refuse({ status: 502, code: 'upstream_failed', title: 'The upgrade failed', requestId });
    }
  };

  /** HTTP/1.1 `Upgrade: websocket`, on the plain listener or on the TLS port. */
  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const requestId = randomUUID();
    socket.on('error', () => socket.destroy());
    if (String(req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      return refuseUpgrade(socket, { status: 400, code: 'upgrade_not_supported', title: 'Only WebSocket upgrades are relayed', requestId });
    }
    void open(
      {
        req,
        version: `HTTP/${req.httpVersion}`,
        gone: () => socket.destroyed || !socket.writable,
        refuse: (p) => refuseUpgrade(socket, p),
        accept: (protocol, opened) => {
          chosen.set(req, protocol);
          wss.handleUpgrade(req, socket, head, opened);
        },
      },
      requestId,
    );
  };

  /**
   * CONNECT. Over HTTP/2 with `:protocol websocket` (the listener advertises
   * SETTINGS_ENABLE_CONNECT_PROTOCOL): a WebSocket on this stream, answered 200 and then framed as
   * RFC 6455 with no key exchange (RFC 8441 §5). Any other CONNECT, on either version, is refused:
   * the gateway is no tunnel.
   */
  const connect = (req: IncomingMessage | Http2ServerRequest, second: Duplex | Http2ServerResponse): void => {
    const requestId = randomUUID();
    if (!('stream' in req)) return refuseUpgrade(second as Duplex, { status: 405, code: 'method_not_allowed', title: 'CONNECT is not forwarded', detail: 'the gateway is not a tunnel; address a target as /<target>/<path>', requestId });
    const res = second as Http2ServerResponse;
    const stream = req.stream;
    stream.on('error', () => stream.destroy());
    const protocol = req.headers[':protocol'];
    if (protocol === undefined) return sendProblem(res, { status: 405, code: 'method_not_allowed', title: 'CONNECT is not forwarded', detail: 'the gateway is not a tunnel; address a target as /<target>/<path>', requestId });
    if (protocol !== 'websocket') return sendProblem(res, { status: 400, code: 'upgrade_not_supported', title: 'Only WebSocket is relayed over extended CONNECT', requestId });
    if (req.headers['sec-websocket-version'] !== '13') return sendProblem(res, { status: 400, code: 'websocket_version', title: 'Only WebSocket version 13 is spoken', detail: 'send sec-websocket-version: 13', requestId });
    void open(
      {
        req,
        version: 'HTTP/2',
        gone: () => stream.destroyed || stream.closed,
        refuse: (p) => sendProblem(res, p),
        accept: (chosenProtocol, opened) => {
          stream.respond({ ':status': 200, ...(chosenProtocol && { 'sec-websocket-protocol': chosenProtocol }) });
          // `ws` makes a server-side socket from a null address, as its WebSocketServer does.
          const agent = new (WebSocket as unknown as new (address: null, protocols: undefined, options: object) => AttachableWebSocket)(null, undefined, wss.options);
          agent.setSocket(stream, Buffer.alloc(0), { allowSynchronousEvents: true, maxPayload: MAX_MESSAGE_BYTES, skipUTF8Validation: false });
          opened(agent);
        },
      },
      requestId,
    );
  };

  return { upgrade, connect, close: () => wss.close() };
}
