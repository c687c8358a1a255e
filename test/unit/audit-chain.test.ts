// Properties of the hash chain and digests, over generated sessions: any single edit, removal,
// swap or tail cut is reported; an untouched session never is. Plus SQL literal masking.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { SessionChains, canonicalJson, genesisHash, recordHash, rememberJsonRendering } from '../../core/audit/chain.js';
import { digestGenesis, signDigest } from '../../core/audit/digest.js';
import { verifyAudit } from '../../core/audit/verify.js';
import type { AuditRecord } from '../../core/audit/events.js';
import { maskSqlLiterals, prepareSqlLiteralMasking } from '../../core/audit/sql-literals.js';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');

function session(texts: string[]): AuditRecord[] {
  const chains = new SessionChains();
  return texts.map((text, i) => {
    const r = chains.next({
      type: 'statement',
      sessionId: 'prop',
      statementId: `q${i}`,
      text,
      class: 'read',
      statementTypes: ['SelectStmt'],
      tables: [],
      functions: [],
      decision: { effect: 'allow', policyIds: [], policyVersion: 'v1', reason: 'ok' },
    });
    chains.commit(r);
    return r;
  });
}

function verifyWithDigest(records: AuditRecord[], pinned: AuditRecord) {
  const digest = signDigest(
    { v: 1, writer: 'w', dseq: 1, at: new Date().toISOString(), prev: digestGenesis('w'), sessions: [{ sessionId: 'prop', seq: pinned.seq, hash: pinned.hash }] },
    privateKey,
  );
  return verifyAudit({ sessions: [{ sessionId: 'prop', entries: records }], digests: [digest], publicKey });
}

const texts = fc.array(fc.string({ maxLength: 20 }), { minLength: 2, maxLength: 12 });

test('an untouched chain verifies', () => {
  fc.assert(
    fc.property(texts, (ts) => {
      const recs = session(ts);
      assert.equal(verifyWithDigest(recs, recs[recs.length - 1]!).ok, true);
    }),
  );
});

test('any single edit, removal, swap or tail cut is detected', () => {
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('edit' as const), at: fc.nat(), text: fc.string({ minLength: 1, maxLength: 5 }) }),
    fc.record({ kind: fc.constant('remove' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('swap' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  );
  fc.assert(
    fc.property(texts, mutation, (ts, m) => {
      const recs = session(ts);
      const head = recs[recs.length - 1]!;
      const i = m.at % recs.length;
      const damaged = [...recs];
      if (m.kind === 'edit') {
        const r = damaged[i] as Extract<AuditRecord, { type: 'statement' }>;
        damaged[i] = { ...r, text: `${r.text}${m.text}` };
      } else if (m.kind === 'remove') damaged.splice(i, 1);
      else if (m.kind === 'swap') {
        const j = (i + 1) % recs.length;
        [damaged[i], damaged[j]] = [damaged[j]!, damaged[i]!];
      } else damaged.splice(Math.max(1, i));
      if (m.kind === 'cut' && damaged.length === recs.length) return; // nothing was cut
      assert.equal(verifyWithDigest(damaged, head).ok, false, `${m.kind} at ${i} went unnoticed`);
    }),
  );
});

test('SQL literals are masked with the PostgreSQL scanner; structure and short numbers stay', async () => {
  await prepareSqlLiteralMasking();
  const cases: Array<[string, string]> = [
    ["select * from users where email = 'a@b.c'", "select * from users where email = '***'"],
    ["alter role app password 'hunter2'", "alter role app password '***'"],
    ['select $$secret$$, $t$x$t$', "select '***', '***'"],
    ["select E'it\\'s', U&'d\\0061t', B'101', X'1F'", "select '***', '***', '***', '***'"],
    ['select * from cards where pan = 4111111111111111 limit 10', 'select * from cards where pan = 0 limit 10'],
    ["select 'é' /* note: pw=1 */ -- trailing", "select '***' /* *** */ -- ***"],
    ['select "it\'s a column" from t where n = $1', 'select "it\'s a column" from t where n = $1'],
    ['select 1', 'select 1'],
    ['select * from t where a = $1 and b = $12', 'select * from t where a = $1 and b = $12'],
    ["select $1::text, 'x'", "select $1::text, '***'"],
    ['select x$y$z from t', 'select x$y$z from t'],
  ];
  // Twice: the second answer comes from the cache of recent texts and must be the same.
  for (const _round of [1, 2]) for (const [input, masked] of cases) assert.equal(maskSqlLiterals(input), masked);
  assert.match(maskSqlLiterals("select 'unterminated"), /^\/\* unscannable statement: 20 bytes, sha256 [0-9a-f]{16} \*\/$/);
});

// The renderer records were hashed with before it was rewritten for speed: every hash already on
// disk depends on the new one giving exactly the same text.
function canonicalJsonReference(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJsonReference(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJsonReference(v)}`).join(',')}}`;
}

const anyKey = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('0', '1', '10', '9', '__proto__', 'constructor', 'é', 'Z', 'a'));
const anyValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom(null, undefined, true, false, 0, -0, 1.5, Number.NaN, Infinity),
    fc.string({ maxLength: 8 }),
    fc.integer(),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(anyKey, tie('value'), { maxKeys: 5 }),
  ),
})).value;

