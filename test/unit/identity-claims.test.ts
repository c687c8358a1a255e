import { test } from 'node:test';
import assert from 'node:assert/strict';
import { groupsFrom, principalFromClaims, TokenRejectedError } from '../../core/identity/index.js';

const names = { principalClaim: 'sub', groupsClaim: 'groups' };
const base = { iss: 'https://idp.example', sub: 'agent-7', exp: 2_000_000_000 };

test('groups come from an array or a space-separated string; non-strings are dropped', () => {
  assert.deepEqual(groupsFrom(['a', 'b']), ['a', 'b']);
  assert.deepEqual(groupsFrom('  a b\tc '), ['a', 'b', 'c']);
  assert.deepEqual(groupsFrom(['a', 1, null, { admin: true }, '']), ['a']);
  assert.deepEqual(groupsFrom(undefined), []);
  assert.deepEqual(groupsFrom({ 0: 'admin' }), []);
});

test('client id comes from client_id, else azp; optional fields are absent when the claims are', () => {
  assert.equal(principalFromClaims({ ...base, azp: 'web' }, names).clientId, 'web');
  assert.equal(principalFromClaims({ ...base, client_id: 'cli', azp: 'web' }, names).clientId, 'cli');
  const bare = principalFromClaims({ iss: base.iss, sub: 'x' }, names);
  assert.deepEqual(bare, { id: 'x', groups: [], issuer: base.iss });
});

test('configured claims may be nested (dotted) names', () => {
  const principal = principalFromClaims(
    { ...base, preferred_username: 'ana', realm_access: { roles: ['dba'] } },
    { principalClaim: 'preferred_username', groupsClaim: 'realm_access.roles' },
  );
  assert.equal(principal.id, 'ana');
  assert.deepEqual(principal.groups, ['dba']);
});

test('a principal claim that is missing, empty or not a string is missing_claim', () => {
  for (const sub of [undefined, '', 42, ['agent']]) {
    assert.throws(
      () => principalFromClaims({ ...base, sub: sub as string }, names),
      (err: unknown) => err instanceof TokenRejectedError && err.code === 'missing_claim',
    );
  }
});
