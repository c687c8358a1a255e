// Kubernetes request attributes against kube-apiserver's RequestInfoFactory. The table is the
// cases of k8s.io/apiserver/pkg/endpoints/request/requestinfo_test.go (TestGetAPIRequestInfo,
// TestGetNonAPIRequestInfo, the fieldSelector name cases), restated here, plus the shapes the
// gateway refuses because the API server could read them differently.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { resolveRequestAttributes } from '../../fargate-proxy/src/protocols/kubernetes/request-attributes.js';

// [method, url, verb, apiPrefix, group, version, namespace, resource, subresource, name, parts]
type Row = [string, string, string, string, string, string, string, string, string, string, string[]];
const resourceCases: Row[] = [
  // resource paths
  ['GET', '/api/v1/namespaces', 'list', 'api', '', 'v1', '', 'namespaces', '', '', ['namespaces']],
  ['GET', '/api/v1/namespaces/other', 'get', 'api', '', 'v1', 'other', 'namespaces', '', 'other', ['namespaces', 'other']],
  ['GET', '/api/v1/namespaces/other/pods', 'list', 'api', '', 'v1', 'other', 'pods', '', '', ['pods']],
  ['GET', '/api/v1/namespaces/other/pods/foo', 'get', 'api', '', 'v1', 'other', 'pods', '', 'foo', ['pods', 'foo']],
  ['HEAD', '/api/v1/namespaces/other/pods/foo', 'get', 'api', '', 'v1', 'other', 'pods', '', 'foo', ['pods', 'foo']],
  ['GET', '/api/v1/pods', 'list', 'api', '', 'v1', '', 'pods', '', '', ['pods']],
  ['HEAD', '/api/v1/pods', 'list', 'api', '', 'v1', '', 'pods', '', '', ['pods']],
  ['GET', '/api/v1/namespaces/other/pods/foo', 'get', 'api', '', 'v1', 'other', 'pods', '', 'foo', ['pods', 'foo']],
  ['GET', '/api/v1/namespaces/other/pods', 'list', 'api', '', 'v1', 'other', 'pods', '', '', ['pods']],
  // special verbs
  ['GET', '/api/v1/proxy/namespaces/other/pods/foo', 'proxy', 'api', '', 'v1', 'other', 'pods', '', 'foo', ['pods', 'foo']],
  ['GET', '/api/v1/proxy/namespaces/other/pods/foo/subpath/not/a/subresource', 'proxy', 'api', '', 'v1', 'other', 'pods', '', 'foo', ['pods', 'foo', 'subpath', 'not', 'a', 'subresource']],
  ['GET', '/api/v1/watch/pods', 'watch', 'api', '', 'v1', '', 'pods', '', '', ['pods']],
  ['GET', '/api/v1/pods?watch=true', 'watch', 'api', '', 'v1', '', 'pods', '', '', ['pods']],
  ['GET', '/api/v1/pods?watch=false', 'list', 'api', '', 'v1', '', 'pods', '', '', ['pods']],
  ['GET', '/api/v1/watch/namespaces/other/pods', 'watch', 'api', '', 'v1', 'other', 'pods', '', '', ['pods']],
  ['GET', '/api/v1/namespaces/other/pods?watch=1', 'watch', 'api', '', 'v1', 'other', 'pods', '', '', ['pods']],
  ['GET', '/api/v1/namespaces/other/pods?watch=0', 'list', 'api', '', 'v1', 'other', 'pods', '', '', ['pods']],
  ['GET', '/api/v1/namespaces/other/pods?watch=TRUE', 'watch', 'api', '', 'v1', 'other', 'pods', '', '', ['pods']],
  ['GET', '/api/v1/namespaces/other/pods?watch=False', 'list', 'api', '', 'v1', 'other', 'pods', '', '', ['pods']],
  ['GET', '/api/v1/watch/namespaces/other/pods/foo', 'watch', 'api', '', 'v1', 'other', 'pods', '', 'foo', ['pods', 'foo']],
  // subresource identification
  ['GET', '/api/v1/namespaces/other/pods/foo/status', 'get', 'api', '', 'v1', 'other', 'pods', 'status', 'foo', ['pods', 'foo', 'status']],
  ['GET', '/api/v1/namespaces/other/pods/foo/proxy/subpath', 'get', 'api', '', 'v1', 'other', 'pods', 'proxy', 'foo', ['pods', 'foo', 'proxy', 'subpath']],
  ['PUT', '/api/v1/namespaces/other/finalize', 'update', 'api', '', 'v1', 'other', 'namespaces', 'finalize', 'other', ['namespaces', 'other', 'finalize']],
  ['PUT', '/api/v1/namespaces/other/status', 'update', 'api', '', 'v1', 'other', 'namespaces', 'status', 'other', ['namespaces', 'other', 'status']],
  ['GET', '/api/v1/namespaces/other/pods/foo/log?follow=true&container=c', 'get', 'api', '', 'v1', 'other', 'pods', 'log', 'foo', ['pods', 'foo', 'log']],
  ['POST', '/api/v1/namespaces/other/pods/foo/exec?command=sh&command=-c&command=id&stdin=true', 'create', 'api', '', 'v1', 'other', 'pods', 'exec', 'foo', ['pods', 'foo', 'exec']],
  ['GET', '/api/v1/namespaces/other/pods/foo/portforward?ports=8080&ports=9090', 'get', 'api', '', 'v1', 'other', 'pods', 'portforward', 'foo', ['pods', 'foo', 'portforward']],
  ['POST', '/api/v1/namespaces/other/serviceaccounts/default/token', 'create', 'api', '', 'v1', 'other', 'serviceaccounts', 'token', 'default', ['serviceaccounts', 'default', 'token']],
  ['PATCH', '/apis/apps/v1/namespaces/other/deployments/web/scale', 'patch', 'apis', 'apps', 'v1', 'other', 'deployments', 'scale', 'web', ['deployments', 'web', 'scale']],
  // verb identification
  ['PATCH', '/api/v1/namespaces/other/pods/foo', 'patch', 'api', '', 'v1', 'other', 'pods', '', 'foo', ['pods', 'foo']],
  ['DELETE', '/api/v1/namespaces/other/pods/foo', 'delete', 'api', '', 'v1', 'other', 'pods', '', 'foo', ['pods', 'foo']],
  ['POST', '/api/v1/namespaces/other/pods', 'create', 'api', '', 'v1', 'other', 'pods', '', '', ['pods']],
  // deletecollection verb identification
  ['DELETE', '/api/v1/nodes', 'deletecollection', 'api', '', 'v1', '', 'nodes', '', '', ['nodes']],
  ['DELETE', '/api/v1/namespaces', 'deletecollection', 'api', '', 'v1', '', 'namespaces', '', '', ['namespaces']],
  ['DELETE', '/api/v1/namespaces/other/pods', 'deletecollection', 'api', '', 'v1', 'other', 'pods', '', '', ['pods']],
  ['DELETE', '/apis/extensions/v1/namespaces/other/pods', 'deletecollection', 'apis', 'extensions', 'v1', 'other', 'pods', '', '', ['pods']],
  // api group identification
  ['POST', '/apis/extensions/v1/namespaces/other/pods', 'create', 'apis', 'extensions', 'v1', 'other', 'pods', '', '', ['pods']],
  // api version identification
  ['POST', '/apis/extensions/v1beta3/namespaces/other/pods', 'create', 'apis', 'extensions', 'v1beta3', 'other', 'pods', '', '', ['pods']],
  // cluster-scoped resources in groups
  ['GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles/system:aggregate-to-admin', 'get', 'apis', 'rbac.authorization.k8s.io', 'v1', '', 'clusterroles', '', 'system:aggregate-to-admin', ['clusterroles', 'system:aggregate-to-admin']],
  ['POST', '/apis/certificates.k8s.io/v1/certificatesigningrequests', 'create', 'apis', 'certificates.k8s.io', 'v1', '', 'certificatesigningrequests', '', '', ['certificatesigningrequests']],
  // fieldSelector metadata.name narrows a list or watch to a name
  ['GET', '/api/v1/namespaces/other/pods?fieldSelector=metadata.name%3Dfoo', 'list', 'api', '', 'v1', 'other', 'pods', '', 'foo', ['pods']],
  ['GET', '/api/v1/namespaces/other/pods?fieldSelector=metadata.name%3D%3Dfoo&watch=true', 'watch', 'api', '', 'v1', 'other', 'pods', '', 'foo', ['pods']],
  ['GET', '/api/v1/namespaces/other/pods?fieldSelector=metadata.name!%3Dfoo', 'list', 'api', '', 'v1', 'other', 'pods', '', '', ['pods']],
  ['GET', '/api/v1/namespaces/other/pods?fieldSelector=spec.nodeName%3Dn1,metadata.name%3Dfoo', 'list', 'api', '', 'v1', 'other', 'pods', '', 'foo', ['pods']],
  ['GET', '/api/v1/namespaces/other/pods?fieldSelector=metadata.name%3D..', 'list', 'api', '', 'v1', 'other', 'pods', '', '', ['pods']],
  // percent-encoding decoded once, as Go's URL.Path is
  ['GET', '/api/v1/namespaces/%6fther/pods', 'list', 'api', '', 'v1', 'other', 'pods', '', '', ['pods']],
];

