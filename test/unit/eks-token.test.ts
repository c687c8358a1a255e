// The EKS upstream token is checked without the code that made it: the presigned URL is decoded and
// its SigV4 signature recomputed here from the published algorithm (canonical request, string to
// sign, derived key), written independently of @smithy/signature-v4 with node:crypto only.
// Whether STS accepts it is only provable against AWS (docs/deploy.md, "Kubernetes targets").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { EKS_TOKEN_PREFIX, eksToken, eksTokenSource } from '../../fargate-proxy/src/adapters/aws/eks-token.js';

const CREDENTIALS = { accessKeyId: 'AKIDEXAMPLEEKSTOKEN1', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'FwoGZXIvYXdzEXAMPLE//session+token=' };

/** RFC 3986 unreserved characters stay; everything else is %XX (SigV4's URI encoding). */
const sigv4Encode = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();
const sha256hex = (data: string) => createHash('sha256').update(data, 'utf8').digest('hex');

/** Recomputes X-Amz-Signature of a presigned GET whose signed headers are given. */
function expectedSignature(url: URL, headers: Record<string, string>, secretAccessKey: string): string {
  const params = [...url.searchParams.entries()].filter(([k]) => k !== 'X-Amz-Signature');
  const canonicalQuery = params
    .map(([k, v]) => [sigv4Encode(k), sigv4Encode(v)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const signedHeaders = url.searchParams.get('X-Amz-SignedHeaders')!;
  const canonicalHeaders = signedHeaders
    .split(';')
    .map((h) => `${h}:${headers[h]!.trim()}\n`)
    .join('');
  const canonicalRequest = ['GET', url.pathname, canonicalQuery, canonicalHeaders, signedHeaders, sha256hex('')].join('\n');
  const amzDate = url.searchParams.get('X-Amz-Date')!;
  const [, date, region, service, terminator] = url.searchParams.get('X-Amz-Credential')!.split('/');
  const scope = [date, region, service, terminator].join('/');
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256hex(canonicalRequest)].join('\n');
  const kDate = hmac(`AWS4${secretAccessKey}`, date!);
  const kSigning = hmac(hmac(hmac(kDate, region!), service!), terminator!);
  return createHmac('sha256', kSigning).update(stringToSign, 'utf8').digest('hex');
}

function decode(token: string): URL {
  assert.ok(token.startsWith(EKS_TOKEN_PREFIX), 'k8s-aws-v1. prefix');
  const body = token.slice(EKS_TOKEN_PREFIX.length);
  assert.match(body, /^[A-Za-z0-9_-]+$/, 'base64url without padding');
  return new URL(Buffer.from(body, 'base64url').toString('utf8'));
}

test('the token is a presigned GetCallerIdentity whose SigV4 signature covers x-k8s-aws-id', async () => {
  const now = new Date('2026-12-07T14:05:09Z');
  const token = await eksToken({ clusterName: 'prod-eu', region: 'eu-west-1', credentials: CREDENTIALS, now });
  const url = decode(token);
  assert.equal(url.origin, 'https://sts.eu-west-1.amazonaws.com');
  assert.equal(url.pathname, '/');
  const q = url.searchParams;
  assert.equal(q.get('Action'), 'GetCallerIdentity');
  assert.equal(q.get('Version'), '2011-06-15');
  assert.equal(q.get('X-Amz-Algorithm'), 'AWS4-HMAC-SHA256');
  assert.equal(q.get('X-Amz-Credential'), `${CREDENTIALS.accessKeyId}/20261207/eu-west-1/sts/aws4_request`);
  assert.equal(q.get('X-Amz-Date'), '20261207T140509Z');
  assert.equal(q.get('X-Amz-Expires'), '60');
  assert.equal(q.get('X-Amz-Security-Token'), CREDENTIALS.sessionToken);
  assert.equal(q.get('X-Amz-SignedHeaders'), 'host;x-k8s-aws-id');
  assert.doesNotMatch(url.href, /wJalrXUtnFEMI/, 'the secret key is in no part of the token');

  const headers = { host: 'sts.eu-west-1.amazonaws.com', 'x-k8s-aws-id': 'prod-eu' };
  assert.equal(q.get('X-Amz-Signature'), expectedSignature(url, headers, CREDENTIALS.secretAccessKey));
  // The check can fail: another cluster name, another secret, or a changed query give other signatures.
  assert.notEqual(q.get('X-Amz-Signature'), expectedSignature(url, { ...headers, 'x-k8s-aws-id': 'prod-us' }, CREDENTIALS.secretAccessKey));
  assert.notEqual(q.get('X-Amz-Signature'), expectedSignature(url, headers, `${CREDENTIALS.secretAccessKey}x`));
  const tampered = new URL(url);
  tampered.searchParams.set('X-Amz-Expires', '900');
  assert.notEqual(q.get('X-Amz-Signature'), expectedSignature(tampered, headers, CREDENTIALS.secretAccessKey));
});

test('China regions sign for the .com.cn STS endpoint; a credentials provider is called, and tokens are reused', async () => {
  const cn = decode(await eksToken({ clusterName: 'c', region: 'cn-north-1', credentials: CREDENTIALS }));
  assert.equal(cn.host, 'sts.cn-north-1.amazonaws.com.cn');
  assert.equal(cn.searchParams.get('X-Amz-Signature'), expectedSignature(cn, { host: cn.host, 'x-k8s-aws-id': 'c' }, CREDENTIALS.secretAccessKey));

  let calls = 0;
  const source = eksTokenSource({ clusterName: 'prod-eu', region: 'eu-west-1', credentials: async () => (calls++, CREDENTIALS) });
  const first = await source();
  assert.equal(await source(), first, 'reused within its lifetime');
  assert.equal(calls, 1);
});
