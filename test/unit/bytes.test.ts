// Joining views must give exactly the bytes of both, and only when they really are adjacent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { joinedView, pushJoined } from '../../core/bytes.js';

test('adjacent views of one buffer join into one view of the same memory', () => {
  const read = Buffer.from('RowDescription|DataRow|CommandComplete');
  const joined = joinedView(read.subarray(0, 15), read.subarray(15, 23));
  assert.equal(joined?.toString(), 'RowDescription|DataRow|');
  assert.equal(joined?.buffer, read.buffer);
});

test('views with a gap, out of order or of other memory are not joined', () => {
  const read = Buffer.from('abcdef');
  assert.equal(joinedView(read.subarray(0, 2), read.subarray(3, 5)), undefined);
  assert.equal(joinedView(read.subarray(2, 4), read.subarray(0, 2)), undefined);
  assert.equal(joinedView(read.subarray(0, 3), Buffer.from('def')), undefined);
});

test('pushJoined extends the last slice only when the next one continues it', () => {
  const read = Buffer.from('TTTDDDCCCZZ');
  const own = Buffer.from('E');
  const list: Buffer[] = [];
  for (const b of [read.subarray(0, 3), read.subarray(3, 6), own, read.subarray(6, 9), read.subarray(9, 11)]) pushJoined(list, b);
  assert.deepEqual(list.map((b) => b.toString()), ['TTTDDD', 'E', 'CCCZZ']);
  assert.equal(Buffer.concat(list).toString(), 'TTTDDDECCCZZ');
});