const nonResourceCases: [string, string, string][] = [
  ['GET', '/', 'get'],
  ['GET', '/healthz', 'get'],
  ['GET', '/api', 'get'],
  ['GET', '/api/v1', 'get'],
  ['GET', '/apis', 'get'],
  ['GET', '/apis/extensions', 'get'],
  ['GET', '/apis/extensions/v1', 'get'],
  ['GET', '/version', 'get'],
  ['GET', '/openapi/v3/api/v1', 'get'],
  ['POST', '/apis/extensions', 'post'],
  ['GET', '/other/path/with/many/parts', 'get'],
];

// [method, url, refusal code]: what the API server could read differently, or cannot resolve
const refusals: [string, string, string][] = [
  ['GET', '/api/v1/proxy', 'unresolvable_request'],
  ['GET', '/api/v1/watch', 'unresolvable_request'],
  ['GET', '/api/v1/namespaces/other/pods/', 'path_empty_segment'],
  ['GET', '/api/v1//namespaces/other/pods', 'path_empty_segment'],
  ['GET', '/api/v1/namespaces/prod/../dev/pods', 'path_dot_segment'],
  ['GET', '/api/v1/namespaces/./pods', 'path_dot_segment'],
  ['GET', '/api/v1/namespaces/%2e%2e/pods', 'path_dot_segment'],
  ['GET', '/api/v1/namespaces/a%2Fb/pods', 'path_encoded_separator'],
  ['GET', '/api/v1/namespaces/a%5cb/pods', 'path_encoded_separator'],
  ['GET', '/api/v1/namespaces/a%zz/pods', 'path_bad_encoding'],
  ['GET', '/api/v1/namespaces/%c0%af/pods', 'path_bad_encoding'],
  ['GET', '/api/v1/namespaces/a%00/pods', 'path_bad_character'],
  ['GET', '/api/v1/namespaces/a;b/pods', 'path_parameters'],
  ['GET', '/api/v1/pods?watch=true&watch=false', 'query_duplicate_parameter'],
  ['GET', '/api/v1/pods?fieldSelector=metadata.name%3Da&fieldSelector=metadata.name%3Db', 'query_duplicate_parameter'],
  ['GET', '/api/v1/pods?watch=yes', 'query_bad_value'],
  ['GET', '/api/v1/pods?watch=', 'query_bad_value'],
  ['GET', '/api/v1/pods?limit=ten', 'query_bad_value'],
  ['GET', '/api/v1/pods?watch=1;a=b', 'query_semicolon'],
  ['GET', '/api/v1/pods?fieldSelector=metadata.name%3Da,metadata.name%3Db', 'query_bad_value'],
  ['GET', '/api/v1/pods?fieldSelector=metadata.name%3Da%5C,b', 'query_bad_value'],
  ['GET', '/api/v1/namespaces/other/pods/foo?watch=true', 'query_bad_value'],
  ['DELETE', '/api/v1/watch/pods', 'unresolvable_request'],
  ['OPTIONS', '/api/v1/pods', 'method_not_allowed'],
  ['GET', 'api/v1/pods', 'bad_request_target'],
  ['GET', '/api/v1/pods#x', 'bad_request_target'],
];

