// The masker as the PostgreSQL path and the audit trail use it: styles, column rules, JSON cells,
// free text, summaries and configuration errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMasker, findSensitive, parseMaskingConfig, type MaskingConfig } from '../../core/mask/index.js';
import { luhnValid } from '../../core/mask/checksums.js';

const KEY = 'tenant-key-0123456789abcdef';
const base: MaskingConfig = { enabled: true, detectors: {}, columnRules: [] };

function masker(over: Partial<MaskingConfig> = {}) {
  return createMasker({ ...base, ...over });
}

function cell(m: ReturnType<typeof masker>, value: string, column = 'note'): string | undefined {
  return m.maskCell(value, m.planColumns([column]), 0);
}

test('clean cells come back as undefined (unchanged)', () => {
  const m = masker();
  for (const v of ['', 'hello world', '2024-01-15 10:30:00+00', '42', '550e8400-e29b-41d4-a716-446655440000', '$1,234.56']) {
    assert.equal(cell(m, v), undefined, v);
  }
  assert.deepEqual(m.takeSummary(), { detectors: {}, columns: {}, texts: 0 });
});

test('redact: a bracketed placeholder naming the detector', () => {
  const m = masker();
  assert.equal(cell(m, 'card 4111 1111 1111 1111, mail jane@example.com'), 'card [REDACTED:card], mail [REDACTED:email]');
});

test('partial: last 4 of numbers, domain of e-mail, secrets fully redacted', () => {
  const m = masker({
    detectors: { card: { style: 'partial' }, phone: { style: 'partial' }, email: { style: 'partial' }, ssn: { style: 'partial' }, iban: { style: 'partial' }, github_token: { style: 'partial' } },
  });
  assert.equal(cell(m, '4111 1111 1111 1111'), '**** **** **** 1111');
  assert.equal(cell(m, '(415) 555-2671'), '(***) ***-2671');
  assert.equal(cell(m, 'jane.doe@example.com'), '***@example.com');
  assert.equal(cell(m, '078-05-1121'), '***-**-1121');
  assert.equal(cell(m, 'DE89370400440532013000'), '******************3000');
  assert.equal(cell(m, 'ghp_1234567890abcdefghijklmnopqrstuvwxyZ'), '[REDACTED:github_token]');
});

test('tokenize: deterministic per key, different across keys, separator-insensitive', () => {
  const style = { detectors: { card: { style: 'tokenize' as const }, email: { style: 'tokenize' as const } } };
  const a1 = masker({ ...style, tokenizationKey: KEY });
  const a2 = masker({ ...style, tokenizationKey: KEY });
  const b = masker({ ...style, tokenizationKey: 'another-tenant-key-000000' });
  const t1 = cell(a1, '4111111111111111');
  assert.match(t1!, /^\[TOKEN:card:[0-9a-f]{16}\]$/);
  assert.equal(cell(a2, '4111111111111111'), t1, 'same key → same token');
  assert.equal(cell(a1, '4111 1111 1111 1111'), t1, 'separators do not change the token');
  assert.notEqual(cell(b, '4111111111111111'), t1, 'other key → other token');
  assert.notEqual(cell(a1, '5555555555554444'), t1, 'other value → other token');
  assert.equal(cell(a1, 'Jane@Example.com'), cell(a2, 'jane@example.com'), 'e-mail tokens ignore case');
});

test('tokenize without a key is a configuration error that does not echo values', () => {
  assert.throws(() => masker({ detectors: { card: { style: 'tokenize' } } }), /tokenizationKey/);
  let message = '';
  try {
    parseMaskingConfig({ enabled: true, tokenizationKey: 'short-secret' });
  } catch (e) {
    message = String(e);
  }
  assert.match(message, /tokenizationKey/);
  assert.doesNotMatch(message, /short-secret/);
  assert.throws(() => parseMaskingConfig({ enabled: true, detectors: { nope: {} } }), /nope|detectors/);
  assert.throws(() => parseMaskingConfig({ enabled: true, columnRules: [{ pattern: 'ssn', style: 'hide' }] }), /style/);
});

