// A target with an OpenAPI document: policy decides on `context.operationId` and `context.operationTags`,
// route rules name operations, and requests the document does not describe are `http_opaque`.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auditRecords, curl, startHttpTestGateway, type HttpTestGateway } from '../support/http-gateway.js';
import { startHttpUpstream, UPSTREAM_TOKEN, type RunningUpstream } from '../support/http-upstream.js';

const POLICY = `
@id("agents-connect")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"connect", resource);
@id("customer-reads")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"http_read", resource)
  when { context.operationTags.contains("customers") };
@id("search-by-operation")
permit (principal in Airlock::Group::"agents", action == Airlock::Action::"http_read", resource)
  when { context.operationId == "searchCustomers" };
`;

const SPEC = `
openapi: 3.0.3
info: { title: crm, version: "1" }
servers: [{ url: "http://crm.internal/api" }]
paths:
  /customers:
    get: { operationId: listCustomers, tags: [customers] }
  /customers/{id}:
    get: { operationId: getCustomer, tags: [customers, pii] }
  /search:
    post: { operationId: searchCustomers }
  /echo:
    get: { operationId: echo, tags: [debug] }
`;

let up: RunningUpstream;
let gw: HttpTestGateway;
let dir: string;
let token: string;

before(async () => {
  up = await startHttpUpstream();
  dir = mkdtempSync(join(tmpdir(), 'airlock-openapi-'));
  writeFileSync(join(dir, 'crm.yaml'), SPEC);
  gw = await startHttpTestGateway({
    targets: [
      {
        kind: 'http', name: 'crm', environment: 'test', baseUrl: `${up.url}/api`, credential: { type: 'bearer', secret: 'memory:t' },
        openapi: { file: join(dir, 'crm.yaml'), unmatched: 'opaque' },
        routes: [{ id: 'search-is-a-read', operations: ['searchCustomers'], action: 'read' }],
      },
    ],
    memorySecrets: { t: UPSTREAM_TOKEN },
    policy: POLICY,
  });
  token = await gw.token();
});
after(async () => {
  await gw?.stop();
  await up?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const call = (path: string, extra: string[] = []) => curl([...extra, '-H', `Authorization: Bearer ${token}`, `${gw.base}/crm${path}`]);
const hits = (path: string) => up.requests.filter((r) => r.routedPath === path).length;

test('policy sees the operation: tags and ids decide, on the canonical path', async () => {
  assert.equal((await call('/customers')).status, 200);
  assert.equal((await call('/%63ustomers/./')).status, 200, 'the canonical path is matched to the template');
  const one = await call('/customers/1');
  assert.equal(one.status, 404, 'permitted (getCustomer is tagged customers); the upstream has no such route');
  assert.equal(hits('/api/customers/1'), 1);

  // /echo is an operation, but no policy permits its tag.
  const echo = await call('/echo');
  assert.equal(echo.status, 403);
  assert.equal(hits('/api/echo'), 0);
});

test('a route rule names an operation: POST /search is a read', async () => {
  const r = await call('/search', ['-X', 'POST', '-H', 'content-type: application/json', '--data', '{"q":"ada"}']);
  assert.equal(r.status, 200, r.body.toString());
});

test('a request the document does not describe is http_opaque, refused by default', async () => {
  const before = hits('/api/admin');
  const r = await call('/admin');
  assert.equal(r.status, 403);
  const p = JSON.parse(r.body.toString()) as { code: string; detail: string };
  assert.equal(p.code, 'policy_denied');
  assert.match(p.detail, /http_opaque/);
  // A method the document does not name on a known path is undescribed too.
  assert.equal((await call('/customers', ['-X', 'DELETE'])).status, 403);
  assert.equal(hits('/api/admin'), before);
});

test('the audit trail names the operation and the opaque class', async () => {
  await new Promise((r) => setTimeout(r, 100));
  const statements = auditRecords(gw.dir).filter((e) => e.type === 'statement') as unknown as { text: string; class: string; http?: { operationId?: string } }[];
  const list = statements.find((s) => s.text === 'GET /customers');
  assert.equal(list?.http?.operationId, 'listCustomers');
  const admin = statements.find((s) => s.text === 'GET /admin');
  assert.equal(admin?.class, 'opaque');
  assert.equal(admin?.http?.operationId, undefined);
});
