// Refusals as the API server words them: a `Status` object (kind Status, apiVersion v1), which
// kubectl prints as "Error from server (Forbidden): ..." and client libraries parse into errors.
// The Airlock code and ids ride in `details.causes`, so an agent can act on them.
import type { Decision } from '../../../../core/model.js';

export interface KubeRefusal {
  code: number;
  /** Kubernetes StatusReason: Forbidden, Unauthorized, BadRequest, UnsupportedMediaType, ServiceUnavailable, ... */
  reason: string;
  message: string;
  /** Airlock's stable machine code, e.g. `policy_denied`, `approval_required`, `approval_denied` (core/refusal.ts), `path_dot_segment`. */
  airlockCode: string;
  requestId?: string;
  approvalId?: string;
  policyIds?: string[];
  retryAfterSeconds?: number;
}

export class KubeRefusalError extends Error {
  constructor(readonly refusal: KubeRefusal) {
    super(refusal.message);
  }
}

const REASON_OF_STATUS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  429: 'TooManyRequests',
  500: 'InternalError',
  502: 'InternalError',
  503: 'ServiceUnavailable',
};

export function refusal(code: number, airlockCode: string, message: string, extra: Partial<KubeRefusal> = {}): KubeRefusalError {
  return new KubeRefusalError({ code, reason: REASON_OF_STATUS[code] ?? 'InternalError', message, airlockCode, ...extra });
}

export function policyRefusal(d: Decision, requestId: string, what: string): KubeRefusalError {
  return refusal(403, 'policy_denied', `airlock: ${what} is refused by policy: ${d.reason}`, { requestId, policyIds: d.policyIds });
}

export function statusBody(r: KubeRefusal): string {
  const causes = [
    { reason: 'Airlock', field: 'code', message: r.airlockCode },
    ...(r.requestId ? [{ reason: 'Airlock', field: 'requestId', message: r.requestId }] : []),
    ...(r.approvalId ? [{ reason: 'Airlock', field: 'approvalId', message: r.approvalId }] : []),
    ...(r.policyIds ?? []).map((id) => ({ reason: 'Airlock', field: 'policyId', message: id })),
  ];
  return JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: r.message,
    reason: r.reason,
    details: { causes, ...(r.retryAfterSeconds !== undefined && { retryAfterSeconds: r.retryAfterSeconds }) },
    code: r.code,
  });
}

export function statusHeaders(r: KubeRefusal, body: string): Record<string, string> {
  return {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
    ...(r.requestId && { 'x-airlock-request-id': r.requestId }),
    ...(r.retryAfterSeconds !== undefined && { 'retry-after': String(r.retryAfterSeconds) }),
    ...(r.code === 401 && { 'www-authenticate': 'Bearer realm="airlock"' }),
  };
}