/** The same value with every object rebuilt in sorted key order: what the statement path produces. */
function builtSorted(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(builtSorted);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value).sort()) Object.defineProperty(out, k, { value: builtSorted((value as Record<string, unknown>)[k]), enumerable: true, writable: true, configurable: true });
  return out;
}

test('canonicalJson renders objects built in sorted order (its fast path) exactly as the reference renderer', () => {
  fc.assert(
    fc.property(anyValue, (v) => {
      const sorted = builtSorted(v);
      assert.equal(canonicalJson(sorted), canonicalJsonReference(sorted));
    }),
    { numRuns: 3000 },
  );
  const fn = (): number => 1;
  for (const v of [{ a: 1, b: fn }, { a: [fn, undefined], b: Symbol('s') }, { a: new Date(0) }, { a: Buffer.from('hi') }, { a: Object.create({ inherited: 1 }) }])
    assert.equal(canonicalJson(v), canonicalJsonReference(v));
});

/** Renders `input` as the first record of a chain and holds its line to the reference rendering and hash. */
function assertRenderedAsReference(input: Parameters<SessionChains['nextWithLine']>[0], now: Date): ReturnType<SessionChains['nextWithLine']> {
  const { sessionId, at, ...body } = input;
  const reference = canonicalJsonReference({ v: 1, sessionId, seq: 1, at: at ?? now.toISOString(), ...body, prev: genesisHash(sessionId) });
  const hash = createHash('sha256').update(reference).digest('hex');
  const rendered = new SessionChains().nextWithLine(input, now);
  assert.equal(rendered.line, `${reference.slice(0, -1)},"hash":"${hash}"}`);
  // One encoding serves the hash and the write: the bytes are the line and its newline.
  assert.ok(rendered.bytes.equals(Buffer.from(`${rendered.line}\n`, 'utf8')));
  return rendered;
}

test('a record is rendered and hashed exactly as before, whatever order its event keys come in', () => {
  const now = new Date('2026-11-25T12:00:00.000Z');
  const eventKey = fc.oneof(anyKey, fc.constantFrom('at', 'v', 'seq', 'prev', 'hash', 'type', 'text', 'statementId'));
  const event = fc.tuple(fc.dictionary(eventKey, anyValue, { maxKeys: 8 }), fc.boolean(), fc.option(fc.constant('2026-01-01T00:00:00.000Z'))).map(([body, sorted, at]) => {
    const input = { ...body, sessionId: 'prop-session', ...(at === null ? {} : { at }) };
    return (sorted ? builtSorted(input) : input) as unknown as Parameters<SessionChains['nextWithLine']>[0];
  });
  fc.assert(
    fc.property(event, (input) => void assertRenderedAsReference(input, now)),
    { numRuns: 3000 },
  );
});

// The statement and outcome events take a record built from an object literal (chain.ts): for any
// subset of their keys, extra keys, key order and member values, the line must be the reference's.
test('statement and outcome records are rendered and hashed as the reference, whatever keys and values they carry', () => {
  const now = new Date('2026-11-25T12:00:00.000Z');
  const statementKeys = ['approvalId', 'class', 'decision', 'functions', 'sessionId', 'statementId', 'statementTypes', 'tables', 'text', 'type'];
  const outcomeKeys = ['bytes', 'durationMs', 'error', 'masking', 'response', 'rows', 'sessionId', 'statementId', 'status', 'type'];
  const member = fc.oneof(anyValue, fc.constant(undefined));
  const event = fc
    .tuple(
      fc.constantFrom(['statement', statementKeys] as const, ['statement.outcome', outcomeKeys] as const),
      // Which keys to leave out (a bit per key): none in most runs, as on the statement path.
      fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: fc.integer({ min: 1, max: 2 ** 10 - 1 }), weight: 1 }),
      fc.array(member, { minLength: 10, maxLength: 10 }),
      fc.dictionary(fc.oneof(anyKey, fc.constantFrom('at', 'v', 'seq', 'prev', 'hash')), anyValue, { minKeys: 1, maxKeys: 2 }),
      fc.oneof({ arbitrary: fc.constant(false), weight: 3 }, { arbitrary: fc.constant(true), weight: 1 }),
      fc.boolean(),
    )
    .map(([[type, keys], leaveOut, values, extra, withExtra, sorted]) => {
      const input: Record<string, unknown> = withExtra ? { ...extra } : {};
      keys.forEach((k, i) => {
        if ((leaveOut >> i) % 2 === 1 && k !== 'sessionId' && k !== 'type') return;
        input[k] = values[i];
      });
      input.sessionId = 'prop-session';
      input.type = type;
      return (sorted ? builtSorted(input) : input) as unknown as Parameters<SessionChains['nextWithLine']>[0];
    });
  fc.assert(
    fc.property(event, (input) => {
      const { record } = assertRenderedAsReference(input, now);
      // The record holds the same keys as before the literal path: the input's, the chain's, the hash.
      const expectedKeys = new Set([...Object.keys(input).filter((k) => !['v', 'seq', 'prev', 'hash'].includes(k)), 'at', 'v', 'seq', 'prev', 'hash']);
      assert.deepEqual(new Set(Object.keys(record)), expectedKeys);
    }),
    { numRuns: 5000 },
  );
});

