// One Kubernetes API request through the gateway:
//   target from the path (/<target>/api/...) → authenticate (the agent's bearer token, removed) →
//   request attributes as kube-apiserver resolves them (refused when ambiguous) → body (bounded,
//   JSON or YAML; protobuf refused) → action family (classify.ts) → decide (Cedar) → hold for
//   approval → audit → forward (credential and impersonation added, JSON asked for) → mask each
//   object of the answer (response-mask.ts), scrub the credential, record → agent.
import { createHash, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import type { Decision, Principal, StatementClass } from '../../../../core/model.js';
import { ResponseCapture } from '../../../../core/audit/response-capture.js';
import type { KubeRequestActionId, KubeRequestFacts } from '../../../../core/policy/request.js';
import type { EnginePorts } from '../../engine.js';
import { decisionAfterReview, holdKey, type ApprovalHolds } from '../http/approval-holds.js';
import { SessionRefused, type ConnectionSessions, type HttpAuditSession } from '../http/audit-session.js';
import { refusalProblem } from '../http/problem.js';
import { refusalDetail, type Refusal as ContractRefusal } from '../../../../core/refusal.js';
import { createTextMasker } from '../http/body-mask.js';
import type { HttpListenerConfig } from '../http/config.js';
import { scrubText, StreamScrubber } from '../http/credential.js';
import type { AgentRequest, AgentResponse } from '../http/exchange.js';
import { agentResponseHeaders, auditedHeaders, mediaType, upstreamRequestHeaders } from '../http/headers.js';
import { classifyRequest, readBody } from './classify.js';
import { resolveRequestAttributes, type KubeRequestAttributes } from './request-attributes.js';
import { JsonValueSplitter, KubeObjectMasker, kindOfResource } from './response-mask.js';
import { KubeRefusalError, policyRefusal, refusal, statusBody, statusHeaders, type KubeRefusal } from './status.js';
import type { KubeTarget } from './target.js';

export interface KubeExchangeContext {
  ports: EnginePorts;
  listener: HttpListenerConfig;
  targets: Map<string, KubeTarget>;
  holds: ApprovalHolds;
}

const TARGET_NAME = /^[A-Za-z0-9_.-]{1,63}$/;
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);

/** The statement class each family is audited as (the audit's common vocabulary). */
export const CLASS_OF_ACTION: Record<KubeRequestActionId, StatementClass> = {
  k8s_read: 'read',
  k8s_secret_read: 'read',
  k8s_write: 'write',
  k8s_delete: 'destructive',
  k8s_credential_mint: 'privileged',
  k8s_privileged_pod: 'privileged',
  k8s_proxy: 'opaque',
};

export function sendStatus(res: AgentResponse, r: KubeRefusal): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = statusBody(r);
  res.writeHead(r.code, statusHeaders(r, body));
  res.end(body);
}

function bearerToken(headers: IncomingHttpHeaders): string | undefined {
  const v = headers.authorization;
  const m = typeof v === 'string' ? /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)[ ]*$/i.exec(v) : undefined;
  return m?.[1];
}

export interface AdmittedKube {
  target: KubeTarget;
  principal: Principal;
  session: HttpAuditSession;
  /** The request target below /<target>, as the agent sent it. */
  rawUrl: string;
}

