// Command output is masked however the stream is cut: generated output (secrets among ordinary
// lines, private keys whole, split, or shown without their BEGIN line) is split into reads at
// random points, with random pauses (a quiet stream releases its partial line), and no secret
// survives; memory held between reads stays bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createMasker } from '../../core/mask/index.js';
import { LineMasker } from '../../fargate-proxy/src/protocols/ssh/mask-stream.js';
import { Gen, prng } from '../fixtures/masking-corpus/generate.js';

const masker = createMasker({ enabled: true, detectors: {}, columnRules: [] });

/** A piece of output: its text and the strings that must not reach the agent. */
interface Piece {
  text: string;
  secrets: string[];
}

const keyLines = (key: string) => key.split('\n').slice(1, -1);
const SECRETS: Record<string, (g: Gen) => Piece> = {
  card: (g) => ((v) => ({ text: `card: ${v}`, secrets: [v] }))(g.card()),
  email: (g) => ((v) => ({ text: `mail ${v}`, secrets: [v] }))(g.email()),
  github: (g) => ((v) => ({ text: `GITHUB_TOKEN ${v}`, secrets: [v] }))(g.githubToken()),
  aws: (g) => ((v) => ({ text: v, secrets: [v] }))(g.awsAccessKey()),
  jwt: (g) => ((v) => ({ text: `Authorization: Bearer ${v}`, secrets: [v] }))(g.jwt()),
  iban: (g) => ((v) => ({ text: `iban ${v}`, secrets: [v] }))(g.iban()),
  password: (g) => ((v) => ({ text: `password=${v}`, secrets: [v] }))(g.password()),
  key: (g) => ((k) => ({ text: k, secrets: keyLines(k) }))(g.privateKey()),
  keyCrLf: (g) => ((k) => ({ text: k, secrets: keyLines(k) }))(g.privateKey('\r\n')),
  // `tail -n +2 key.pem`: the body and END line, no BEGIN.
  keyWithoutBegin: (g) => ((k) => ({ text: k.split('\n').slice(1).join('\n'), secrets: keyLines(k) }))(g.privateKey()),
  // `sed -n 3,4p key.pem`: body lines only.
  keyBodyOnly: (g) => ((k) => ({ text: keyLines(k).slice(0, 2).join('\n'), secrets: keyLines(k).slice(0, 2) }))(g.privateKey()),
};

const secret = fc.record({ kind: fc.constantFrom(...Object.keys(SECRETS)), seed: fc.integer() }).map(({ kind, seed }) => SECRETS[kind]!(new Gen(prng(seed))));
const filler = fc.oneof(
  fc.string({ maxLength: 30 }).map((s) => s.replace(/[\r\n]/g, ' ')),
  fc.constantFrom('total 48', 'drwxr-xr-x 2 root root 4096 Jan  1 00:00 .', '$ ', 'ok', '', '  indented: value', 'é ✓ 日本'),
).map((text): Piece => ({ text, secrets: [] }));
const output = fc.array(fc.oneof({ arbitrary: filler, weight: 2 }, { arbitrary: secret, weight: 1 }), { minLength: 1, maxLength: 10 });

/** Byte offsets to cut at, and after which reads the stream goes quiet (a soft flush). */
const cuts = fc.array(fc.record({ at: fc.double({ min: 0, max: 1, noNaN: true }), quiet: fc.boolean() }), { maxLength: 12 });

function run(bytes: Buffer, splits: { at: number; quiet: boolean }[]) {
  const m = new LineMasker(masker);
  const points = [...new Set(splits.map((s) => Math.floor(s.at * bytes.length)))].sort((a, b) => a - b);
  const quiet = new Set(splits.filter((s) => s.quiet).map((s) => Math.floor(s.at * bytes.length)));
  const out: Buffer[] = [];
  let from = 0;
  let maxHeld = 0;
  for (const p of [...points, bytes.length]) {
    out.push(m.push(bytes.subarray(from, p)));
    if (quiet.has(p)) out.push(m.flush(false));
    maxHeld = Math.max(maxHeld, m.held);
    from = p;
  }
  out.push(m.flush());
  return { text: Buffer.concat(out).toString('utf8'), counts: m.counts, maxHeld };
}

