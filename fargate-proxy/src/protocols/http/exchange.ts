// One HTTP request's path through the gateway:
//   address (target from the path) → authenticate (bearer token, removed) → canonical path →
//   read the body (bounded) → classify (method, route rules) → decide (Cedar) → hold for approval →
//   audit the request → forward (forward.ts: undici, credential injected; decode, mask, scrub the
//   credential, record → agent).
import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Decision, Principal, StatementClass } from '../../../../core/model.js';
import type { CapturedResponse } from '../../../../core/audit/events.js';
import type { HttpRequestFacts } from '../../../../core/policy/request.js';
import type { Masker } from '../../../../core/mask/index.js';
import type { EnginePorts } from '../../engine.js';
import { addressOf, HOST_LABEL } from './addressing.js';
import { decisionAfterReview, holdKey, type ApprovalHolds } from './approval-holds.js';
import { SessionRefused, type ConnectionSessions, type HttpAuditSession } from './audit-session.js';
import { bodyKindOf, createTextMasker } from './body-mask.js';
import { canonicalPath } from './canonical-path.js';
import { FORWARDED_METHODS } from './classify.js';
import type { HttpListenerConfig } from './config.js';
import { auditedHeaders, mediaType } from './headers.js';
import { forward } from './forward.js';
import { policyProblem, problemBody, problemHeaders, refusalProblem, type Problem } from './problem.js';
import { refusalHint, type Refusal as ContractRefusal } from '../../../../core/refusal.js';
import { scopeToAsk } from '../../../../core/task/scope.js';
import type { HttpTarget } from './target.js';

export type AgentRequest = IncomingMessage | Http2ServerRequest;
export type AgentResponse = ServerResponse | Http2ServerResponse;

export interface ExchangeContext {
  ports: EnginePorts;
  listener: HttpListenerConfig;
  targets: Map<string, HttpTarget>;
  holds: ApprovalHolds;
}

const TARGET_NAME = /^[A-Za-z0-9_.-]{1,63}$/;
const CLASS_OF: Record<HttpRequestFacts['action'], StatementClass> = { read: 'read', write: 'write', delete: 'destructive', opaque: 'opaque' };

export class Refusal extends Error {
  constructor(readonly problem: Problem) {
    super(problem.title);
  }
}

export function sendProblem(res: AgentResponse, p: Problem, extra: Record<string, string> = {}): void {
  if (res.headersSent) {
    // Already answered (a request the gateway cancelled with its reason) is left to finish.
    if (!res.writableEnded) res.destroy();
    return;
  }
  const body = problemBody(p);
  res.writeHead(p.status, { ...problemHeaders(p, body), ...extra });
  res.end(body);
}

function bearerToken(req: AgentRequest): string | undefined {
  for (const name of ['authorization', 'proxy-authorization'] as const) {
    const v = req.headers[name];
    const m = typeof v === 'string' ? /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)[ ]*$/i.exec(v) : undefined;
    if (m) return m[1];
  }
  return undefined;
}

/** Reads the whole request body, refusing past the limit (its size and hash are part of the decision). */
async function readBody(req: AgentRequest, limit: number, requestId: string): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit) throw new Refusal({ status: 413, code: 'body_too_large', title: 'Request body too large', detail: `at most ${limit} bytes`, requestId });
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new Refusal({ status: 413, code: 'body_too_large', title: 'Request body too large', detail: `at most ${limit} bytes`, requestId });
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

function capture(ports: EnginePorts, pieces: (Buffer | string)[]): CapturedResponse | undefined {
  const c = ports.responseCapture?.();
  if (!c) return undefined;
  for (const p of pieces) c.add(p);
  return c.finish();
}

export interface Admitted {
  target: HttpTarget;
  principal: Principal;
  canonical: { path: string; encoded: string };
  query: string;
  method: string;
  session: HttpAuditSession;
}

/**
 * Everything before the decision that every request (and a WebSocket upgrade) goes through: the
 * target from the path, the token, the canonical path, the audit session with its connect decision.
 * `method`: what the request means when its wire method says otherwise (an HTTP/2 WebSocket's
 * extended CONNECT is the GET of an HTTP/1.1 upgrade, RFC 8441 §5).
 */
