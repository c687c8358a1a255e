// The result masker plans a result's columns from its RowDescription and reuses the plan while the
// session keeps receiving the same description: the plan in force must always be the current one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMasker } from '../../core/mask/index.js';
import { ResultMasker } from '../../fargate-proxy/src/protocols/postgres/result-masking.js';
import { B, backendMessage } from '../../fargate-proxy/src/protocols/postgres/backend.js';

const TEXT = 25;

function rowDescriptionBody(columns: string[]): Buffer {
  const parts = [Buffer.from([columns.length >> 8, columns.length & 0xff])];
  for (const name of columns) {
    const field = Buffer.alloc(18);
    field.writeInt32BE(0, 0); // table oid
    field.writeInt16BE(0, 4); // attribute number
    field.writeInt32BE(TEXT, 6);
    field.writeInt16BE(-1, 10); // type length
    field.writeInt32BE(-1, 12); // type modifier
    field.writeInt16BE(0, 16); // text format
    parts.push(Buffer.from(`${name}\0`), field);
  }
  return Buffer.concat(parts);
}

function dataRow(values: string[]): { body: Buffer; raw: Buffer } {
  const parts = [Buffer.from([values.length >> 8, values.length & 0xff])];
  for (const v of values) {
    const len = Buffer.alloc(4);
    len.writeInt32BE(Buffer.byteLength(v));
    parts.push(len, Buffer.from(v));
  }
  const raw = backendMessage(B.DataRow, Buffer.concat(parts));
  return { body: raw.subarray(5), raw };
}

function cells(message: Buffer): string[] {
  const out: string[] = [];
  let off = 7;
  for (let i = 0; i < message.readInt16BE(5); i++) {
    const len = message.readInt32BE(off);
    out.push(message.toString('utf8', off + 4, off + 4 + len));
    off += 4 + len;
  }
  return out;
}

test('a column rule follows the RowDescription in force, however often one repeats', () => {
  const mask = new ResultMasker(createMasker({ enabled: true, detectors: {}, columnRules: [{ pattern: 'secret', style: 'redact' }] } as never));
  const withSecret = rowDescriptionBody(['id', 'secret']);
  const plain = rowDescriptionBody(['id', 'note']);
  const row = (): string[] => {
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