test('resource requests resolve as kube-apiserver resolves them', () => {
  for (const [method, url, verb, apiPrefix, apiGroup, apiVersion, namespace, resource, subresource, name, parts] of resourceCases) {
    const r = resolveRequestAttributes(method, url);
    assert.ok(r.ok, `${method} ${url}: ${!r.ok ? r.message : ''}`);
    const a = r.attributes;
    assert.deepEqual(
      { isResourceRequest: a.isResourceRequest, verb: a.verb, apiPrefix: a.apiPrefix, apiGroup: a.apiGroup, apiVersion: a.apiVersion, namespace: a.namespace, resource: a.resource, subresource: a.subresource, name: a.name, parts: a.parts },
      { isResourceRequest: true, verb, apiPrefix, apiGroup, apiVersion, namespace, resource, subresource, name, parts },
      `${method} ${url}`,
    );
  }
});

test('non-resource requests keep the lower-case method as verb', () => {
  for (const [method, url, verb] of nonResourceCases) {
    const r = resolveRequestAttributes(method, url);
    assert.ok(r.ok, `${method} ${url}`);
    assert.equal(r.attributes.isResourceRequest, false, url);
    assert.equal(r.attributes.verb, verb, url);
    assert.equal(r.attributes.resource, '', url);
  }
});