/** Target, token, audit session with its connect decision: what every request and upgrade goes through first. */
export async function admitKube(x: KubeExchangeContext, conn: ConnectionSessions, method: string, url: string, headers: IncomingHttpHeaders, client: { address: string; port: number }, requestId: string): Promise<AdmittedKube> {
  const { ports } = x;
  if (!url.startsWith('/')) throw refusal(400, 'bad_request_target', 'airlock: only origin-form request targets are accepted', { requestId });
  const end = url.slice(1).search(/[/?]/);
  const name = end < 0 ? url.slice(1) : url.slice(1, end + 1);
  let rawUrl = end < 0 ? '/' : url.slice(end + 1);
  if (rawUrl.startsWith('?')) rawUrl = `/${rawUrl}`;
  if (!METHODS.has(method)) throw refusal(405, 'method_not_allowed', `airlock: ${method} is not a Kubernetes API method`, { requestId });

  const token = bearerToken(headers);
  if (!token) throw refusal(401, 'token_missing', 'airlock: an access token is required (use the kubeconfig from `airlock kubeconfig`)', { requestId });
  const target = TARGET_NAME.test(name) ? x.targets.get(name) : undefined;
  let principal: Principal;
  try {
    principal = await conn.principalFor(token, (t) => ports.verifier.verify(t));
  } catch (err) {
    const reason = (err as Error).message;
    await ports.audit.append({ type: 'auth.refused', sessionId: requestId, code: (err as { code?: string }).code ?? 'token_invalid', reason, target: target?.info.name, client }).catch(() => undefined);
    throw refusal(401, 'token_invalid', `airlock: the access token was refused: ${reason}`, { requestId });
  }
  // Only after authentication: an anonymous caller cannot learn which targets exist.
  if (!target) throw refusal(404, 'unknown_target', 'airlock: no such Kubernetes target (the kubeconfig server is https://<gateway>/<target>)', { requestId });

  const unavailable = () => refusal(503, 'audit_unavailable', 'airlock: the audit trail cannot accept events; nothing was forwarded', { requestId, retryAfterSeconds: 5 });
  if (!ports.audit.health().ok) throw unavailable();
  const session = await conn.get(target, principal).catch((err: unknown) => {
    if (err instanceof SessionRefused) throw contractRefusal(err.refusal, requestId);
    ports.log.error({ err: (err as Error).message }, 'audit refused a Kubernetes session start');
    throw unavailable();
  });
  if (session.connect.effect !== 'allow') throw refusal(403, 'connect_denied', `airlock: target "${target.info.name}" is not open to you: ${session.connect.reason}`, { requestId, policyIds: session.connect.policyIds });
  // Ended by the gateway (its task ended, the kill switch): later requests on the connection are refused.
  if (session.refusal) throw contractRefusal(session.refusal, requestId);
  return { target, principal, session, rawUrl };
}

/** A refusal of the one contract (issue 32: tasks, budgets, the kill switch) as a Status. */
function contractRefusal(r: ContractRefusal, requestId: string): KubeRefusalError {
  return refusal(refusalProblem(r, requestId).status, r.code, `airlock: ${r.message} (${refusalDetail(r)})`, { requestId, ...(r.next?.retryAfterSeconds !== undefined && { retryAfterSeconds: r.next.retryAfterSeconds }) });
}

/** Agents act as themselves: a request that asks to act as someone else is refused. */
export function impersonationAsked(headers: IncomingHttpHeaders): boolean {
  return Object.keys(headers).some((h) => h.startsWith('impersonate-'));
}

/** The object a request is about, for the audit (`statement.text`, `tables`). */
export function describe(a: KubeRequestAttributes): string {
  if (!a.isResourceRequest) return a.path;
  const gr = a.apiGroup ? `${a.resource}.${a.apiGroup}` : a.resource;
  return `${gr}${a.subresource ? `/${a.subresource}` : ''}${a.name ? ` ${a.name}` : ''}${a.namespace ? ` -n ${a.namespace}` : ''}`;
}

async function readRequestBody(req: AgentRequest, limit: number, requestId: string): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  const tooLarge = () => refusal(413, 'body_too_large', `airlock: request body larger than ${limit} bytes`, { requestId });
  if (declared > limit) throw tooLarge();
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge();
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

/** Accept with JSON only: the gateway inspects JSON (Table conversion and discovery are JSON too) and text (logs). */
export function jsonAccept(accept: string | string[] | undefined): string {
  const ranges = (Array.isArray(accept) ? accept.join(',') : (accept ?? '')).split(',').map((s) => s.trim()).filter(Boolean);
  const kept = ranges.filter((r) => {
    const type = r.split(';')[0]!.trim().toLowerCase();
    return type === 'application/json' || type === '*/*' || type.startsWith('text/');
  });
  return kept.length > 0 ? kept.join(', ') : 'application/json, */*';
}

