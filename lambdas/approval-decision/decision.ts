// The decision endpoint (Lambda Function URL): Slack button presses and the e-mail review page.
//   POST /slack/actions   signed by Slack (signing secret, 5-minute window); answered within 3 s
//   GET  /review/{id}     a sign-in page; reveals and decides nothing
//   POST /review/{id}     Bearer reviewer token; { action: view | approve | deny, scope?, minutes?, reason? }
//   GET  /signin/start    ?code_challenge&state → 303 to the issuer (authorization code + PKCE)
//   GET  /signin          the issuer's callback: the page trades the code and returns to the request
//   POST /signin/token    { callback, code_verifier } → { access_token } (never in a URL)
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Principal } from '../../core/model.js';
import { checkReviewer, decideApproval, parseDecision, toApprovalView } from '../../core/approval/index.js';
import type { ReviewerDecision } from '../../core/approval/index.js';
import type { DynamoApprovalStore } from '../../fargate-proxy/src/adapters/aws/approval-dynamo-store.js';
import { header, html, json, rawBody } from '../shared/http.js';
import type { SlackConfig } from '../shared/slack-config.js';
import { parseSlackAction } from '../shared/slack-messages.js';
import { verifySlackSignature } from '../shared/slack-signature.js';
import { completeTask } from '../shared/workflow.js';
import { SignInError, type SignIn } from '../../fargate-proxy/src/console/oauth-sign-in.js';
import { reviewPage, signInCallbackPage } from './review-page.js';

export interface DecisionDeps {
  store: DynamoApprovalStore;
  sfn: SFNClient;
  reviewerGroups: string[];
  verifyReviewer: (token: string) => Promise<Principal>;
  slackConfig: () => Promise<SlackConfig | undefined>;
  logger: Logger;
  fetchImpl?: typeof fetch;
  now?: () => number;
  /** Reviewers' browser sign-in at the issuer; without it the page takes a pasted token only. */
  signIn?: SignIn;
  /**
   * The page's own base URL (`<base>review/<id>`, `<base>signin`) when it is not the Function URL
   * the request came to (a custom domain in front).
   */
  reviewBaseUrl?: string;
}

type Result = APIGatewayProxyStructuredResultV2;

