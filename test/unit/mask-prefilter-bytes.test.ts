// The result stream's prefilter reads a cell's UTF-8 bytes without decoding them; it must give the
// signals the decoded text gives, or a cell with a sensitive value could pass unmasked. Checked over
// generated text (ASCII around the detectors' classes, non-ASCII, astral characters) and over raw
// bytes that are not valid UTF-8 (what the decoder would turn into U+FFFD).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ALL_SIGNALS, scanSignals, scanSignalsInBytes } from '../../core/mask/prefilter.js';
import { createMasker, DEFAULT_MASKING_CONFIG, findSensitive } from '../../core/mask/index.js';
import { Gen, prng } from '../fixtures/masking-corpus/generate.js';

// Characters that start, extend or end every signal, plus non-ASCII neighbours.
const pieces = fc.constantFrom('0', '7', '9', 'A', 'Z', 'G', 'B', 'a', 'z', '_', '-', '.', ' ', '(', ')', '+', '@', '=', ':', '/', 'é', 'É', '٣', '１', '€', '😀', '\u0000', '\n', '-----', 'GB82', 'eyJ');
const texts = fc.array(pieces, { maxLength: 80 }).map((p) => p.join(''));

test('signals from UTF-8 bytes equal signals from the decoded text', () => {
  fc.assert(
    fc.property(texts, fc.nat(8), fc.nat(8), (text, pre, post) => {
      const inner = Buffer.from(text, 'utf8');
      // The cell sits inside a larger row buffer, as it does in a DataRow.
      const row = Buffer.concat([Buffer.alloc(pre, 0x41), inner, Buffer.alloc(post, 0x31)]);
      assert.deepEqual(scanSignalsInBytes(row, pre, pre + inner.length), scanSignals(text));
    }),
    { numRuns: 5000 },
  );
});

test('signals from bytes that are not valid UTF-8 equal those of their decoding', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const b = Buffer.from(bytes);
      assert.deepEqual(scanSignalsInBytes(b, 0, b.length), scanSignals(b.toString('utf8')));
    }),
    { numRuns: 5000 },
  );
});

test('maskCellBytes masks exactly what maskCell masks', () => {
  const a = createMasker(DEFAULT_MASKING_CONFIG);
  const b = createMasker(DEFAULT_MASKING_CONFIG);
  const plan = a.planColumns(['notes']);
  const values = fc.oneof(texts, fc.constantFrom('radia@example.com', '4111 1111 1111 1111', '078-05-1120', 'AKIAIOSFODNN7EXAMPLE', 'password=hunter22', 'ok'));
  fc.assert(
    fc.property(values, (text) => {
      const bytes = Buffer.from(text, 'utf8');
      assert.equal(b.maskCellBytes(bytes, 0, bytes.length, plan, 0), a.maskCell(text, plan, 0));
    }),
    { numRuns: 3000 },
  );
  assert.deepEqual(b.takeSummary(), a.takeSummary());
});

// The prefilter may only skip work: whatever the detectors find with every signal on, they find
// with the signals the scan gives. Sensitive values of every family, cut and glued to filler and to
// lower-case words (which alone never make a long token), in upper and lower case.
const sensitive = fc.record({ kind: fc.nat(13), seed: fc.integer() }).map(({ kind, seed }) => {
  const g = new Gen(prng(seed));
  return [g.card(), g.ssn(), g.email(), g.phone(), g.iban(), g.awsAccessKey(), `aws_secret_access_key=${g.awsSecretKey()}`, g.githubToken(), g.gitlabToken(), g.slackToken(), g.stripeKey(), g.openaiKey(), g.jwt(), g.privateKey()][kind]!;
});
const fragment = fc.oneof(pieces, sensitive, fc.constantFrom('md5', 'abcdef0123456789abcdef0123456789', 'secretaccesskey ', 'internationalization', 'SCRAM-SHA-256$4096:', 'password=', 'postgres://u:p@h/db'));
const mixed = fc.tuple(fc.array(fragment, { maxLength: 6 }), fc.nat(), fc.boolean()).map(([parts, cut, lower]) => {
  const t = parts.join('');
  const s = t.slice(cut % (t.length + 1));
  return lower ? s.toLowerCase() : s;
});

test('the prefilter hides no finding: detectors given its signals find what they find with every signal on', () => {
  const all = (): boolean => true;
  fc.assert(
    fc.property(mixed, (text) => {
      assert.deepEqual(findSensitive(text, all), findSensitive(text, all, ALL_SIGNALS));
    }),
    { numRuns: 5000 },
  );
});
