// The canonical path: one reading of every request path, or a refusal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalPath, type PathRules } from '../../fargate-proxy/src/protocols/http/canonical-path.js';
import { compilePattern } from '../../fargate-proxy/src/protocols/http/classify.js';

const rules: PathRules = { caseSensitive: true, semicolons: 'refuse', trailingSlash: 'strip' };
const path = (p: string, r: Partial<PathRules> = {}) => {
  const c = canonicalPath(p, { ...rules, ...r });
  return c.ok ? c.path : `!${c.code}`;
};

test('evasions of /admin read as /admin', () => {
  for (const p of ['/admin', '/%61dmin', '/%61%64%6D%69%6E', '/./admin', '//admin', '/admin/', '/x/../admin', '/%2e/admin', '/x/%2e%2e/admin', '///admin//', '/admin/.']) {
    assert.equal(path(p), '/admin', p);
  }
});

test('case is significant unless the target says otherwise', () => {
  assert.equal(path('/ADMIN'), '/ADMIN');
  assert.equal(path('/ADMIN', { caseSensitive: false }), '/admin');
  assert.equal(path('/%41DMIN', { caseSensitive: false }), '/admin');
});

test('what has no single reading is refused', () => {
  assert.equal(path('/a%2fadmin'), '!path_encoded_separator');
  assert.equal(path('/a%2Fadmin'), '!path_encoded_separator');
  assert.equal(path('/a%5cadmin'), '!path_encoded_separator');
  assert.equal(path('/%c0%afadmin'), '!path_bad_encoding', 'overlong "/"');
  assert.equal(path('/%c0%ae%c0%ae/admin'), '!path_bad_encoding', 'overlong ".."');
  assert.equal(path('/%e0%80%afadmin'), '!path_bad_encoding', 'three-byte overlong');
  assert.equal(path('/%ed%a0%80'), '!path_bad_encoding', 'a UTF-16 surrogate');
  assert.equal(path('/%zz'), '!path_bad_encoding');
  assert.equal(path('/admin%00.json'), '!path_bad_character');
  assert.equal(path('/..'), '!path_above_base');
  assert.equal(path('/a/../../etc/passwd'), '!path_above_base');
  assert.equal(path('/%2e%2e/x'), '!path_above_base');
  assert.equal(path('/admin;jsessionid=1'), '!path_parameters');
  assert.equal(path('/admin;x=1/users', { semicolons: 'strip' }), '/admin/users');
  assert.equal(path('/a\\b'), '!path_bad_character');
});

test('re-encoding forwards exactly what was decided', () => {
  const c = canonicalPath('/r%C3%A9sum%C3%A9/a%20b/%2561', rules);
  assert.ok(c.ok);
  assert.equal(c.path, '/résumé/a b/%61');
  assert.equal(c.encoded, '/r%C3%A9sum%C3%A9/a%20b/%2561');
  assert.equal(decodeURIComponent(c.encoded), c.path, 'one decoding by the upstream gives the decided path');
  assert.equal(path('/admin/', { trailingSlash: 'keep' }), '/admin/');
  assert.equal(path('/'), '/');
});

test('route patterns: * within a segment, ** across segments', () => {
  assert.ok(compilePattern('/search').test('/search'));
  assert.ok(!compilePattern('/search').test('/search/x'));
  assert.ok(compilePattern('/v1/*/search').test('/v1/users/search'));
  assert.ok(!compilePattern('/v1/*/search').test('/v1/a/b/search'));
  assert.ok(compilePattern('/v1/**').test('/v1/a/b'));
  assert.ok(compilePattern('/v1/**').test('/v1'));
  assert.ok(compilePattern('/files/*.json').test('/files/a.json'));
  assert.ok(!compilePattern('/a.b').test('/aXb'), 'dots are literal');
});
