// The result masker rewrites a DataRow in one pass over its bytes, splicing only the cells that
// change into a shared slab. It must produce exactly what masking each cell on its own produces:
// decode the cell, ask the masker, re-encode, rebuild the row. Checked over random rows — NULLs,
// cells with and without candidates, invalid UTF-8, multi-byte characters cut between cells,
// columns a placeholder cannot go into, a column rule — lying inside a larger socket read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createMasker, DEFAULT_MASKING_CONFIG, type Masker } from '../../core/mask/index.js';
import { ResultMasker } from '../../fargate-proxy/src/protocols/postgres/result-masking.js';
import { RewriteSlab } from '../../fargate-proxy/src/protocols/postgres/rewrite-slab.js';
import { BackendScanner, type ScanHandler } from '../../fargate-proxy/src/protocols/postgres/backend-scanner.js';
import { B, backendMessage } from '../../fargate-proxy/src/protocols/postgres/backend.js';
import { Gen, prng } from '../fixtures/masking-corpus/generate.js';

const TEXT = 25;
const INT4 = 23;
const VARCHAR = 1043;
const config = { ...DEFAULT_MASKING_CONFIG, enabled: true, columnRules: [{ pattern: 'secret*', style: 'partial' as const }] };

function rowDescription(names: string[], types: number[]): Buffer {
  const parts = [Buffer.from([names.length >> 8, names.length & 0xff])];
  names.forEach((name, i) => {
    const field = Buffer.alloc(18);
    field.writeInt32BE(types[i]!, 6);
    field.writeInt16BE(-1, 10);
    field.writeInt32BE(-1, 12);
    parts.push(Buffer.from(`${name}\0`), field);
  });
  return Buffer.concat(parts);
}

function dataRow(cells: (Buffer | null)[]): Buffer {
  const parts: Buffer[] = [Buffer.from([cells.length >> 8, cells.length & 0xff])];
  for (const c of cells) {
    const len = Buffer.alloc(4);
    len.writeInt32BE(c ? c.length : -1);
    parts.push(len, ...(c ? [c] : []));
  }
  return backendMessage(B.DataRow, Buffer.concat(parts));
}

/** The reference: each cell decoded and masked on its own, the row rebuilt (or kept) from the results. */
function perCell(masker: Masker, names: string[], types: number[], cells: (Buffer | null)[]): { row: Buffer | undefined; notices: number } {
  const plan = masker.planColumns(names);
  let changed = false;
  let notices = 0;
  const out = cells.map((c, i) => {
    if (c === null) return null;
    const masked = masker.maskCell(c.toString('utf8'), plan, i);
    if (masked === undefined) return c;
    changed = true;
    if (types[i] === INT4) {
      notices = 1; // told once per result set, sent as NULL
      return null;
    }
    return Buffer.from(masked, 'utf8');
  });
  return { row: changed ? dataRow(out) : undefined, notices };
}

const e = (seed: number): Gen => new Gen(prng(seed));
const candidate = fc.record({ kind: fc.nat(7), seed: fc.integer() }).map(({ kind, seed }) => {
  const g = e(seed);
  return [g.email(), g.card(), g.ssn(), g.phone(), g.iban(), g.awsAccessKey(), g.githubToken(), g.jwt()][kind]!;
});
const plain = fc.constantFrom('', 'customer 12', 'x'.repeat(60), 'naïve café', '١٢٣', '😀 ok', 'a=b', 'user at example dot com', 'internationalization-free');
const textCell = fc.tuple(fc.array(fc.oneof(plain, candidate, fc.string({ maxLength: 12 })), { maxLength: 3 }), fc.boolean()).map(([parts, glue]) => Buffer.from(parts.join(glue ? ' ' : ''), 'utf8'));
const invalid = fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b));
const cell = fc.oneof({ weight: 1, arbitrary: fc.constant(null) }, { weight: 5, arbitrary: textCell }, { weight: 1, arbitrary: invalid });
const column = fc.record({ name: fc.constantFrom('id', 'name', 'email', 'note', 'secret_code'), type: fc.constantFrom(TEXT, TEXT, VARCHAR, INT4), cell });