export async function admit(x: ExchangeContext, conn: ConnectionSessions, req: AgentRequest, requestId: string, method: string = req.method ?? ''): Promise<Admitted> {
  const { ports } = x;
  // --- address: /<target>/<path> or <target>.<domain>/<path> (addressing.ts), origin-form only
  const addressed = addressOf(req, x.listener.domain, requestId);
  if ('problem' in addressed) throw new Refusal(addressed.problem);
  const { name, below, query } = addressed;
  // Host labels are lower case; only targets whose names are DNS labels can be reached by host.
  const target = (addressed.by === 'host' ? HOST_LABEL.test(name) : TARGET_NAME.test(name)) ? x.targets.get(name) : undefined;

  if (!FORWARDED_METHODS.has(method)) {
    throw new Refusal({ status: 405, code: 'method_not_allowed', title: `${method} is not forwarded`, detail: 'TRACE, CONNECT and methods outside GET HEAD OPTIONS POST PUT PATCH DELETE are refused', requestId });
  }

  // --- authenticate: the agent's token never goes further than this
  const token = bearerToken(req);
  if (!token) throw new Refusal({ status: 401, code: 'token_missing', title: 'An access token is required', detail: 'send Authorization: Bearer <token>', requestId });
  let principal: Principal;
  try {
    principal = await conn.principalFor(token, (t) => ports.verifier.verify(t));
  } catch (err) {
    const reason = (err as Error).message;
    await ports.audit
      .append({ type: 'auth.refused', sessionId: `${requestId}`, code: (err as { code?: string }).code ?? 'token_invalid', reason, target: target?.info.name, client: { address: req.socket?.remoteAddress ?? 'unknown', port: req.socket?.remotePort ?? 0 } })
      .catch(() => undefined);
    // A task token whose task has ended: the contract's code (issue 32).
    if (reason.includes('code=task_expired')) throw new Refusal({ status: 401, code: 'task_expired', title: 'The task of this token has ended', detail: reason, requestId });
    throw new Refusal({ status: 401, code: 'token_invalid', title: 'The access token was refused', detail: reason, requestId });
  }

  // Only after authentication: an anonymous caller cannot learn which targets exist.
  if (!target) throw new Refusal({ status: 404, code: 'unknown_target', title: 'No such target', detail: addressed.by === 'host' ? `no target is reachable as ${addressed.host}` : 'address a target as /<target>/<path>', requestId });

  // --- the one reading of the path
  const canonical = canonicalPath(below, target.rules);
  if (!canonical.ok) throw new Refusal({ status: 400, code: canonical.code, title: 'The path has no single reading', detail: canonical.detail, requestId });
  if (/[^\x21-\x7e]/.test(query) || /%(?![0-9A-Fa-f]{2})/.test(query)) throw new Refusal({ status: 400, code: 'query_bad_encoding', title: 'The query string is not validly encoded', requestId });

  // No audit path, no forward: refuse before anything else is asked of the audit trail.
  const unavailable = () => new Refusal({ status: 503, code: 'audit_unavailable', title: 'The audit trail cannot accept events; nothing was forwarded', requestId, retryAfter: 5 });
  if (!ports.audit.health().ok) throw unavailable();
  const session = await conn.get(target, principal).catch((err: unknown) => {
    // Issue 32: a task token for another target, a spent session budget.
    if (err instanceof SessionRefused) throw new Refusal(refusalProblem(err.refusal, requestId));
    ports.log.error({ err: (err as Error).message }, 'audit refused an HTTP session start');
    throw unavailable();
  });
  if (session.connect.effect !== 'allow') throw new Refusal({ ...policyProblem(session.connect, requestId), code: 'connect_denied', title: 'Refused by policy: this target is not open to you' });
  // Ended by the gateway (its task ended, the kill switch): every later request on this connection is refused.
  if (session.refusal) throw new Refusal(refusalProblem(session.refusal, requestId));
  return { target, principal, canonical, query, method, session };

}