test('canonicalJson renders exactly as the reference renderer, for any value', () => {
  fc.assert(
    fc.property(anyValue, (v) => assert.equal(canonicalJson(v), canonicalJsonReference(v))),
    { numRuns: 3000 },
  );
  assert.equal(canonicalJson({ b: 1, a: () => 1, c: [undefined, () => 1], d: new Date(0), e: Buffer.from('hi') }), canonicalJsonReference({ b: 1, a: () => 1, c: [undefined, () => 1], d: new Date(0), e: Buffer.from('hi') }));
});

/** The same value with every object and array frozen, as the inspection cache and the relay hand them over. */
function deepFrozen(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  for (const v of Object.values(value)) deepFrozen(v);
  return Object.freeze(value);
}

test('frozen members are rendered as the reference every time, and a mutable one inside a frozen one is never remembered', () => {
  fc.assert(
    fc.property(anyValue, (v) => {
      const frozen = deepFrozen(builtSorted(v));
      const want = canonicalJsonReference(frozen);
      // Twice: the second rendering of each frozen object comes from the renderings kept.
      for (const _round of [1, 2]) assert.equal(canonicalJson({ a: frozen, b: [frozen] }), canonicalJsonReference({ a: frozen, b: [frozen] }));
      assert.equal(canonicalJson(frozen), want);
    }),
    { numRuns: 2000 },
  );
  const inner = ['users'];
  const outer = Object.freeze({ tables: inner, text: 'x' });
  assert.equal(canonicalJson({ outer }), '{"outer":{"tables":["users"],"text":"x"}}');
  inner.push('orders');
  assert.equal(canonicalJson({ outer }), '{"outer":{"tables":["users","orders"],"text":"x"}}');
});

test('strings and keys of any characters are escaped exactly as JSON.stringify escapes them', () => {
  const text = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 12 }),
    fc.string({ unit: fc.constantFrom('"', '\\', '\n', '\u0000', '\u001f', '\u007f', '\u2028', '\ud800', '\udc00', 'é', 'a', ' ', '~', '/'), maxLength: 8 }),
  );
  fc.assert(
    fc.property(fc.dictionary(text, fc.oneof(text, fc.array(text, { maxLength: 3 })), { maxKeys: 4 }), (v) => {
      const sorted = builtSorted(v);
      assert.equal(canonicalJson(sorted), canonicalJsonReference(sorted));
      assert.equal(canonicalJson(deepFrozen(builtSorted(v))), canonicalJsonReference(sorted));
    }),
    { numRuns: 3000 },
  );
});

test('the line written for a record parses back to the record, and its hash verifies', () => {
  const chains = new SessionChains();
  const { record, line } = chains.nextWithLine({
    type: 'statement', sessionId: 'line', statementId: 'q1', text: "SELECT '\u2028\"x\"'", class: 'read',
    statementTypes: ['SelectStmt'], tables: ['t'], functions: [], decision: { effect: 'allow', policyIds: ['p'], policyVersion: 'v1', reason: 'ok' },
  });
  assert.deepEqual(JSON.parse(line), record);
  assert.equal(recordHash(JSON.parse(line)), record.hash);
});

test('a large string rendered elsewhere (a worker thread) is written as rendered, and the record hashes as if rendered here', () => {
  const now = new Date('2026-11-25T12:00:00.000Z');
  const text = `SELECT "a ""quoted"" name", 'é'\n${'0, '.repeat(5000)}0`;
  rememberJsonRendering(text, JSON.stringify(text));
  const input = { sessionId: 'prerendered', type: 'statement', statementId: 'prerendered/1', class: 'read', statementTypes: ['SelectStmt'], tables: [], functions: [], text, decision: { effect: 'allow', policyIds: [], policyVersion: 'v', reason: 'r' } };
  assertRenderedAsReference(input as unknown as Parameters<SessionChains['nextWithLine']>[0], now);
});
