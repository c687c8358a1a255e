// Identifiers PostgreSQL reads out of strings (SplitIdentifierString): search_path elements and
// regclass text. Expected values are what PostgreSQL 15 returns for the same input (checked with
// `SELECT 'x'::regclass` and `SHOW search_path` on a real server when these cases were written).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { regclassTextName, splitIdentifierString, truncateIdentifier } from '../../core/classify/identifiers.js';

test('unquoted parts fold ASCII to lower case, quoted ones are kept, blanks around dots are allowed', () => {
  assert.deepEqual(regclassTextName('Hidden.Counter'), ['hidden', 'counter']);
  assert.deepEqual(regclassTextName(' "hidden" . COUNTER '), ['hidden', 'counter']);
  assert.deepEqual(regclassTextName('"Odd ""x"""'), ['Odd "x"']);
  assert.deepEqual(regclassTextName('ÄBC'), ['Äbc']);
  assert.deepEqual(regclassTextName('db.hidden.counter'), ['hidden', 'counter']);
});

test('names that are not names: OIDs, "-", junk, empty parts, too many parts', () => {
  for (const text of ['16384', '-', '', '   ', 'a b', 'a..b', '"unterminated', '""', 'a.b.c.d']) assert.equal(regclassTextName(text), undefined, text);
  // Digits after blanks are a name, as PostgreSQL reads them.
  assert.deepEqual(regclassTextName(' 16384'), ['16384']);
});

test('every part is truncated to 63 bytes without splitting a character', () => {
  const long = 'x'.repeat(70);
  assert.deepEqual(regclassTextName(`${long}.t`), ['x'.repeat(63), 't']);
  assert.equal(truncateIdentifier('a'.repeat(62) + 'é'), 'a'.repeat(62));
  assert.equal(truncateIdentifier('a'.repeat(61) + 'é'), 'a'.repeat(61) + 'é');
  assert.deepEqual(splitIdentifierString(`"$user", ${long.toUpperCase()}`, ','), ['$user', 'x'.repeat(63)]);
});
