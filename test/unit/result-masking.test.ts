// The result masker plans a result's columns from its RowDescription and reuses the plan while the
// session keeps receiving the same description: the plan in force must always be the current one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMasker } from '../../core/mask/index.js';
import { ResultMasker } from '../../fargate-proxy/src/protocols/postgres/result-masking.js';
import { B, backendMessage } from '../../fargate-proxy/src/protocols/postgres/backend.js';

const TEXT = 25;

const JSONB = 3802;

function rowDescriptionBody(columns: string[], types: number[] = [], formats: number[] = []): Buffer {
  const parts = [Buffer.from([columns.length >> 8, columns.length & 0xff])];
  for (const [i, name] of columns.entries()) {
    const field = Buffer.alloc(18);
    field.writeInt32BE(0, 0); // table oid
    field.writeInt16BE(0, 4); // attribute number
    field.writeInt32BE(types[i] ?? TEXT, 6);
    field.writeInt16BE(-1, 10); // type length
    field.writeInt32BE(-1, 12); // type modifier
    field.writeInt16BE(formats[i] ?? 0, 16); // text format unless told
    parts.push(Buffer.from(`${name}\0`), field);
  }
  return Buffer.concat(parts);
}

/** A DataRow of the given cells; null is SQL NULL, a Buffer is sent as its bytes. */
function dataRow(values: (string | Buffer | null)[]): { body: Buffer; raw: Buffer } {
  const parts = [Buffer.from([values.length >> 8, values.length & 0xff])];
  for (const v of values) {
    const len = Buffer.alloc(4);
    const bytes = v === null ? undefined : Buffer.from(v);
    len.writeInt32BE(bytes ? bytes.length : -1);
    parts.push(len, ...(bytes ? [bytes] : []));
  }
  const raw = backendMessage(B.DataRow, Buffer.concat(parts));
  return { body: raw.subarray(5), raw };
}

function cellBytes(message: Buffer): (Buffer | null)[] {
  assert.equal(message.readInt32BE(1), message.length - 1, 'the DataRow length covers the rewritten cells');
  const out: (Buffer | null)[] = [];
  let off = 7;
  for (let i = 0; i < message.readInt16BE(5); i++) {
    const len = message.readInt32BE(off);
    out.push(len < 0 ? null : message.subarray(off + 4, off + 4 + len));
    off += 4 + Math.max(0, len);
  }
  assert.equal(off, message.length, 'no bytes after the last cell');
  return out;
}

function cells(message: Buffer): (string | null)[] {
  return cellBytes(message).map((c) => (c === null ? null : c.toString('utf8')));
}

const detectorsOnly = (): ResultMasker => new ResultMasker(createMasker({ enabled: true, detectors: {}, columnRules: [] } as never));

test('a column rule follows the RowDescription in force, however often one repeats', () => {
  const mask = new ResultMasker(createMasker({ enabled: true, detectors: {}, columnRules: [{ pattern: 'secret', style: 'redact' }] } as never));
  const withSecret = rowDescriptionBody(['id', 'secret']);
  const plain = rowDescriptionBody(['id', 'note']);
  const row = (): (string | null)[] => {
    const { body, raw } = dataRow(['1', 'hunter2']);
    return cells(mask.dataRow(body, raw));
  };
  for (const [description, masked] of [
    [withSecret, true],
    [Buffer.from(withSecret), true], // the same columns again, from another socket read
    [plain, false],
    [withSecret, true],
    [withSecret, true],
  ] as const) {
    mask.rowDescription(description);
    const got = row();
    assert.equal(got[0], '1');
    if (masked) assert.notEqual(got[1], 'hunter2');
    else assert.equal(got[1], 'hunter2');
  }
});

test('a rewritten row keeps NULLs as NULL and the cells around a masked one byte for byte', () => {
  const mask = detectorsOnly();
  mask.rowDescription(rowDescriptionBody(['a', 'b', 'c', 'd', 'e']));
  const multibyte = 'Zürich — 東京';
  const { body, raw } = dataRow([null, multibyte, 'mail ada@example.com now', '', null]);
  const got = cells(mask.dataRow(body, raw));
  assert.equal(got[0], null);
  assert.equal(got[1], multibyte);
  assert.ok(typeof got[2] === 'string' && !got[2].includes('ada@example.com'), `masked: ${got[2]}`);
  assert.equal(got[3], '');
  assert.equal(got[4], null);
  // Nothing to mask: the message as it arrived, not a copy.
  const clean = dataRow([null, 'plain', '']);
  assert.equal(mask.dataRow(clean.body, clean.raw), clean.raw);
});

test('binary jsonb keeps its version byte before the masked text; an empty binary value reads nothing past itself', () => {
  const mask = detectorsOnly();
  mask.rowDescription(rowDescriptionBody(['doc', 'empty', 'after'], [JSONB, JSONB, TEXT], [1, 1, 1]));
  const doc = Buffer.concat([Buffer.from([1]), Buffer.from('{"email": "ada@example.com"}')]);
  const { body, raw } = dataRow([doc, Buffer.alloc(0), 'bob@example.org']);
  const got = cellBytes(mask.dataRow(body, raw));
  assert.equal(got[0]![0], 1, 'jsonb version byte');
  const json = JSON.parse(got[0]!.subarray(1).toString('utf8')) as { email: string };
  assert.ok(!json.email.includes('ada@example.com'), `masked and still JSON: ${json.email}`);
  assert.equal(got[1]!.length, 0);
  assert.ok(!got[2]!.toString('utf8').includes('bob@example.org'));
});

test('a DataRow whose cell runs past the message is refused, not read beyond', () => {
  const mask = detectorsOnly();
  mask.rowDescription(rowDescriptionBody(['a']));
  const body = Buffer.alloc(2 + 4 + 3);
  body.writeInt16BE(1, 0);
  body.writeInt32BE(10, 2); // claims 10 bytes, has 3
  body.write('abc', 6);
  assert.throws(() => mask.dataRow(body, backendMessage(B.DataRow, body)), /truncated/);
});