test('what the API server could read differently is refused, each with its reason', () => {
  for (const [method, url, code] of refusals) {
    const r = resolveRequestAttributes(method, url);
    assert.ok(!r.ok, `${method} ${url} should be refused`);
    assert.equal(r.code, code, `${method} ${url}: ${r.message}`);
  }
});

// The forwarded form must mean what was decided: re-resolving the encoded path and query gives the
// same attributes, and Go's single decoding of the encoded path gives back the decided path.
const segment = fc.stringMatching(/^[a-z0-9:._~@!$'()*+,=-]{1,12}$/).filter((s) => s !== '.' && s !== '..');
const anyText = fc.string({ minLength: 1, maxLength: 8 });
test('forwarded paths and queries resolve to the decided attributes (property)', () => {
  fc.assert(
    fc.property(
      fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'),
      fc.constantFrom('/api/v1', '/apis/apps/v1', '/apis/batch/v1'),
      fc.option(segment, { nil: undefined }),
      fc.array(fc.oneof(segment, anyText), { minLength: 1, maxLength: 4 }),
      fc.array(fc.tuple(fc.constantFrom('labelSelector', 'limit', 'pretty', 'container', 'x'), anyText), { maxLength: 3 }),
      (method, base, ns, rest, params) => {
        const encodeSeg = (s: string) => encodeURIComponent(s);
        const url = `${base}${ns ? `/namespaces/${encodeSeg(ns)}` : ''}/${rest.map(encodeSeg).join('/')}${params.length ? `?${params.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')}` : ''}`;
        const first = resolveRequestAttributes(method, url);
        if (!first.ok) return;
        const a = first.attributes;
        const again = resolveRequestAttributes(method, `${a.encodedPath}${a.encodedQuery ? `?${a.encodedQuery}` : ''}`);
        assert.ok(again.ok, `${url} → ${a.encodedPath}?${a.encodedQuery}`);
        assert.deepEqual({ ...again.attributes, encodedPath: '', encodedQuery: '' }, { ...a, encodedPath: '', encodedQuery: '' });
        assert.equal(decodeURIComponent(a.encodedPath), a.path);
        assert.deepEqual([...new URLSearchParams(a.encodedQuery)], a.query);
      },
    ),
    { numRuns: 2000 },
  );
});
