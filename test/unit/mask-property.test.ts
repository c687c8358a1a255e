// Properties over generated inputs (fast-check): maskCell never throws, and whatever a detector
// found never survives in the masked output, whatever surrounds it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createMasker, findSensitive, MASK_STYLES, type DetectorName, type MaskStyle } from '../../core/mask/index.js';
import { Gen, prng } from '../fixtures/masking-corpus/generate.js';

const KEY = 'property-test-key-0123456789';

/** One realistic sensitive value per detector, from the corpus generator, seeded by fast-check. */
const VALUES: Record<string, (g: Gen) => string> = {
  card: (g) => g.card(),
  ssn: (g) => g.ssn(),
  email: (g) => g.email(),
  phone: (g) => g.phone(),
  iban: (g) => g.iban(),
  aws_access_key: (g) => g.awsAccessKey(),
  github_token: (g) => g.githubToken(),
  gitlab_token: (g) => g.gitlabToken(),
  slack_token: (g) => g.slackToken(),
  stripe_key: (g) => g.stripeKey(),
  openai_key: (g) => g.openaiKey(),
  jwt: (g) => g.jwt(),
  private_key: (g) => g.privateKey(),
  secret_assignment: (g) => `password=${g.password()}`,
  connection_password: (g) => `postgres://app:${g.password().replace(/[#/?@]/g, 'x')}@db:5432/x`,
};

const sensitive = fc.record({ kind: fc.constantFrom(...Object.keys(VALUES)), seed: fc.integer() }).map(({ kind, seed }) => VALUES[kind]!(new Gen(prng(seed))));
const filler = fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom(' ', ', ', '\n', '"', '{"a": "', '": "', '=', ' x '));
const text = fc.array(fc.oneof(filler, sensitive), { maxLength: 8 }).map((parts) => parts.join(''));

function maskerWith(s: MaskStyle) {
  const detectors: Partial<Record<DetectorName, { style: MaskStyle }>> = {};
  for (const d of Object.keys(VALUES) as DetectorName[]) detectors[d] = { style: s };
  return createMasker({ enabled: true, detectors, columnRules: [{ pattern: 'secret_*', style: s }], tokenizationKey: KEY });
}

test('maskCell and maskText never throw, on arbitrary unicode too', () => {
  const maskers = MASK_STYLES.map(maskerWith);
  fc.assert(
    fc.property(fc.oneof(text, fc.string({ unit: 'binary', maxLength: 200 })), fc.nat(3), (value, i) => {
      const m = maskers[i]!;
      const plan = m.planColumns(['note', 'secret_x']);
      m.maskCell(value, plan, 0);
      m.maskCell(value, plan, 1);
      m.maskText(value);
    }),
    { numRuns: 1500 },
  );
});

test('a detected value never appears in the masked output (redact, tokenize, partial)', () => {
  const maskers = new Map(MASK_STYLES.map((s) => [s, maskerWith(s)] as const));
  fc.assert(
    fc.property(text, fc.constantFrom<MaskStyle>('redact', 'tokenize', 'partial'), (value, s) => {
      const findings = findSensitive(value, () => true);
      const m = maskers.get(s)!;
      const out = m.maskCell(value, m.planColumns(['note']), 0);
      assert.equal(out === undefined, findings.length === 0);
      for (const f of findings) {
        const raw = value.slice(f.start, f.end);
        // A short raw value can occur by chance in the untouched remainder; real secrets are long.
        if (raw.length >= 8) assert.ok(!out!.includes(raw), `${f.detector} value survived: ${raw}`);
      }
    }),
    { numRuns: 1500 },
  );
});

test('format-preserving keeps the length of each span and never reproduces a long value', () => {
  const m = maskerWith('format-preserving');
  fc.assert(
    fc.property(sensitive, (value) => {
      const findings = findSensitive(value, () => true);
      const out = m.maskText(value) ?? value;
      if (findings.every((f) => f.detector !== 'secret_assignment' && f.detector !== 'connection_password')) {
        assert.equal(out.length, value.length);
      }
      for (const f of findings) {
        const raw = value.slice(f.start, f.end);
        if (raw.length >= 12) assert.ok(!out.includes(raw));
      }
    }),
    { numRuns: 500 },
  );
});

test('every generated sensitive value is found, also when embedded in JSON', () => {
  fc.assert(
    fc.property(sensitive, (value) => {
      assert.ok(findSensitive(value, () => true).length > 0, value);
      const json = JSON.stringify({ field: value });
      assert.ok(findSensitive(json, () => true).length > 0, json);
    }),
    { numRuns: 1000 },
  );
});

test('adversarial inputs (200 kB of near-misses) are scanned without blow-up', () => {
  // No timing assertion: a quadratic scanner would take minutes here and trip the runner's timeout.
  const n = 200_000;
  const inputs = [
    'a@'.repeat(n / 2), '1 '.repeat(n / 2), '4111 '.repeat(n / 5), '-----BEGIN '.repeat(n / 11), 'eyJhbGciOiJIUzI1NiJ9.'.repeat(n / 21),
    'password='.repeat(n / 9), 'postgres://u:p@'.repeat(n / 15), 'GB82 '.repeat(n / 5), `sk-${'a'.repeat(n)}`, '(5'.repeat(n / 2),
    '\\"token\\": \\"'.repeat(n / 14), ('aws_secret_access_key=' + 'aB3/'.repeat(20)).repeat(n / 102),
  ];
  const m = createMasker({ enabled: true, detectors: {}, columnRules: [] });
  for (const input of inputs) m.maskText(input);
});
