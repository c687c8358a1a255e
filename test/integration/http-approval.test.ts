// Approval holds on the HTTP path: a held request stays open while a reviewer decides; past the
// wait the agent gets 503 problem+json with Retry-After, and an identical retry picks up the
// decision and runs exactly once.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { REVIEWER } from '../support/gateway.js';
import { startHttpTestGateway, type HttpTestGateway } from '../support/http-gateway.js';
import { startHttpUpstream, UPSTREAM_TOKEN, type RunningUpstream } from '../support/http-upstream.js';
import { approvalsApprove, approvalsDeny } from '../../fargate-proxy/src/cli/approval-commands.js';

let up: RunningUpstream;
let gw: HttpTestGateway;
let token: string;
let reviewer: string;
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const quiet = { out: () => undefined, err: () => undefined };

before(async () => {
  up = await startHttpUpstream();
  gw = await startHttpTestGateway({
    targets: [{ kind: 'http', name: 'crm', environment: 'test', baseUrl: `${up.url}/api`, credential: { type: 'bearer', secret: 'memory:t' } }],
    memorySecrets: { t: UPSTREAM_TOKEN },
    listener: { approvalWaitSeconds: 2 },
    config: (raw) => {
      (raw.listeners as Record<string, unknown>).console = { host: '127.0.0.1', port: 0 };
      raw.approvals = { reviewerGroups: ['reviewers'], timeoutSeconds: 120 };
    },
  });
  token = await gw.token();
  reviewer = await gw.token(REVIEWER);
});
after(async () => {
  await gw?.stop();
  await up?.stop();
});

const post = (body: string) =>
  fetch(`${gw.base}/crm/orders`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body });
const orders = () => up.requests.filter((r) => r.routedPath === '/api/orders' && r.method === 'POST').length;
const review = { url: () => gw.gw.consoleUrl!, token: () => reviewer };

test('past the wait: 503 + Retry-After; an identical retry after approval runs once, a third is asked again', async () => {
  const before = orders();
  const first = await post('{"item":1}');
  assert.equal(first.status, 503);
  assert.equal(first.headers.get('content-type'), 'application/problem+json');
  assert.ok(Number(first.headers.get('retry-after')) > 0);
  const p = (await first.json()) as { code: string; requestId: string; approvalId: string; policyIds: string[] };
  assert.equal(p.code, 'approval_required');
  assert.deepEqual(p.policyIds, ['orders-need-approval']);
  assert.equal(orders(), before, 'nothing forwarded while held');

  // A different body is a different request: it does not share the approval.
  const other = await post('{"item":2}');
  assert.equal(other.status, 503);
  const otherId = ((await other.json()) as { approvalId: string }).approvalId;
  assert.notEqual(otherId, p.approvalId);

  assert.equal(await approvalsApprove({ url: review.url(), token: review.token(), id: p.approvalId }, quiet), 0);
  const retry = await post('{"item":1}');
  assert.equal(retry.status, 201, await retry.clone().text());
  assert.equal(((await retry.json()) as { received: number }).received, 10);
  assert.equal(orders(), before + 1, 'ran once');

  const again = await post('{"item":1}');
  assert.equal(again.status, 503, 'the approval was used: the same request again needs a new one');
  assert.notEqual(((await again.json()) as { approvalId: string }).approvalId, p.approvalId);
  assert.equal(orders(), before + 1);
});

test('a request approved while it is held completes on the same connection; a denial is a 403', async () => {
  const before = orders();
  const pending = post('{"item":3}');
  // Find the request on the reviewer's desk and approve it while the agent waits.
  let id: string | undefined;
  for (let i = 0; i < 40 && !id; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const res = await fetch(`${review.url()}/api/approvals`, { headers: { authorization: `Bearer ${reviewer}` } });
    const list = ((await res.json()) as { approvals: { id: string; statement: string; state: string }[] }).approvals;
    // The reviewer sees the request line and the body's hash: this request is the one for item 3.
    id = list.find((a) => a.state === 'pending' && a.statement.includes(sha256('{"item":3}')))?.id;
  }
  assert.ok(id, 'the held request is on the desk');
  assert.equal(await approvalsApprove({ url: review.url(), token: review.token(), id }, quiet), 0);
  const res = await pending;
  assert.equal(res.status, 201);
  assert.equal(orders(), before + 1);

  const denied = post('{"item":4}');
  const first = await denied;
  const { approvalId } = (await first.json()) as { approvalId: string };
  assert.equal(await approvalsDeny({ url: review.url(), token: review.token(), id: approvalId, reason: 'not today' }, quiet), 0);
  const retry = await post('{"item":4}');
  assert.equal(retry.status, 403);
  const p = (await retry.json()) as { code: string; detail: string };
  assert.equal(p.code, 'approval_denied');
  assert.match(p.detail, /not today/);
  assert.equal(orders(), before + 1);
});
