// Streamed masking of response bodies: the output does not depend on where the stream was cut,
// key rules apply to JSON values, and malformed JSON cannot carry a value past the detectors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createMasker } from '../../core/mask/index.js';
import { createTextMasker, type BodyKind } from '../../fargate-proxy/src/protocols/http/body-mask.js';
import { StreamScrubber } from '../../fargate-proxy/src/protocols/http/credential.js';

const masker = () => createMasker({ enabled: true, detectors: {}, columnRules: [{ pattern: 'ssn', style: 'redact' }], tokenizationKey: 'k'.repeat(32) });

function run(kind: BodyKind, pieces: string[], maxToken = 1 << 20): string {
  const m = createTextMasker(kind, masker(), maxToken);
  return pieces.map((p) => m.push(p)).join('') + m.end();
}

const doc = JSON.stringify({
  customers: [
    { id: 1, email: 'ada@example.com', card: '4111 1111 1111 1111', ssn: 'AB-12', note: 'call +1 415 555 0100', tags: ['vip', 'bo@example.org'] },
    { id: 2, email: 'x\\"y@example.com', nested: { ssn: 42, ok: true, none: null } },
  ],
});

test('JSON: masked values, intact structure, key rules by name', () => {
  const out = run('json', [doc]);
  const parsed = JSON.parse(out) as { customers: Record<string, unknown>[] };
  assert.ok(!out.includes('ada@example.com') && !out.includes('4111 1111 1111 1111') && !out.includes('bo@example.org'));
  assert.notEqual(parsed.customers[0]!.ssn, 'AB-12', 'a key rule masks a value no detector would');
  assert.notEqual((parsed.customers[1]!.nested as Record<string, unknown>).ssn, 42, 'numbers under a masked key too');
  assert.equal((parsed.customers[1]!.nested as Record<string, unknown>).ok, true);
  assert.equal(parsed.customers[0]!.id, 1);
});

test('JSON, NDJSON, SSE and text: the output does not depend on where the stream is cut', () => {
  const samples: [BodyKind, string][] = [
    ['json', doc],
    ['json', `${doc}\n${doc}\n`],
    ['sse', `id: 1\nevent: c\ndata: {"email":"ada@example.com","n":1}\n\ndata: plain bo@example.org\n\n`],
    ['text', 'line one ada@example.com\nline two 4111 1111 1111 1111\n'],
  ];
  for (const [kind, text] of samples) {
    const whole = run(kind, [text]);
    fc.assert(
      fc.property(fc.array(fc.nat(text.length), { maxLength: 8 }), (cuts) => {
        const at = [...new Set(cuts)].sort((a, b) => a - b);
        const pieces = [0, ...at].map((s, i) => text.slice(s, at[i] ?? text.length));
        assert.equal(run(kind, pieces), whole);
      }),
      { numRuns: 150 },
    );
  }
});

test('malformed JSON still has its values masked', () => {
  const out = run('json', ['{"a": ada@example.com, 4111 1111 1111 1111 }']);
  assert.ok(!out.includes('ada@example.com'));
  assert.ok(!out.includes('4111'), out);
});

test('a string longer than the token limit is masked in pieces, memory bounded', () => {
  const long = `{"blob":"${'x'.repeat(5000)} ada@example.com ${'y'.repeat(5000)}"}`;
  const m = createTextMasker('json', masker(), 1024);
  let out = '';
  for (let i = 0; i < long.length; i += 100) out += m.push(long.slice(i, i + 100));
  out += m.end();
  assert.equal(out.length > 10_000, true);
  assert.ok(!out.includes('ada@example.com'));
});

test('the credential scrubber finds a secret split across chunks and holds back only a possible prefix', () => {
  const secret = 'S3CRET-token-value';
  const body = `{"auth":"Bearer ${secret}","x":"${secret.slice(0, 5)}"}\n\n`;
  for (let cut = 1; cut < body.length; cut++) {
    const s = new StreamScrubber([secret]);
    const out = Buffer.concat([s.push(Buffer.from(body.slice(0, cut))), s.push(Buffer.from(body.slice(cut))), s.end()]).toString();
    assert.ok(!out.includes(secret), `cut at ${cut}`);
    assert.equal(out, body.replace(secret, '[airlock:credential]'));
  }
  const s = new StreamScrubber([secret]);
  assert.equal(s.push(Buffer.from('data: 1\n\n')).toString(), 'data: 1\n\n', 'nothing held back when no prefix of the secret ends the chunk');
});
