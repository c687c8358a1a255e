// Matching requests to the operations of an OpenAPI 3 document, as the upstream would route them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseOpenApi } from '../../fargate-proxy/src/protocols/http/openapi.js';
import { createClassifier } from '../../fargate-proxy/src/protocols/http/classify.js';

const DOC = `
openapi: 3.0.3
info: { title: billing, version: "1" }
servers:
  - url: https://billing.internal/{prefix}/v2
    variables: { prefix: { default: api } }
paths:
  /invoices:
    get: { operationId: listInvoices, tags: [invoices] }
    post: { operationId: createInvoice, tags: [invoices, money] }
  /invoices/{id}:
    get: { operationId: getInvoice, tags: [invoices] }
    delete: { operationId: voidInvoice }
  /invoices/search:
    post: { operationId: searchInvoices }
  /invoices/{id}/pdf:
    get: { operationId: invoicePdf }
  /files/{name}.json:
    get: { operationId: jsonFile }
  /health:
    servers: [{ url: / }]
    get: { operationId: health }
`;

const m = parseOpenApi(DOC, { caseSensitive: true, source: 'billing.yaml' });
const id = (method: string, path: string) => m.match(method, path)?.operationId;

test('method + path template below the server base path', () => {
  assert.equal(id('GET', '/api/v2/invoices'), 'listInvoices');
  assert.equal(id('POST', '/api/v2/invoices'), 'createInvoice');
  assert.equal(id('GET', '/api/v2/invoices/42'), 'getInvoice');
  assert.equal(id('DELETE', '/api/v2/invoices/42'), 'voidInvoice');
  assert.equal(id('GET', '/api/v2/invoices/42/pdf'), 'invoicePdf');
  assert.equal(id('GET', '/api/v2/files/report.json'), 'jsonFile');
  assert.deepEqual(m.match('POST', '/api/v2/invoices')?.tags, ['invoices', 'money']);
  // A path item's own servers replace the document's.
  assert.equal(id('GET', '/health'), 'health');
  assert.equal(id('GET', '/api/v2/health'), undefined);
});

test('concrete paths before templated ones; a parameter is exactly one segment', () => {
  assert.equal(id('POST', '/api/v2/invoices/search'), 'searchInvoices');
  assert.equal(id('GET', '/api/v2/invoices/search'), 'getInvoice', 'GET has no concrete /search: the template matches');
  assert.equal(id('GET', '/api/v2/invoices/a/b'), undefined);
  assert.equal(id('GET', '/api/v2/files/report.xml'), undefined);
});

test('no operation outside the base path, for other methods, or for unknown paths; HEAD is GET', () => {
  assert.equal(id('GET', '/invoices'), undefined);
  assert.equal(id('GET', '/api/v2x/invoices'), undefined);
  assert.equal(id('PUT', '/api/v2/invoices/1'), undefined);
  assert.equal(id('GET', '/api/v2/admin'), undefined);
  assert.equal(id('HEAD', '/api/v2/invoices/1'), 'getInvoice');
});

test('a case-insensitive target matches templates case-insensitively', () => {
  const ci = parseOpenApi(DOC, { caseSensitive: false, source: 'x' });
  assert.equal(ci.match('GET', '/API/v2/Invoices/1')?.operationId, 'getInvoice');
  assert.equal(ci.match('GET', '/api/v2/invoices')?.operationId, 'listInvoices');
  assert.equal(ci.match('GET', '/API/V2/INVOICES')?.operationId, 'listInvoices');
  assert.equal(m.match('GET', '/API/V2/INVOICES'), undefined);
});

test('documents that are not OpenAPI 3, or name an operation twice, are refused at start', () => {
  assert.throws(() => parseOpenApi('swagger: "2.0"\npaths: {}', { caseSensitive: true, source: 'old.yaml' }), /not an OpenAPI 3 document/);
  assert.throws(() => parseOpenApi('openapi: 3.1.0\npaths: { /a: { get: { operationId: x } }, /b: { get: { operationId: x } } }', { caseSensitive: true, source: 'd.yaml' }), /appears twice/);
  assert.ok(parseOpenApi('{"openapi":"3.1.0","paths":{"/a":{"get":{"operationId":"a"}}}}', { caseSensitive: true, source: 'j.json' }).match('GET', '/a'));
});

test('route rules may name operations; unmatched requests are opaque only when the target says so', () => {
  const rules = [
    { id: 'search-is-read', operations: ['searchInvoices'], action: 'read' as const },
    { id: 'pdf-is-write', methods: ['GET'], path: '/exports/**', action: 'write' as const },
  ];
  const opaque = createClassifier(rules, true, true);
  assert.deepEqual(opaque('POST', '/invoices/search', 'searchInvoices'), { action: 'read', route: 'search-is-read' });
  assert.deepEqual(opaque('POST', '/invoices', 'createInvoice'), { action: 'write', route: '' });
  assert.deepEqual(opaque('GET', '/admin', ''), { action: 'opaque', route: '' });
  assert.deepEqual(opaque('GET', '/exports/a', ''), { action: 'write', route: 'pdf-is-write' }, 'an explicit route rule classifies an undocumented path');
  const pass = createClassifier(rules, true, false);
  assert.deepEqual(pass('GET', '/admin', ''), { action: 'read', route: '' });
  assert.deepEqual(pass('POST', '/invoices/search', undefined), { action: 'write', route: '' }, 'no document: an operations rule never matches');
});