test('format-preserving: same shape, keyed and stable, deliberately invalid card/SSN/IBAN', () => {
  const m = masker({
    tokenizationKey: KEY,
    detectors: { card: { style: 'format-preserving' }, ssn: { style: 'format-preserving' }, iban: { style: 'format-preserving' }, email: { style: 'format-preserving' } },
  });
  const card = cell(m, '4111-1111-1111-1111')!;
  assert.match(card, /^\d{4}-\d{4}-\d{4}-\d{4}$/);
  assert.equal(luhnValid(card.replace(/-/g, '')), false, 'masked card fails Luhn');
  assert.equal(cell(m, '4111-1111-1111-1111'), card, 'stable for a key');
  const ssn = cell(m, '078-05-1121')!;
  assert.match(ssn, /^9\d\d-\d\d-\d{4}$/, 'area 9xx is never issued');
  const iban = cell(m, 'DE89370400440532013000')!;
  assert.match(iban, /^[A-Z]{2}\d{20}$/);
  assert.deepEqual(findSensitive(`${card} ${ssn} ${iban}`, () => true), [], 'masked output is not re-detected');
  const email = cell(m, 'jane.doe@example.com')!;
  assert.match(email, /^[a-z]{4}\.[a-z]{3}@[a-z]{7}\.[a-z]{3}$/);
});

test('column rules: case-insensitive globs mask whatever the content, first rule wins', () => {
  const m = masker({
    tokenizationKey: KEY,
    columnRules: [
      { pattern: 'ssn', style: 'redact' },
      { pattern: 'card_*', style: 'partial' },
      { pattern: '*_TOKEN', style: 'tokenize' },
      { pattern: 'card_?d', style: 'redact' },
    ],
  });
  const plan = m.planColumns(['id', 'SSN', 'card_number', 'session_token', 'card_id', 'notes']);
  assert.deepEqual(plan.styles, [undefined, 'redact', 'partial', 'tokenize', 'partial', undefined]);
  assert.equal(m.maskCell('not-an-ssn-at-all', plan, 1), '[REDACTED:column]');
  assert.equal(m.maskCell('1234567890123456', plan, 2), '************3456');
  assert.match(m.maskCell('abc', plan, 3)!, /^\[TOKEN:column:[0-9a-f]{16}\]$/);
  assert.equal(m.maskCell('plain text', plan, 5), undefined);
  assert.equal(m.maskCell('call 415-555-2671', plan, 5), 'call [REDACTED:phone]');
  assert.equal(m.maskCell('42', plan, 0), undefined);
  assert.deepEqual(m.takeSummary(), { detectors: { phone: 1 }, columns: { SSN: 1, card_number: 1, session_token: 1, notes: 1 }, texts: 0 });
  assert.deepEqual(m.takeSummary(), { detectors: {}, columns: {}, texts: 0 }, 'summary resets');
});

test('JSON cells stay valid JSON: values in strings are replaced in place, bare numbers become strings', () => {
  const m = masker();
  const doc = { user: { email: 'jane@example.com', card: 4111111111111111, notes: ['ssn 078-05-1121', 'ok'] }, n: 3, token: 'abc123' };
  const masked = cell(m, JSON.stringify(doc))!;
  assert.deepEqual(JSON.parse(masked), {
    user: { email: '[REDACTED:email]', card: '[REDACTED:card]', notes: ['ssn [REDACTED:ssn]', 'ok'] },
    n: 3,
    token: '[REDACTED:secret_assignment]',
  });
  const nested = JSON.stringify({ config: JSON.stringify({ password: 'p"w\\d' }) });
  const maskedNested = cell(m, nested)!;
  assert.equal(JSON.parse(JSON.parse(maskedNested).config).password, '[REDACTED:secret_assignment]');
});

test('free text: notices, errors and command output, counted separately', () => {
  const m = masker();
  const out = m.maskText('ERROR: duplicate key (email)=(jane@example.com) already exists\nexport AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY');
  assert.equal(out, 'ERROR: duplicate key (email)=([REDACTED:email]) already exists\nexport AWS_SECRET_ACCESS_KEY=[REDACTED:aws_secret_key]');
  assert.equal(m.maskText('all good'), undefined);
  assert.deepEqual(m.takeSummary(), { detectors: { email: 1, aws_secret_key: 1 }, columns: {}, texts: 1 });
});

test('disabled masking and disabled detectors leave data alone', () => {
  const off = masker({ enabled: false, columnRules: [{ pattern: '*', style: 'redact' }] });
  assert.equal(cell(off, '4111111111111111', 'anything'), undefined);
  assert.equal(off.maskText('jane@example.com'), undefined);
  const noEmail = masker({ detectors: { email: { enabled: false } } });
  assert.equal(cell(noEmail, 'jane@example.com 4111111111111111'), 'jane@example.com [REDACTED:card]');
});
