// The policy Lambda's handler against a real S3 API (s3rver) and the real Cedar engine (core/policy).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { Principal, TargetInfo } from '../../core/model.js';
import { PolicyBundleStore } from '../../lambdas/policy/bundle-store.js';
import { PolicyService } from '../../lambdas/policy/policy-service.js';
import { startLocalS3, type LocalS3 } from '../support/local-aws.js';

const BUCKET = 'airlock-policy';
const CURRENT = 'policy/current.json';
const demo = readFileSync(new URL('../../policies/demo.cedar', import.meta.url), 'utf8');
const agent: Principal = { id: 'agent-1', groups: ['agents'], issuer: 'https://login.acme.internal/' };
const demoTarget: TargetInfo = { name: 'demo', kind: 'postgres', environment: 'demo', tags: {} };

let workDir: string;
let localS3: LocalS3;
let s3: S3Client;
let clock = Date.parse('2026-01-01T00:00:00Z');
const now = () => new Date(clock);

function service(): PolicyService {
  return new PolicyService({ store: new PolicyBundleStore({ client: s3, bucket: BUCKET, currentKey: CURRENT }), now, pointerTtlMs: 5_000 });
}
async function getJson(key: string): Promise<any> {
  const out = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return JSON.parse(await out.Body!.transformToString());
}

before(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'airlock-policy-'));
  localS3 = await startLocalS3(workDir);
  s3 = localS3.client;
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
});
after(async () => {
  await localS3?.stop();
  rmSync(workDir, { recursive: true, force: true });
});

test('connect checks deny until a policy set is published', async () => {
  const res = await service().handle({ action: 'authorizeConnect', principal: agent, target: demoTarget });
  assert.ok(res.ok && res.action === 'authorizeConnect');
  assert.equal(res.decision.effect, 'deny');
  assert.equal(res.decision.policyVersion, 'none');
});

test('check reports errors without touching the bucket', async () => {
  const res = await service().handle({ action: 'check', policies: 'permit(principal, action == Airlock::Action::"nope", resource);' });
  assert.equal(res.ok, false);
  assert.ok(!res.ok && res.errors.length > 0);
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET }));
  assert.equal(listed.KeyCount ?? 0, 0);
});

test('publish writes an immutable bundle named by its version, then the pointer', async () => {
  const res = await service().handle({ action: 'publish', policies: demo, publishedBy: 'alice', description: 'demo' });
  assert.ok(res.ok && res.action === 'publish', JSON.stringify(res));
  assert.match(res.version, /^sha256:[0-9a-f]{64}$/);
  assert.equal(res.key, `policy/versions/${res.version.slice('sha256:'.length)}/bundle.json`);
  const pointer = await getJson(CURRENT);
  assert.equal(pointer.version, res.version);
  const bundle = await getJson(res.key);
  assert.equal(bundle.policies, demo);
  assert.equal(bundle.publishedBy, 'alice');
  assert.ok(bundle.schema.length > 0, 'the schema travels with the bundle');

  // A retry (same text) is the same version: nothing new to act on.
  const again = await service().handle({ action: 'publish', policies: demo });
  assert.ok(again.ok && again.action === 'publish' && again.version === res.version);
});

test('a fresh instance answers connect checks from the published bundle, citing its version', async () => {
  const pointer = await getJson(CURRENT);
  const allowed = await service().handle({ action: 'authorizeConnect', principal: agent, target: demoTarget });
  assert.ok(allowed.ok && allowed.action === 'authorizeConnect');
  assert.equal(allowed.decision.effect, 'allow');
  assert.deepEqual(allowed.decision.policyIds, ['demo-connect']);
  assert.equal(allowed.decision.policyVersion, pointer.version);

  const stranger = await service().handle({
    action: 'authorizeConnect',
    principal: { ...agent, groups: ['visitors'] },
    target: demoTarget,
  });
  assert.ok(stranger.ok && stranger.action === 'authorizeConnect' && stranger.decision.effect === 'deny');
});

test('a running instance hot-reloads a newly activated version once its pointer cache expires', async () => {
  const reader = service();
  const first = await reader.handle({ action: 'authorizeConnect', principal: agent, target: demoTarget });
  assert.ok(first.ok && first.action === 'authorizeConnect' && first.decision.effect === 'allow');

  const lockdown = demo.replace(/@id\("demo-connect"\)\npermit/, '@id("demo-connect")\nforbid');
  const published = await service().handle({ action: 'publish', policies: lockdown });
  assert.ok(published.ok && published.action === 'publish', JSON.stringify(published));

  const cached = await reader.handle({ action: 'authorizeConnect', principal: agent, target: demoTarget });
  assert.ok(cached.ok && cached.action === 'authorizeConnect' && cached.decision.effect === 'allow', 'within the TTL');
  clock += 6_000;
  const reloaded = await reader.handle({ action: 'authorizeConnect', principal: agent, target: demoTarget });
  assert.ok(reloaded.ok && reloaded.action === 'authorizeConnect');
  assert.equal(reloaded.decision.effect, 'deny');
  assert.equal(reloaded.decision.policyVersion, published.version);
});

test('activate rolls back to an earlier version; unknown versions are refused', async () => {
  const publishedDemo = await service().handle({ action: 'check', policies: demo });
  assert.ok(publishedDemo.ok && publishedDemo.action === 'check');
  const rolledBack = await service().handle({ action: 'activate', version: publishedDemo.version });
  assert.ok(rolledBack.ok && rolledBack.action === 'activate', JSON.stringify(rolledBack));
  assert.equal((await getJson(CURRENT)).version, publishedDemo.version);

  const unknown = await service().handle({ action: 'activate', version: 'sha256:' + '0'.repeat(64) });
  assert.equal(unknown.ok, false);
  assert.equal((await getJson(CURRENT)).version, publishedDemo.version, 'pointer unchanged');
});

test('malformed requests are refused with the offending field', async () => {
  const res = await service().handle({ action: 'authorizeConnect', principal: { id: 'x' }, target: demoTarget });
  assert.equal(res.ok, false);
  assert.ok(!res.ok && res.errors.some((e) => e.startsWith('principal.')));
  const unknown = await service().handle({ action: 'drop-everything' });
  assert.ok(!unknown.ok && unknown.action === 'drop-everything');
});
