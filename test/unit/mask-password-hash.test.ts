import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findSensitive } from '../../core/mask/detect.js';

const all = () => true;
const found = (text: string) => findSensitive(text, all).map((f) => [f.detector, text.slice(f.start, f.end)]);

test('SCRAM-SHA-256 verifiers and md5 password hashes, as pg_authid holds them, are found whole', () => {
  const scram = 'SCRAM-SHA-256$4096:lBwE0b5uaA6KQkPpYlP4ag==$q4nYzCW+JR9NlbCfM8vfYhFwHNSHU3R3OYb6Jy6JWAU=:Ur1qnQf2nqVFiVDvQ9Tug5Wdb4yq9yXIYBdc/2xaNYc=';
  assert.deepEqual(found(scram), [['password_hash', scram]]);
  assert.deepEqual(found(`app|${scram}|t`), [['password_hash', scram]]);
  const md5 = 'md5' + '0123456789abcdef'.repeat(2);
  assert.deepEqual(found(md5), [['password_hash', md5]]);
  assert.deepEqual(found(`{"passwd": "${md5}"}`).filter(([d]) => d === 'password_hash'), [['password_hash', md5]]);
});

test('look-alikes are left alone', () => {
  assert.deepEqual(found('md5 of the file is 0123456789abcdef0123456789abcdef'), []);
  assert.deepEqual(found('xmd5' + 'a'.repeat(32)), []);
  assert.deepEqual(found('md5' + 'a'.repeat(31)), []);
  assert.deepEqual(found('SCRAM-SHA-256 is the default'), []);
});
