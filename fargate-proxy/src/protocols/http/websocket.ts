// WebSocket upgrades: admitted like any request (target, token, canonical path), decided by policy
// as `http_write` with `context.upgrade == "websocket"` (a socket can send as well as read), audited,
// then relayed message by message (`ws` on both legs) with the upstream credential injected, the
// upstream's text messages masked and scrubbed of the credential, and what went each way recorded
// (capped, hashed) in the request's outcome.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer, type RawData } from 'ws';
import { ResponseCapture } from '../../../../core/audit/response-capture.js';
import type { HttpRequestFacts } from '../../../../core/policy/request.js';
import type { ConnectionSessions } from './audit-session.js';
import { createTextMasker } from './body-mask.js';
import { injectCredential, scrubText } from './credential.js';
import { admit, Refusal, type ExchangeContext } from './exchange.js';
import { auditedHeaders } from './headers.js';
import { policyProblem, problemBody, problemHeaders, type Problem } from './problem.js';

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

export function createUpgradeHandler(x: ExchangeContext, connectionOf: (req: IncomingMessage) => ConnectionSessions) {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: MAX_MESSAGE_BYTES });
  const handler = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const requestId = randomUUID();
    const { ports } = x;
    socket.on('error', () => socket.destroy());
    try {
      if (String(req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
        throw new Refusal({ status: 400, code: 'upgrade_not_supported', title: 'Only WebSocket upgrades are relayed', requestId });
      }
      const { target, principal, canonical, query, method, session } = await admit(x, connectionOf(req), req, requestId);
      const facts: HttpRequestFacts = {
        action: 'write',
        method,
        path: canonical.path,
        query,
        queryParams: [...new URLSearchParams(query).keys()],
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
        http: { method, path: canonical.path, query, headers: auditedHeaders(req.headers), version: `HTTP/${req.httpVersion}` },
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

      const sent = ports.responseCapture?.() ?? new ResponseCapture(0);
      const received = ports.responseCapture?.() ?? new ResponseCapture(0);
      wss.handleUpgrade(req, socket, head, (agent) => {
        let bytes = 0;
        const masker = session.masker;
        agent.on('message', (data: RawData, isBinary: boolean) => {
          const buf = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]);
          sent.add(isBinary ? buf : buf.toString('utf8'));
          session.bytesIn += buf.length;
          if (upstream.readyState === WebSocket.OPEN) upstream.send(buf, { binary: isBinary });
        });
        const fromUpstream = (data: RawData, isBinary: boolean) => {
          const buf = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]);
          let out: Buffer | string;
          if (isBinary) out = Buffer.from(scrubText(buf.toString('latin1'), cred.revealing), 'latin1');
          else {
            let text = buf.toString('utf8');
            if (masker) {
              const m = createTextMasker(/^\s*[[{]/.test(text) ? 'json' : 'text', masker, x.listener.maxMaskTokenBytes);
              text = m.push(text) + m.end();
            }
            out = scrubText(text, cred.revealing);
          }
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
      if (err instanceof Refusal) return refuseUpgrade(socket, err.problem);
      ports.log.error({ err: (err as Error).message }, 'websocket upgrade failed');
      refuseUpgrade(socket, { status: 502, code: 'upstream_failed', title: 'The upgrade failed', requestId });
    }
  };
  return { handler: (req: IncomingMessage, socket: Duplex, head: Buffer) => void handler(req, socket, head), close: () => wss.close() };
}
