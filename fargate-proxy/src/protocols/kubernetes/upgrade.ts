// Upgrade requests (WebSocket, SPDY) on the Kubernetes listener. Only pods/exec, pods/attach and
// pods/portforward are upgraded, and those belong to the streaming handler (streaming/contract.ts):
// the engine admits the agent, resolves the attributes, and hands over a StreamingContext — the
// decision function (policy, then a reviewer when policy asks), the upstream and its credential,
// the audit session and the masker.
import { countApproval, countRefusal } from '../../../../core/task/budget.js';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { EnginePorts } from '../../engine.js';
import { holdKey } from '../http/approval-holds.js';
import type { ConnectionSessions, HttpAuditSession } from '../http/audit-session.js';
import { admitKube, impersonationAsked, type KubeExchangeContext } from './exchange.js';
import { resolveRequestAttributes } from './request-attributes.js';
import { KubeRefusalError, refusal, statusBody, type KubeRefusal } from './status.js';
import { isStreamingRequest, type StreamingContext, type StreamingDecisionRequest, type StreamingVerdict } from './streaming/contract.js';
import { handleStreamingUpgrade } from './streaming/index.js';
import type { KubeTarget } from './target.js';
import type { Principal } from '../../../../core/model.js';
import { join } from 'node:path';

const REASON_PHRASE: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 502: 'Bad Gateway', 503: 'Service Unavailable' };

export function refuseOnSocket(socket: Duplex, r: KubeRefusal): void {
  if (!socket.writable) return void socket.destroy();
  const body = statusBody(r);
  socket.end(`HTTP/1.1 ${r.code} ${REASON_PHRASE[r.code] ?? 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n${body}`);
}

export async function handleKubeUpgrade(x: KubeExchangeContext, conn: ConnectionSessions, req: IncomingMessage, socket: Duplex, head: Buffer, requestId: string): Promise<void> {
  socket.on('error', () => socket.destroy());
  try {
    const { target, principal, session, rawUrl } = await admitKube(x, conn, req.method ?? '', req.url ?? '', req.headers, { address: req.socket.remoteAddress ?? 'unknown', port: req.socket.remotePort ?? 0 }, requestId);
    const resolved = resolveRequestAttributes(req.method ?? '', rawUrl);
    if (!resolved.ok) throw refusal(400, resolved.code, `airlock: the request has no single reading: ${resolved.message}`, { requestId });
    const a = resolved.attributes;
    if (impersonationAsked(req.headers)) throw refusal(403, 'impersonation_refused', 'airlock: agents may not impersonate (Impersonate-* headers are refused)', { requestId });
    if (!isStreamingRequest(a)) throw refusal(400, 'upgrade_not_supported', `airlock: only pods/exec, pods/attach and pods/portforward are upgraded (not ${a.resource}${a.subresource ? `/${a.subresource}` : ''})`, { requestId });
    const cred = await target.credential(principal);
    const ctx: StreamingContext = {
      requestId,
      principal,
      target: target.info,
      attributes: { resource: a.resource, subresource: a.subresource, namespace: a.namespace, name: a.name },
      decide: async (r) => {
        const v = await decideStream(x, target, principal, session, r);
        if (v.effect !== 'allow') countRefusal(principal);
        return v;
      },
      upstream: {
        baseUrl: `${target.origin}${target.basePath}`,
        headers: Object.fromEntries(Object.entries(cred.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : v])),
        revealing: cred.revealing,
        tls: { ...(target.ca && { ca: target.ca }), ...(cred.clientCert && { cert: cred.clientCert.cert, key: cred.clientCert.key }), ...(target.config.serverName && { servername: target.config.serverName }) },
        connectTimeoutMs: target.config.connectTimeoutMs,
      },
      audit: {
        sessionId: session.sessionId,
        sink: x.ports.audit,
        nextStatementId: () => session.nextStatementId(),
        onBytes: (dir, n) => {
          if (dir === 'in') session.bytesIn += n;
          else session.bytesOut += n;
        },
        onStatement: () => void session.requests++,
      },
      masker: session.masker,
      recordingsDir: join(x.ports.dataDir, 'recordings'),
      log: x.ports.log.child({ requestId }),
    };
    await handleStreamingUpgrade(ctx, req, socket, head);
  } catch (err) {
    if (err instanceof KubeRefusalError) return refuseOnSocket(socket, { requestId, ...err.refusal });
    x.ports.log.error({ err: (err as Error).message }, 'kubernetes upgrade failed');
    refuseOnSocket(socket, { code: 502, reason: 'InternalError', message: 'airlock: the upgrade failed', airlockCode: 'upstream_failed', requestId });
  }
}

/** Policy, then a reviewer when policy asks; fails closed (deny) when either cannot answer. */
async function decideStream(x: KubeExchangeContext, target: KubeTarget, principal: Principal, s: HttpAuditSession, r: StreamingDecisionRequest): Promise<StreamingVerdict> {
  const ports: EnginePorts = x.ports;
  let d;
  try {
    d = ports.policy().authorizeKubernetesStream(principal, target.info, r.action, r.context as unknown as Record<string, string | number | boolean | string[]>, r.text);
  } catch (err) {
    return { effect: 'deny', policyIds: [], policyVersion: '', reason: `policy could not decide: ${(err as Error).message}` };
  }
  if (d.effect !== 'approve') return { ...d, effect: d.effect };
  const abort = new AbortController();
  r.signal?.addEventListener('abort', () => abort.abort(), { once: true });
  let notified = false;
  for (;;) {
    const waited = await x.holds.wait(
      holdKey({ principal: principal.id, target: target.info.name, method: r.action, path: r.shape, query: r.statementId, bodySha256: '' }),
      r.statementId,
      () => ({ requester: principal, target: target.info, sessionId: s.sessionId, statementId: r.statementId, statementText: r.text, statementClass: r.class, policyIds: d.policyIds, shape: `k8s:${r.action}:${r.shape}` }),
      (e) => {
        if (!s.ended) void ports.audit.append({ type: 'approval', sessionId: s.sessionId, statementId: r.statementId, approvalId: e.approvalId, state: e.state as 'pending', reviewer: e.reviewer, reason: e.reason }).catch(() => undefined);
      },
      abort.signal,
    );
    if (waited.kind === 'unavailable') return { ...d, effect: 'deny', reason: waited.message };
    if (waited.kind === 'decided') {
      const o = waited.outcome;
      if (o.state === 'approved') countApproval(principal);
      return o.state === 'approved'
        ? { ...d, effect: 'allow', reason: `approved by ${o.reviewer}`, approvalId: waited.approvalId }
        : { ...d, effect: 'deny', reason: `approval ${o.state}${o.reviewer ? ` by ${o.reviewer}` : ''}: ${o.reason}`, approvalId: waited.approvalId };
    }
    if (abort.signal.aborted) return { ...d, effect: 'deny', reason: 'the agent went away while waiting for a reviewer', approvalId: waited.approvalId };
    if (!notified) {
      notified = true;
      r.notify?.(`airlock: waiting for a reviewer (approval ${waited.approvalId}${waited.reviewUrl ? `, ${waited.reviewUrl}` : ''})`);
    }
  }
}
