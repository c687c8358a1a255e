// The approvals JSON API, used by the console page and by the `airlock approvals` CLI.
//   GET  /api/whoami
//   GET  /api/approvals                 pending requests
//   GET  /api/approvals/:id
//   POST /api/approvals/:id/approve     { scope: once|shape|session, minutes?, reason? }
//   POST /api/approvals/:id/deny        { reason }
// Every call needs `Authorization: Bearer <reviewer token>`; only reviewer-group members get data.
import type { Principal } from '../../../core/model.js';
import { checkReviewer, parseDecision, toApprovalView } from '../../../core/approval/index.js';
import type { LocalApprovalDesk } from '../adapters/local/approval-service.js';
import { HttpError, bearerToken, readJson, sendJson } from './http.js';
import type { ConsoleRoute, RouteContext } from './router.js';

export type VerifyReviewer = (token: string) => Promise<Principal>;

async function authenticate(ctx: RouteContext, verifyReviewer: VerifyReviewer): Promise<Principal> {
  const token = bearerToken(ctx.req);
  if (!token) throw new HttpError(401, 'sign in: send Authorization: Bearer <token>');
  try {
    return await verifyReviewer(token);
  } catch {
    // The verifier's message may describe the token; say nothing about it.
    throw new HttpError(401, 'invalid or expired token');
  }
}

export function approvalRoutes(desk: LocalApprovalDesk, verifyReviewer: VerifyReviewer): ConsoleRoute[] {
  async function reviewer(ctx: RouteContext): Promise<Principal> {
    const principal = await authenticate(ctx, verifyReviewer);
    const check = checkReviewer(principal, desk.reviewerGroups);
    if (!check.ok) throw new HttpError(403, check.error);
    return principal;
  }

  async function decide(ctx: RouteContext, verdict: 'approve' | 'deny'): Promise<void> {
    // Anyone signed in may try; a refused attempt (not a reviewer, their own request) is audited in
    // the held session's trail (docs/approvals.md).
    const principal = await authenticate(ctx, verifyReviewer);
    const id = ctx.params.id ?? '';
    const check = checkReviewer(principal, desk.reviewerGroups);
    if (!check.ok) {
      await desk.refuseAttempt(id, principal, check.error);
      throw new HttpError(403, check.error);
    }
    const body = await readJson(ctx.req);
    const parsed = parseDecision({ ...(typeof body === 'object' && body !== null ? body : {}), verdict });
    if (!parsed.ok) throw new HttpError(400, parsed.error);
    const result = await desk.decide(id, principal, parsed.decision);
    if (!result.ok) throw new HttpError(result.status === 'not-found' ? 404 : result.status === 'forbidden' ? 403 : 400, result.error);
    sendJson(ctx.res, 200, { first: result.first, approval: toApprovalView(result.record) });
  }

  return [
    {
      method: 'GET',
      path: '/api/whoami',
      handler: async (ctx) => {
        const p = await authenticate(ctx, verifyReviewer);
        sendJson(ctx.res, 200, { id: p.id, groups: p.groups, reviewer: checkReviewer(p, desk.reviewerGroups).ok });
      },
    },
    {
      method: 'GET',
      path: '/api/approvals',
      handler: async (ctx) => {
        await reviewer(ctx);
        const now = Date.now();
        sendJson(ctx.res, 200, { approvals: (await desk.listPending()).map((r) => toApprovalView(r, now)) });
      },
    },
    {
      method: 'GET',
      path: '/api/approvals/:id',
      handler: async (ctx) => {
        await reviewer(ctx);
        const record = await desk.get(ctx.params.id ?? '');
        if (!record) throw new HttpError(404, 'no such approval request');
        sendJson(ctx.res, 200, { approval: toApprovalView(record) });
      },
    },
    { method: 'POST', path: '/api/approvals/:id/approve', handler: (ctx) => decide(ctx, 'approve') },
    { method: 'POST', path: '/api/approvals/:id/deny', handler: (ctx) => decide(ctx, 'deny') },
  ];
}

/**
 * With the Step Functions backend, held statements are records in DynamoDB decided through the
 * decision endpoint (the review link in each e-mail or Slack message), not on this task's desk.
 * Matched before `approvalRoutes`, these answer the approvals API with where to decide instead of
 * an empty list that would read as "nothing is waiting".
 */
export function remoteApprovalRoutes(reviewBaseUrl: string | undefined, verifyReviewer: VerifyReviewer): ConsoleRoute[] {
  const where = reviewBaseUrl
    ? `approvals are decided at ${reviewBaseUrl.replace(/\/$/, '')}/review/<id>: open the link in the notification`
    : 'approvals are decided through the approval workflow (the link in the notification), not on this console';
  const answer = async (ctx: RouteContext) => {
    await authenticate(ctx, verifyReviewer);
    throw new HttpError(409, where);
  };
  return [
    { method: 'GET', path: '/api/approvals', handler: answer },
    { method: 'GET', path: '/api/approvals/:id', handler: answer },
    { method: 'POST', path: '/api/approvals/:id/approve', handler: answer },
    { method: 'POST', path: '/api/approvals/:id/deny', handler: answer },
  ];
}