export async function handleKubeExchange(x: KubeExchangeContext, conn: ConnectionSessions, req: AgentRequest, res: AgentResponse): Promise<void> {
  const requestId = randomUUID();
  const { ports } = x;
  const log = ports.log.child({ requestId });
  const method = req.method ?? '';
  try {
    const { target, principal, session, rawUrl } = await admitKube(x, conn, method, req.url ?? '', req.headers, { address: req.socket?.remoteAddress ?? 'unknown', port: req.socket?.remotePort ?? 0 }, requestId);
    const s = session;
    const statementId = s.nextStatementId();
    s.requests++;
    const refusedStatement = async (what: string, reason: string) => {
      await ports.audit
        .append({
          type: 'statement',
          sessionId: s.sessionId,
          statementId,
          text: `${method} ${what}`,
          class: 'opaque',
          statementTypes: ['k8s_refused'],
          tables: [],
          functions: [],
          decision: { effect: 'deny', policyIds: [], policyVersion: ports.policy().version, reason },
        })
        .catch(() => undefined);
    };

    const resolved = resolveRequestAttributes(method, rawUrl);
    if (!resolved.ok) {
      await refusedStatement(rawUrl.slice(0, 512), resolved.message);
      throw refusal(400, resolved.code, `airlock: the request has no single reading: ${resolved.message}`, { requestId });
    }
    const a = resolved.attributes;
    if (impersonationAsked(req.headers)) {
      await refusedStatement(a.path, 'the agent asked to impersonate');
      throw refusal(403, 'impersonation_refused', 'airlock: agents may not impersonate (Impersonate-* headers are refused)', { requestId });
    }
    if (a.resource === 'pods' && ['exec', 'attach', 'portforward'].includes(a.subresource)) {
      await refusedStatement(a.path, 'streaming subresources need a WebSocket upgrade');
      throw refusal(400, 'upgrade_required', `airlock: pods/${a.subresource} is served over a WebSocket upgrade only`, { requestId });
    }

    const body = await readRequestBody(req, x.listener.maxRequestBodyBytes, requestId);
    s.bytesIn += body.length;
    // requestTimeoutMs bounds receiving the request; a watch or a followed log may then stay quiet
    // for as long as the API server keeps it open.
    if (streams(a)) req.setTimeout?.(0, () => undefined);
    const contentType = mediaType(req.headers['content-type']);
    let parsed: unknown;
    try {
      parsed = readBody(contentType, body, requestId);
    } catch (err) {
      if (!(err instanceof KubeRefusalError)) throw err;
      // A body the gateway cannot read is refused; but when policy refuses the request whatever its
      // body says (minting a token, say), the agent is told that, the more useful answer.
      const blind = classifyRequest(a, undefined);
      const d = blind.action !== 'k8s_write' ? ports.policy().authorizeKubernetesRequest(principal, target.info, blind.action, { verb: a.verb, apiGroup: a.apiGroup, apiVersion: a.apiVersion, resource: a.resource, subresource: a.subresource, namespace: a.namespace, name: a.name, path: a.path, dryRun: false, podRisks: [] }) : undefined;
      await refusedStatement(a.path, d?.effect === 'deny' ? d.reason : err.message);
      if (d?.effect === 'deny') throw policyRefusal(d, requestId, `${a.verb} ${describe(a)}`);
      throw err;
    }
    const { action, podRisks } = classifyRequest(a, parsed, contentType);
    const facts: KubeRequestFacts = {
      verb: a.verb,
      apiGroup: a.apiGroup,
      apiVersion: a.apiVersion,
      resource: a.resource,
      subresource: a.subresource,
      namespace: a.namespace,
      name: a.name,
      path: a.path,
      dryRun: a.query.some(([k, v]) => k === 'dryRun' && v === 'All'),
      podRisks,
    };
    let decision: Decision = ports.policy().authorizeKubernetesRequest(principal, target.info, action, facts);
    const what = `${a.verb} ${describe(a)}`;
    const requestLine = `${method} ${a.path}${a.encodedQuery ? `?${a.encodedQuery}` : ''}`;
    const bodySha256 = createHash('sha256').update(body).digest('hex');
    const auditRequest = (d: Decision, approvalId?: string) =>
      ports.audit.append({
        type: 'statement',
        sessionId: s.sessionId,
        statementId,
        text: `${what} (${requestLine})`,
        class: CLASS_OF_ACTION[action],
        statementTypes: [action, `k8s_verb:${a.verb}`, ...podRisks.map((r) => `k8s_pod_risk:${r}`)],
        tables: a.isResourceRequest ? [`${a.apiGroup || 'core'}/${a.resource}${a.subresource ? `/${a.subresource}` : ''}:${a.namespace}/${a.name}`] : [a.path],
        functions: [],
        decision: { effect: d.effect, policyIds: d.policyIds, policyVersion: d.policyVersion, reason: d.reason },
        ...(approvalId !== undefined && { approvalId }),
        http: {
          method,
          path: a.path,
          query: a.encodedQuery,
          headers: auditedHeaders(req.headers),
          // Request bodies are not captured here: a Secret being written carries its values.
          version: req.httpVersion === '2.0' ? 'HTTP/2' : `HTTP/${req.httpVersion}`,
        },
      });

    let approvalId: string | undefined;
    if (decision.effect === 'approve') {
      const abort = new AbortController();
      res.once('close', () => abort.abort());
      const waited = await x.holds.wait(
        holdKey({ principal: principal.id, target: target.info.name, method, path: a.path, query: a.encodedQuery, bodySha256 }),
        requestId,
        () => ({
          requester: principal,
          target: target.info,
          sessionId: s.sessionId,
          statementId,
          statementText: `${what}${body.length ? ` (body ${body.length} bytes, sha256 ${bodySha256})` : ''}`,
          statementClass: CLASS_OF_ACTION[action],
          policyIds: decision.policyIds,
          shape: `k8s:${action}:${requestLine}`,
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
        // client-go retries a 503 with Retry-After by itself; the identical retry picks the decision up.
        throw refusal(503, 'approval_required', `airlock: ${what} is waiting for a reviewer (approval ${waited.approvalId}${waited.reviewUrl ? `, ${waited.reviewUrl}` : ''}); retry the identical request`, {
          requestId: waited.requestId,
          approvalId: waited.approvalId,
          policyIds: decision.policyIds,
          retryAfterSeconds: waited.retryAfterSeconds,
        });
      } else {
        approvalId = waited.approvalId;
        decision = decisionAfterReview(decision, waited.outcome);
      }
    }
    if (decision.effect !== 'allow') {
      await auditRequest(decision, approvalId);
      const r = policyRefusal(decision, requestId, what);
      // A reviewer's denial is its own code in the one refusal contract (core/refusal.ts).
      if (approvalId) Object.assign(r.refusal, { approvalId, airlockCode: 'approval_denied' });
      throw r;
    }
    if (s.refusal) throw contractRefusal(s.refusal, requestId);
    // The task's and the agent's request rates (issue 32), as for the HTTP engine.
    const spent = ports.sessions?.charge(principal, 'requests') ?? (await ports.sessions?.chargeFleetRate(s.sessionId, principal));
    if (spent) {
      await auditRequest({ effect: 'deny', policyIds: [], policyVersion: decision.policyVersion, reason: `budget_exceeded: ${spent.message}` }, approvalId).catch(() => undefined);
      throw contractRefusal(spent, requestId);
    }
    try {
      await auditRequest(decision, approvalId);
    } catch (err) {
      log.error({ err: (err as Error).message }, 'audit refused a Kubernetes request');
      throw refusal(503, 'audit_unavailable', 'airlock: the audit trail cannot record this request; nothing was forwarded', { requestId, retryAfterSeconds: 5 });
    }
    await forwardKube(x, s, target, principal, a, { method, body, requestId, statementId, headers: req.headers }, res);
  } catch (err) {
    if (err instanceof KubeRefusalError) {
      log.debug({ code: err.refusal.airlockCode }, 'kubernetes request refused');
      sendStatus(res, { requestId, ...err.refusal });
      return;
    }
    log.error({ err: (err as Error).message }, 'kubernetes exchange failed');
    sendStatus(res, { code: 502, reason: 'InternalError', message: 'airlock: the upstream request failed', airlockCode: 'upstream_failed', requestId });
  }
}

interface KubeOutgoing {
  method: string;
  body: Buffer;
  requestId: string;
  statementId: string;
  headers: IncomingHttpHeaders;
}

/** Long-lived answers: no idle limit between chunks (the API server ends a watch by its own timeout). */
function streams(a: KubeRequestAttributes): boolean {
  return a.verb === 'watch' || (a.subresource === 'log' && a.query.some(([k, v]) => k === 'follow' && v !== 'false' && v !== '0'));
}

async function forwardKube(x: KubeExchangeContext, s: HttpAuditSession, target: KubeTarget, principal: Principal, a: KubeRequestAttributes, o: KubeOutgoing, res: AgentResponse): Promise<void> {
  const { ports } = x;
  const started = Date.now();
  const cred = await target.credential(principal);
  const headers: Record<string, string | string[]> = { ...upstreamRequestHeaders(o.headers), ...cred.headers };
  // Identity headers are the gateway's to set: Impersonate-* (refused earlier anyway) and the
  // front-proxy X-Remote-* headers an API server trusts from a client certificate it knows.
  for (const h of Object.keys(headers)) if ((h.startsWith('impersonate-') && !(h in cred.headers)) || h.startsWith('x-remote-')) delete headers[h];
  headers.accept = jsonAccept(o.headers.accept);
  // The gateway reads what it forwards: no compression to undo.
  headers['accept-encoding'] = 'identity';
  headers['x-airlock-request-id'] = o.requestId;
  const abort = new AbortController();
  const onClose = () => abort.abort();
  res.once('close', onClose);
  const pool = await target.pool();
  let upstream;
  try {
    upstream = await pool.request({
      method: o.method as 'GET',
      path: `${target.basePath}${a.encodedPath}${a.encodedQuery ? `?${a.encodedQuery}` : ''}`,
      headers,
      body: o.body.length > 0 ? o.body : undefined,
      signal: abort.signal,
      ...(streams(a) && { bodyTimeout: 0 }),
    });
  } catch (err) {
    const message = scrubText((err as Error).message, cred.revealing);
    ports.audit.appendDeferred?.({ type: 'statement.outcome', sessionId: s.sessionId, statementId: o.statementId, status: 'error', bytes: 0, durationMs: Date.now() - started, error: { code: 'upstream_unreachable', message } });
    sendStatus(res, { code: 503, reason: 'ServiceUnavailable', message: `airlock: the API server did not answer: ${message}`, airlockCode: 'upstream_unreachable', requestId: o.requestId });
    return;
  }
  const status = upstream.statusCode;
  const type = mediaType(upstream.headers['content-type']);
  const encoding = String(upstream.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
  const masker = s.masker;
  const scrubber = new StreamScrubber(cred.revealing);
  const respHeaders = agentResponseHeaders(upstream.headers as Record<string, string | string[]>, (v) => scrubText(v, cred.revealing));
  const capture = ports.responseCapture?.() ?? new ResponseCapture(0);
  let bytes = 0;
  const finish = (state: 'ok' | 'error' | 'cancelled', error?: { code: string; message: string }) => {
    s.bytesOut += bytes;
    const summary = masker?.takeSummary();
    const counts: Record<string, number> = { ...(summary?.detectors ?? {}) };
    for (const [k, v] of Object.entries(summary?.columns ?? {})) counts[`key:${k}`] = v;
    if (scrubber.hits) counts.credential = scrubber.hits;
    const total = Object.values(summary?.columns ?? {}).reduce((n, v) => n + v, 0) + (summary?.texts ?? 0) + scrubber.hits;
    ports.audit.appendDeferred?.({
      type: 'statement.outcome',
      sessionId: s.sessionId,
      statementId: o.statementId,
      status: state,
      bytes,
      durationMs: Date.now() - started,
      ...(error && { error }),
      ...(masker && { masking: { counts, total } }),
      response: capture.finish(),
      http: { status, headers: Object.fromEntries(Object.entries(respHeaders).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)])) },
    });
  };
  const refuseAnswer = async (code: string, message: string) => {
    upstream.body.destroy();
    finish('error', { code, message });
    sendStatus(res, { code: 502, reason: 'InternalError', message: `airlock: ${message}`, airlockCode: code, requestId: o.requestId });
  };

  if (o.method === 'HEAD' || status === 204 || status === 304) {
    upstream.body.resume();
    res.writeHead(status, respHeaders);
    res.end();
    finish('ok');
    return;
  }
  if (encoding !== 'identity' && encoding !== '') return refuseAnswer('uninspectable_response', `the API server answered with content-encoding "${encoding}"`);
  const json = type === 'application/json' || type.endsWith('+json');
  const text = type.startsWith('text/');
  if (!json && !text && (type !== '' || upstream.headers['content-length'] !== '0')) {
    return refuseAnswer('uninspectable_response', `the API server answered "${type || '(no type)'}", which the gateway cannot inspect`);
  }

  res.writeHead(status, respHeaders);
  const send = async (out: Buffer) => {
    const clean = scrubber.push(out);
    if (clean.length === 0) return;
    bytes += clean.length;
    capture.add(clean.toString('utf8'));
    if (!(res as ServerResponse).write(clean)) await once(res as NodeJS.EventEmitter, 'drain');
  };
  const dec = new StringDecoder('utf8');
  try {
    if (json) {
      const splitter = new JsonValueSplitter(target.config.maxObjectBytes);
      const objects = masker ? new KubeObjectMasker(masker, kindOfResource(a.resource, a.apiGroup)) : undefined;
      const emit = async (values: string[]) => {
        for (const v of values) {
          const out = objects ? JSON.stringify(objects.mask(JSON.parse(v))) : v;
          await send(Buffer.from(`${out}\n`, 'utf8'));
        }
      };
      for await (const chunk of upstream.body as AsyncIterable<Buffer>) {
        if (res.destroyed) break;
        await emit(splitter.push(dec.write(chunk)));
      }
      await emit(splitter.push(dec.end()));
      splitter.end();
    } else {
      const lines = masker ? createTextMasker('text', masker, x.listener.maxMaskTokenBytes) : undefined;
      for await (const chunk of upstream.body as AsyncIterable<Buffer>) {
        if (res.destroyed) break;
        await send(lines ? Buffer.from(lines.push(dec.write(chunk)), 'utf8') : chunk);
      }
      if (lines) await send(Buffer.from(lines.push(dec.end()) + lines.end(), 'utf8'));
    }
    const rest = scrubber.end();
    if (rest.length) {
      bytes += rest.length;
      capture.add(rest.toString('utf8'));
      (res as ServerResponse).write(rest);
    }
    res.end();
    res.off('close', onClose);
    finish(status >= 500 ? 'error' : 'ok');
  } catch (err) {
    const cancelled = res.destroyed || abort.signal.aborted;
    finish(cancelled ? 'cancelled' : 'error', { code: cancelled ? 'agent_gone' : 'upstream_body_failed', message: scrubText((err as Error).message, cred.revealing) });
    res.destroy();
  }
}