test('no secret survives however the output is cut into reads and pauses, private keys in part included', () => {
  fc.assert(
    fc.property(output, cuts, fc.constantFrom('\n', '\r\n'), (pieces, splits, nl) => {
      const text = pieces.map((p) => p.text).join(nl) + nl;
      const { text: shown } = run(Buffer.from(text, 'utf8'), splits);
      for (const s of pieces.flatMap((p) => p.secrets)) assert.ok(!shown.includes(s), `${JSON.stringify(s)} leaked from:\n${text}\n→\n${shown}`);
      // Lines without secrets come through unchanged; but a short base64-like word right after a
      // key's full-length body line may be that body's last line, and is masked with it.
      pieces.forEach((p, i) => {
        const afterKeyBody = i > 0 && pieces[i - 1]!.secrets.length > 0 && /^\s*[A-Za-z0-9+/=]+\s*$/.test(p.text);
        if (p.secrets.length === 0 && p.text.trim() && !afterKeyBody && masker.maskText(p.text) === undefined) assert.ok(shown.includes(p.text), `${JSON.stringify(p.text)} kept`);
      });
    }),
    { numRuns: 1500 },
  );
});

test('where the reads are cut changes neither the output nor the counts (no pauses)', () => {
  fc.assert(
    fc.property(output, cuts, (pieces, splits) => {
      const bytes = Buffer.from(pieces.map((p) => p.text).join('\n') + '\n', 'utf8');
      const whole = run(bytes, []);
      const cut = run(bytes, splits.map((s) => ({ ...s, quiet: false })));
      assert.equal(cut.text, whole.text);
      assert.deepEqual(cut.counts, whole.counts);
    }),
    { numRuns: 500 },
  );
});

test('a private key counts once, whole or in part; a multi-byte character cut between reads stays whole', () => {
  const g = new Gen(prng(11));
  const key = g.privateKey();
  const split = Buffer.from(`x\n${key}\ny\n`, 'utf8');
  const r = run(split, [{ at: 0.5, quiet: true }]);
  assert.deepEqual(r.counts, { 'detector:private_key': 1 });
  const tail = run(Buffer.from(key.split('\n').slice(2).join('\n') + '\n'), []);
  assert.deepEqual(tail.counts, { 'detector:private_key': 1 });
  assert.equal(run(Buffer.from('é✓\n'), [{ at: 0.1, quiet: true }, { at: 0.4, quiet: true }]).text, 'é✓\n');
});

test('ordinary output is untouched: hex digests, words, a prompt is released at once when output pauses', () => {
  const lines = ['a'.repeat(64), '0123456789abcdef'.repeat(4), 'The quick brown fox jumps over the lazy dog again and again!!', `${'ABCDEFGH'.repeat(8)}`];
  assert.equal(run(Buffer.from(lines.join('\n') + '\n'), []).text, lines.join('\n') + '\n');
  const m = new LineMasker(masker);
  assert.equal(m.push(Buffer.from('out\nuser@host:~$ ')).toString(), 'out\n');
  assert.equal(m.flush(false).toString(), 'user@host:~$ ', 'a prompt ends a word: nothing to hold back');
  assert.equal(m.push(Buffer.from('card 4111 1111')).toString(), '');
  assert.equal(m.flush(false).toString(), '', 'a value that may still be growing is held back');
  assert.equal(m.push(Buffer.from(' 1111 1111\n')).toString(), 'card [REDACTED:card]\n');
  assert.equal(m.push(Buffer.from('card: 3581 2009 ')).toString() + m.flush(false).toString(), 'card: ', 'a pause right after a blank inside a value');
  assert.equal(m.push(Buffer.from('4413 4789\n')).toString(), '[REDACTED:card]\n');
  assert.equal(m.push(Buffer.from('id ghp_0123')).toString() + m.flush(false).toString(), '', 'words joined by blanks may be one value (IBAN)');
  assert.equal(m.push(Buffer.from('; x=1\t')).toString() + m.flush(false).toString(), 'id ghp_0123; x=1\t');
});

test('memory held between reads is bounded, whatever the output', () => {
  const m = new LineMasker(masker);
  for (let i = 0; i < 40; i++) m.push(Buffer.alloc(16 * 1024, 'A'));
  assert.ok(m.held <= 64 * 1024, `holds ${m.held} characters`);
  const g = new Gen(prng(5));
  const key = g.privateKey();
  const r = run(Buffer.from(`${key}\n`.repeat(50)), Array.from({ length: 12 }, (_, i) => ({ at: i / 12, quiet: i % 2 === 0 })));
  assert.ok(r.maxHeld <= 64 * 1024);
  for (const line of keyLines(key)) assert.ok(!r.text.includes(line));
});