export async function handleExchange(x: ExchangeContext, conn: ConnectionSessions, req: AgentRequest, res: AgentResponse): Promise<void> {
  const requestId = randomUUID();
  const { ports } = x;
  const log = ports.log.child({ requestId });
  let session: HttpAuditSession | undefined;
  try {
    const admitted = await admit(x, conn, req, requestId);
    const { target, principal, canonical, query, method } = admitted;
    session = admitted.session;
    // The gateway may end the session while this request is in flight: answer it with the reason, or cut it.
    const cancel = (r: ContractRefusal) => {
      if (!res.headersSent) sendProblem(res, refusalProblem(r, requestId));
      else res.destroy();
    };
    session.inflight.add(cancel);
    const s0 = session;
    res.once('close', () => s0.inflight.delete(cancel));
    const body = await readBody(req, x.listener.maxRequestBodyBytes, requestId);
    session.requests++;
    session.bytesIn += body.length;
    const operation = target.operation ? (target.operation(method, canonical.path) ?? null) : undefined;
    const classified = target.classify(method, canonical.path, operation === undefined ? undefined : (operation?.operationId ?? ''))!;
    const contentType = mediaType(req.headers['content-type']);
    const facts: HttpRequestFacts = {
      action: classified.action,
      method,
      path: canonical.path,
      query,
      queryParams: [...new URLSearchParams(query).keys()],
      headers: target.config.contextHeaders.flatMap((h) => {
        const v = req.headers[h];
        return v === undefined ? [] : [`${h}=${Array.isArray(v) ? v.join(', ') : v}`];
      }),
      contentType,
      bodyBytes: body.length,
      route: classified.route,
      operationId: operation?.operationId ?? '',
      operationTags: operation?.tags ?? [],
    };
    let decision: Decision = ports.policy().authorizeHttpRequest(principal, target.info, facts);
    const statementId = session.nextStatementId();
    const requestLine = `${method} ${canonical.path}${query ? `?${query}` : ''}`;
    const masker = session.masker;
    const maskedBody = body.length === 0 ? [] : [maskWhole(body, contentType, masker, x.listener.maxMaskTokenBytes)];
    const bodySha256 = createHash('sha256').update(body).digest('hex');
    const s = session;
    const auditRequest = (d: Decision, approvalId?: string) =>
      ports.audit.append({
        type: 'statement',
        sessionId: s.sessionId,
        statementId,
        text: requestLine,
        class: CLASS_OF[classified.action],
        statementTypes: [`http_${classified.action}`, method],
        tables: [canonical.path],
        functions: [],
        decision: { effect: d.effect, policyIds: d.policyIds, policyVersion: d.policyVersion, reason: d.reason },
        ...(approvalId !== undefined && { approvalId }),
        http: {
          method,
          path: canonical.path,
          query,
          headers: auditedHeaders(req.headers, target.config.credential.type === 'header' ? target.config.credential.header.toLowerCase() : undefined),
          ...(body.length > 0 && { body: capture(ports, maskedBody) }),
          ...(classified.route && { route: classified.route }),
          ...(operation?.operationId && { operationId: operation.operationId }),
          version: req.httpVersion === '2.0' ? 'HTTP/2' : `HTTP/${req.httpVersion}`,
        },
      });
    const outcomeError = (code: string, message: string) =>
      ports.audit.appendDeferred?.({ type: 'statement.outcome', sessionId: s.sessionId, statementId, status: 'error', bytes: 0, durationMs: 0, error: { code, message } });

    let approvalId: string | undefined;
    if (decision.effect === 'approve') {
      const abort = new AbortController();
      res.once('close', () => abort.abort());
      const waited = await x.holds.wait(
        holdKey({ principal: principal.id, target: target.info.name, method, path: canonical.path, query, bodySha256 }),
        requestId,
        () => ({
          requester: principal,
          target: target.info,
          sessionId: s.sessionId,
          statementId,
          statementText: `${requestLine}${body.length ? ` (body ${body.length} bytes, sha256 ${bodySha256})` : ''}`,
          statementClass: CLASS_OF[classified.action],
          policyIds: decision.policyIds,
          shape: `http:${requestLine}`,
        }),
        (e) => {
          if (!s.ended) void ports.audit.append({ type: 'approval', sessionId: s.sessionId, statementId, approvalId: e.approvalId, state: e.state as 'pending', reviewer: e.reviewer, reason: e.reason }).catch(() => undefined);
        },
        abort.signal,
      );
      if (waited.kind === 'unavailable') {
        decision = { ...decision, effect: 'deny', reason: waited.message };
      } else if (waited.kind === 'waiting') {
        await auditRequest({ ...decision, reason: 'held: waiting for a reviewer' }, waited.approvalId);
        outcomeError('approval_required', 'the agent was told to retry');
        throw new Refusal({
          status: 503,
          code: 'approval_required',
          title: 'Waiting for a reviewer',
          detail: 'retry the identical request (method, path, query and body) to pick up the decision; it runs once when approved',
          requestId: waited.requestId,
          approvalId: waited.approvalId,
          reviewUrl: waited.reviewUrl,
          policyIds: decision.policyIds,
          policyVersion: decision.policyVersion,
          retryAfter: waited.retryAfterSeconds,
        });
      } else {
        approvalId = waited.approvalId;
        decision = decisionAfterReview(decision, waited.outcome);
      }
    }
    if (decision.effect !== 'allow') {
      await auditRequest(decision, approvalId);
      const p = policyProblem(decision, requestId);
      if (approvalId) throw new Refusal({ ...p, code: 'approval_denied', approvalId });
      // A task can only lift a default deny: then the refusal names the task scope to ask for (issue 32).
      if (decision.policyIds.length === 0 && classified.action !== 'opaque') {
        const contract: ContractRefusal = { code: 'policy_denied', message: decision.reason, next: { taskScope: scopeToAsk(classified.action === 'read' ? 'read' : 'write', []), ...(principal.task ? { taskId: principal.task.id } : {}) } };
        throw new Refusal({ ...p, taskScope: contract.next!.taskScope, ...(principal.task ? { taskId: principal.task.id } : {}), hint: refusalHint(contract) });
      }
      throw new Refusal(principal.task ? { ...p, taskId: principal.task.id } : p);
    }

    // Ended while it waited (held for a reviewer): nothing more is forwarded for this session.
    if (s.refusal) throw new Refusal(refusalProblem(s.refusal, requestId));
    // The task's and the agent's request rates (issue 32): charged once policy allowed, before forwarding.
    const spent = ports.sessions?.charge(principal, 'requests') ?? (await ports.sessions?.chargeFleetRate(s.sessionId, principal));
    if (spent) {
      await auditRequest({ effect: 'deny', policyIds: [], policyVersion: decision.policyVersion, reason: `budget_exceeded: ${spent.message}` }, approvalId).catch(() => undefined);
      throw new Refusal(refusalProblem(spent, requestId));
    }

    // --- audit before forwarding: no audit, no forward
    try {
      await auditRequest(decision, approvalId);
    } catch (err) {
      log.error({ err: (err as Error).message }, 'audit refused an HTTP request');
      throw new Refusal({ status: 503, code: 'audit_unavailable', title: 'The audit trail cannot record this request; nothing was forwarded', requestId, retryAfter: 5 });
    }
    await forward(x, s, target, { method, path: canonical.encoded, query, body, requestId, statementId, headers: req.headers }, res);
  } catch (err) {
    if (err instanceof Refusal) {
      log.debug({ code: err.problem.code }, 'http request refused');
      sendProblem(res, err.problem, err.problem.status === 401 ? { 'www-authenticate': 'Bearer realm="airlock"' } : {});
      return;
    }
    log.error({ err: (err as Error).message }, 'http exchange failed');
    sendProblem(res, { status: 502, code: 'upstream_failed', title: 'The upstream request failed', requestId });
  }
}

/** A request body for the audit: masked text when the gateway can read it, else the bytes. */
function maskWhole(body: Buffer, contentType: string, masker: Masker | undefined, maxToken: number): Buffer | string {
  const kind = bodyKindOf(contentType);
  if (!kind) return body;
  if (!masker) return body.toString('utf8');
  const m = createTextMasker(kind, masker, maxToken);
  return m.push(body.toString('utf8')) + m.end();
}