/** Moves the first bytes of a multi-byte character at the end of cell i into the start of cell i+1's neighbour position: a character cut between cells. */
function cutCharacters(cells: (Buffer | null)[], cuts: number[]): (Buffer | null)[] {
  const out = [...cells];
  for (const k of cuts) {
    const i = k % Math.max(1, out.length - 1);
    const a = out[i];
    const b = out[i + 1];
    if (!a || !b) continue;
    const char = Buffer.from('é€😀'.split('')[k % 3] ?? 'é', 'utf8');
    const split = 1 + (k % (char.length - 1));
    out[i] = Buffer.concat([a, char.subarray(0, split)]);
    out[i + 1] = Buffer.concat([char.subarray(split), b]);
  }
  return out;
}

test('the one-pass row rewrite equals masking each cell on its own', () => {
  fc.assert(
    fc.property(fc.array(column, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 3 }), fc.nat(40), fc.nat(40), (cols, cuts, before, after) => {
      const names = cols.map((c) => c.name);
      const types = cols.map((c) => c.type);
      const cells = cutCharacters(cols.map((c) => c.cell), cuts);
      const reference = createMasker(config);
      const expected = perCell(reference, names, types, cells);

      const masker = new ResultMasker(createMasker(config));
      masker.rowDescription(rowDescription(names, types));
      const row = dataRow(cells);
      // The row lies inside a socket read, between other bytes.
      const read = Buffer.concat([Buffer.alloc(before, 0x44), row, Buffer.alloc(after, 0x40)]);
      const slab = new RewriteSlab();
      const changed = masker.rewriteDataRow(read, before, before + row.length, slab);
      const written: Buffer[] = [];
      slab.flush((b) => written.push(Buffer.from(b)));

      assert.equal(changed, expected.row !== undefined);
      if (expected.row) {
        const got = Buffer.concat(written);
        // The notice (a column that cannot hold a placeholder) follows the row in the same slab.
        assert.ok(got.subarray(0, expected.row.length).equals(expected.row), 'rewritten row differs from the per-cell result');
        assert.equal(got.length > expected.row.length ? 1 : 0, expected.notices);
        if (expected.notices) assert.equal(got[expected.row.length], B.NoticeResponse);
      } else {
        assert.equal(written.length, 0);
      }
      assert.deepEqual(masker.takeSummary(), summaryOf(reference));
    }),
    { numRuns: 3000 },
  );
});

/** The reference masker's counts in the shape ResultMasker reports them. */
function summaryOf(m: Masker): ReturnType<ResultMasker['takeSummary']> {
  return new ResultMasker(m).takeSummary();
}

test('rows rewritten through the scanner leave as the per-cell result, however the reads split them', () => {
  const g = e(7);
  const names = ['id', 'name', 'email', 'pad'];
  const types = [INT4, TEXT, TEXT, TEXT];
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), fc.nat(999_999)), { minLength: 1, maxLength: 30 }), fc.array(fc.nat(), { maxLength: 12 }), (rows, cutAt) => {
      const reference = createMasker(config);
      const masker = new ResultMasker(createMasker(config));
      masker.rowDescription(rowDescription(names, types));
      const messages: Buffer[] = [];
      const expected: Buffer[] = [];
      for (const [email, id] of rows) {
        const cells = [String(id), `customer ${id}`, email ? g.email() : `user ${id}`, 'x'.repeat(60)].map((s) => Buffer.from(s));
        const m = dataRow(cells);
        messages.push(m);
        expected.push(perCell(reference, names, types, cells).row ?? m);
        // A message the handler passes, between rows.
        messages.push(backendMessage(B.CommandComplete, Buffer.from('SELECT 1\0')));
        expected.push(messages.at(-1)!);
      }
      const stream = Buffer.concat(messages);
      const points = [...new Set(cutAt.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
      const scanner = new BackendScanner();
      const handler: ScanHandler = {
        action: (type) => (type === B.DataRow ? 'rewrite' : 'pass'),
        message: () => undefined,
        rewrite: (_type, buf, start, end, slab) => masker.rewriteDataRow(buf, start, end, slab),
        wantsBoundary: false,
        boundary: () => undefined,
      };
      const out: Buffer[] = [];
      let last = 0;
      for (const p of [...points, stream.length]) {
        if (p > last) scanner.scan(Buffer.from(stream.subarray(last, p)), handler, (b) => out.push(Buffer.from(b)));
        last = p;
      }
      assert.ok(Buffer.concat(out).equals(Buffer.concat(expected)), 'stream differs from the per-cell result');
    }),
    { numRuns: 500 },
  );
});