export function createDecisionHandler(deps: DecisionDeps): (event: APIGatewayProxyEventV2) => Promise<Result> {
  const now = deps.now ?? Date.now;

  async function settle(id: string, reviewer: Principal, decision: ReviewerDecision) {
    const result = await decideApproval(deps.store, { id, reviewer, decision, reviewerGroups: deps.reviewerGroups, now: now() });
    if (result.ok && result.first) {
      const token = await deps.store.taskToken(id);
      const sent = token ? await completeTask(deps.sfn, token, result.record) : 'no-token';
      deps.logger.info('approval decided', { requestId: id, state: result.record.state, reviewer: reviewer.id, scope: result.record.scope, task: sent });
    } else if (!result.ok) {
      deps.logger.warn('approval decision refused', { requestId: id, reviewer: reviewer.id, status: result.status, error: result.error });
    }
    return result;
  }

  async function slack(event: APIGatewayProxyEventV2): Promise<Result> {
    const config = await deps.slackConfig();
    if (!config) return json(404, { error: 'Slack is not configured' });
    const body = rawBody(event);
    const valid = verifySlackSignature({
      signingSecret: config.signingSecret,
      timestamp: header(event, 'x-slack-request-timestamp'),
      signature: header(event, 'x-slack-signature'),
      rawBody: body,
      nowSeconds: Math.floor(now() / 1000),
    });
    if (!valid) {
      deps.logger.warn('Slack request with a bad or stale signature refused');
      return json(401, { error: 'invalid signature' });
    }
    const action = parseSlackAction(new URLSearchParams(body).get('payload') ?? '');
    if (!action) return json(200, {});
    // Slack proves who pressed; the mapping says which reviewer that is. Unmapped users decide nothing.
    const principalId = config.reviewers?.[action.slackUserId];
    let text: string;
    if (!principalId) {
      deps.logger.warn('Slack user is not a mapped reviewer', { requestId: action.requestId, slackUserId: action.slackUserId });
      text = `<@${action.slackUserId}> is not an Airlock reviewer.`;
    } else {
      // Being in the mapping is the Slack user's reviewer membership; requester ≠ reviewer still applies.
      const asReviewer: Principal = { id: principalId, groups: deps.reviewerGroups.slice(0, 1), issuer: 'slack' };
      const result = await settle(action.requestId, asReviewer, action.decision);
      if (!result.ok) text = `Refused: ${result.error}.`;
      else if (!result.first) text = `Already ${result.record.state}${result.record.reviewer ? ` by ${result.record.reviewer}` : ''}.`;
      else text = `${result.record.state === 'approved' ? 'Approved' : 'Denied'} by <@${action.slackUserId}>${result.record.scope && result.record.scope !== 'once' ? ` for this ${result.record.scope} (${result.record.scopeMinutes} min)` : ''}.`;
    }
    if (action.responseUrl?.startsWith('https://hooks.slack.com/')) {
      // Bounded so the whole exchange stays inside Slack's 3-second acknowledgement window.
      await (deps.fetchImpl ?? fetch)(action.responseUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ replace_original: false, response_type: 'in_channel', text }),
        signal: AbortSignal.timeout(1500),
      }).catch(() => deps.logger.warn('could not update the Slack message', { requestId: action.requestId }));
    }
    return { statusCode: 200, body: '' };
  }

  async function review(event: APIGatewayProxyEventV2, id: string): Promise<Result> {
    const auth = /^Bearer\s+(\S+)$/i.exec(header(event, 'authorization') ?? '');
    if (!auth?.[1]) return json(401, { error: 'sign in first' });
    let reviewer: Principal;
    try {
      reviewer = await deps.verifyReviewer(auth[1]);
    } catch {
      return json(401, { error: 'invalid or expired token' });
    }
    if (!(header(event, 'content-type') ?? '').toLowerCase().startsWith('application/json')) return json(415, { error: 'expected application/json' });
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(rawBody(event) || '{}') as Record<string, unknown>;
    } catch {
      return json(400, { error: 'body is not valid JSON' });
    }
    const record = await deps.store.get(id);
    if (!record) return json(404, { error: 'no such approval request' });
    if (body.action === 'view') {
      const allowed = checkReviewer(reviewer, deps.reviewerGroups);
      if (!allowed.ok) return json(403, { error: allowed.error });
      return json(200, { approval: toApprovalView(record, now()) });
    }
    const verdict = body.action === 'approve' ? 'approve' : body.action === 'deny' ? 'deny' : undefined;
    if (!verdict) return json(400, { error: 'action must be view, approve or deny' });
    const parsed = parseDecision({ ...body, verdict });
    if (!parsed.ok) return json(400, { error: parsed.error });
    const result = await settle(id, reviewer, parsed.decision);
    if (!result.ok) return json(result.status === 'not-found' ? 404 : result.status === 'forbidden' ? 403 : 400, { error: result.error });
    return json(200, { first: result.first, approval: toApprovalView(result.record, now()) });
  }

  /** The registered callback: this endpoint's own /signin (the CDK names it on the reviewers' app client). */
  function redirectUri(event: APIGatewayProxyEventV2): string {
    if (deps.reviewBaseUrl) return `${deps.reviewBaseUrl.replace(/\/$/, '')}/signin`;
    return `https://${event.requestContext.domainName}/signin`;
  }

  async function signIn(event: APIGatewayProxyEventV2, method: string, path: string): Promise<Result> {
    if (!deps.signIn) return json(404, { error: 'browser sign-in is not configured: paste an access token' });
    const basePath = deps.reviewBaseUrl ? new URL(deps.reviewBaseUrl).pathname.replace(/\/?$/, '/') : '/';
    try {
      if (path === '/signin' && method === 'GET') {
        const page = signInCallbackPage(basePath);
        return html(200, page.body, page.csp);
      }
      if (path === '/signin/start' && method === 'GET') {
        const q = new URLSearchParams(event.rawQueryString ?? '');
        const location = await deps.signIn.authorizeUrl({ redirectUri: redirectUri(event), codeChallenge: q.get('code_challenge') ?? '', state: q.get('state') ?? '' });
        return { statusCode: 303, headers: { location, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' } };
      }
      if (path === '/signin/token' && method === 'POST') {
        if (!(header(event, 'content-type') ?? '').toLowerCase().startsWith('application/json')) return json(415, { error: 'expected application/json' });
        let body: { callback?: unknown; code_verifier?: unknown };
        try {
          body = JSON.parse(rawBody(event) || '{}') as typeof body;
        } catch {
          return json(400, { error: 'body is not valid JSON' });
        }
        if (typeof body.callback !== 'string' || typeof body.code_verifier !== 'string') return json(400, { error: 'expected { callback, code_verifier }' });
        const out = await deps.signIn.exchange({ redirectUri: redirectUri(event), callbackQuery: body.callback, codeVerifier: body.code_verifier });
        return json(200, { access_token: out.accessToken, ...(out.expiresIn !== undefined ? { expires_in: out.expiresIn } : {}) });
      }
      return json(405, { error: 'method not allowed' });
    } catch (error) {
      if (!(error instanceof SignInError)) throw error;
      deps.logger.warn('reviewer sign-in refused', { status: error.status, reason: error.message });
      return json(error.status, { error: error.message });
    }
  }

  return async (event) => {
    const method = event.requestContext.http.method;
    const path = event.rawPath;
    try {
      if (path === '/slack/actions' && method === 'POST') return await slack(event);
      if (path === '/signin' || path === '/signin/start' || path === '/signin/token') return await signIn(event, method, path);
      const m = /^\/review\/([A-Za-z0-9_-]{1,128})$/.exec(path);
      if (m?.[1]) {
        if (method === 'GET') {
          const page = reviewPage(m[1], { signIn: deps.signIn !== undefined, basePath: deps.reviewBaseUrl ? new URL(deps.reviewBaseUrl).pathname.replace(/\/?$/, '/') : '/' });
          return html(200, page.body, page.csp);
        }
        if (method === 'POST') return await review(event, m[1]);
        return json(405, { error: 'method not allowed' });
      }
      return json(404, { error: 'not found' });
    } catch (error) {
      deps.logger.error('decision endpoint failed', { path, error: (error as Error).name });
      return json(500, { error: 'internal error' });
    }
  };
}
