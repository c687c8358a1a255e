// The query parameter names policy sees: WHATWG's, plus what qs, PHP and Rack read the names as.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import qs from 'qs';
import { queryParamNames } from '../../fargate-proxy/src/protocols/http/query-names.js';

test('every name an upstream parser reads is among the names policy sees', () => {
  const has = (query: string, name: string) => assert.ok(queryParamNames(query).includes(name), `${query} → ${name}: ${JSON.stringify(queryParamNames(query))}`);
  has('all=1', 'all');
  has('all[]=1', 'all');
  has('%61ll%5Bx%5D%5By%5D=1', 'all');
  has('x=1;all=1', 'all'); // Rack 2, Python before 3.9.2
  has('a.b=1', 'a_b'); // PHP
  has('a+b=1', 'a_b');
  has('q=%E2%82%AC+x', 'q');
  // Whatever qs makes of a query, its top-level keys are among ours.
  for (const q of ['a[b]=1&c=2', 'x[0]=1&x[1]=2', 'p%5B%5D=1', 'k=v&k=w', 'z[=1', '[a]=1']) {
    for (const key of Object.keys(qs.parse(q))) has(q, key);
  }
  assert.deepEqual(queryParamNames(''), []);
});
