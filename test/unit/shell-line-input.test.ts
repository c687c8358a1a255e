// Keystrokes → lines: what the gateway inspects is exactly what it forwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LineAssembler, type TypedInput } from '../../core/shell/line-input.js';

const typed = (...chunks: (string | number[])[]): TypedInput[] => {
  const a = new LineAssembler(64);
  return chunks.flatMap((c) => a.push(typeof c === 'string' ? Buffer.from(c, 'utf8') : Uint8Array.from(c)));
};

test('CR, LF and CR LF each end one line', () => {
  assert.deepEqual(typed('ls\rpwd\nid\r\nwho\r'), [
    { kind: 'line', text: 'ls', terminator: '\r' },
    { kind: 'line', text: 'pwd', terminator: '\n' },
    { kind: 'line', text: 'id', terminator: '\r' },
    { kind: 'line', text: 'who', terminator: '\r' },
  ]);
});

test('lines split across chunks, and multi-byte characters split across chunks, arrive whole', () => {
  const bytes = Buffer.from('echo héllo ✓\r', 'utf8');
  const a = new LineAssembler();
  const out = [...bytes].flatMap((b) => a.push(Uint8Array.from([b])));
  assert.deepEqual(out, [{ kind: 'line', text: 'echo héllo ✓', terminator: '\r' }]);
});

test('backspace, ^U and ^W are applied by the gateway: the forwarded text is the edited line', () => {
  assert.deepEqual(typed('rm -rf /x', [0x15], 'ls\r'), [{ kind: 'line', text: 'ls', terminator: '\r' }]);
  assert.deepEqual(typed('ls /tmpx', [0x7f], '\r'), [{ kind: 'line', text: 'ls /tmp', terminator: '\r' }]);
  assert.deepEqual(typed('cat é', [0x7f], 'e\r'), [{ kind: 'line', text: 'cat e', terminator: '\r' }], 'backspace erases a character, not a byte');
  assert.deepEqual(typed('echo one two  ', [0x17], 'three\r'), [{ kind: 'line', text: 'echo one three', terminator: '\r' }]);
  assert.deepEqual(typed([0x7f, 0x7f], 'id\r'), [{ kind: 'line', text: 'id', terminator: '\r' }], 'backspace on an empty line does nothing');
});

test('tab completion, arrows/history and other escape sequences make the line rejected, never guessed', () => {
  assert.deepEqual(typed('rm fo\t\r'), [{ kind: 'rejected', reason: 'tab completion happens on the server, after inspection' }]);
  assert.equal(typed('\x1b[A\r')[0]?.kind, 'rejected', 'history recall');
  assert.equal(typed('\x1b[200~rm -rf /\x1b[201~\r')[0]?.kind, 'rejected', 'bracketed paste');
  assert.equal(typed('ls\x0c\r')[0]?.kind, 'rejected', 'other control characters');
  // The rejection covers only its own line.
  assert.deepEqual(typed('a\tb\rls\r')[1], { kind: 'line', text: 'ls', terminator: '\r' });
});

test('^C, ^Z and ^\\ act at once and drop the half-typed line; ^D only on an empty line', () => {
  assert.deepEqual(typed('rm -rf /', [0x03], 'id\r'), [
    { kind: 'control', name: 'interrupt (^C)', bytes: Buffer.from([0x03]) },
    { kind: 'line', text: 'id', terminator: '\r' },
  ]);
  assert.deepEqual(typed([0x04]), [{ kind: 'control', name: 'end of input (^D)', bytes: Buffer.from([0x04]) }]);
  assert.deepEqual(typed('ls', [0x04], '\r'), [{ kind: 'line', text: 'ls', terminator: '\r' }], '^D inside a line is not forwarded');
  assert.equal(typed('sleep 9', [0x1a])[0]?.kind, 'control');
});

test('a line longer than the limit is rejected whole', () => {
  const out = typed('echo ' + 'x'.repeat(100) + '\r');
  assert.deepEqual(out, [{ kind: 'rejected', reason: 'the line is longer than 64 bytes' }]);
});

test('property: whatever is typed, a forwarded line holds no control characters and splitting input into chunks changes nothing', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(300), { maxLength: 5 }), (bytes, cuts) => {
      const whole = new LineAssembler(64).push(bytes);
      const a = new LineAssembler(64);
      const points = [...new Set(cuts.map((c) => Math.min(c, bytes.length)))].sort((x, y) => x - y);
      const pieces: TypedInput[] = [];
      let from = 0;
      for (const p of [...points, bytes.length]) {
        pieces.push(...a.push(bytes.subarray(from, p)));
        from = p;
      }
      assert.deepEqual(pieces, whole);
      for (const e of whole) if (e.kind === 'line') assert.doesNotMatch(e.text, /[\x00-\x1f\x7f]/);
    }),
  );
});
