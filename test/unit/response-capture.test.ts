// The response capture hashes lazily (one-shot over the kept bytes unless bytes go unkept): it must
// give exactly what a capture that hashes every piece as it comes gives, whatever the pieces and cap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { ResponseCapture, capturedBytes } from '../../core/audit/response-capture.js';

function reference(cap: number, pieces: (Uint8Array | string)[]) {
  const hash = createHash('sha256');
  const kept: Buffer[] = [];
  let keptBytes = 0;
  let truncated = false;
  let allText = true;
  let total = 0;
  for (const piece of pieces) {
    const bytes = typeof piece === 'string' ? Buffer.from(piece, 'utf8') : Buffer.from(piece);
    if (typeof piece !== 'string') allText = false;
    hash.update(bytes);
    total += bytes.length;
    const room = cap - keptBytes;
    if (room <= 0) {
      if (bytes.length > 0) truncated = true;
      continue;
    }
    const keep = bytes.subarray(0, Math.min(room, bytes.length));
    if (keep.length < bytes.length) truncated = true;
    kept.push(Buffer.from(keep));
    keptBytes += keep.length;
  }
  return { sha256: hash.digest('hex'), truncated, totalBytes: total, kept: Buffer.concat(kept), allText };
}

test('lazy hashing gives the same record as hashing every piece', () => {
  const piece = fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.string({ maxLength: 20 }));
  fc.assert(
    fc.property(fc.nat({ max: 120 }), fc.array(piece, { maxLength: 12 }), (cap, pieces) => {
      const capture = new ResponseCapture(cap);
      for (const p of pieces) capture.add(p);
      const got = capture.finish();
      const want = reference(cap, pieces);
      assert.equal(got.sha256, want.sha256);
      assert.equal(got.truncated, want.truncated);
      assert.equal(got.totalBytes, want.totalBytes);
      assert.equal(got.totalChunks, pieces.length);
      if (cap === 0) assert.equal(got.chunks, undefined);
      // Text captures are re-decoded as one string, which may drop a character the cap cut in two.
      else if (!want.allText) assert.deepEqual(capturedBytes(got), want.kept);
    }),
    { numRuns: 3000 },
  );
});

test('adjacent views of one read are kept as one chunk, pieces are still counted one by one', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.array(fc.nat({ max: 200 }), { maxLength: 6 }), fc.nat({ max: 250 }), (bytes, cuts, cap) => {
      const read = Buffer.from(bytes);
      const bounds = [...new Set([0, ...cuts.map((c) => c % read.length), read.length])].sort((a, b) => a - b);
      const views = bounds.slice(1).map((end, i) => read.subarray(bounds[i]!, end));
      const capture = new ResponseCapture(cap);
      for (const v of views) capture.addOwned(v);
      const got = capture.finish();
      const want = reference(cap, views);
      assert.equal(got.sha256, want.sha256);
      assert.equal(got.totalChunks, views.length);
      assert.deepEqual(capturedBytes(got), want.kept);
      if (cap > 0 && want.kept.length > 0) assert.equal(got.chunks!.length, 1);
    }),
    { numRuns: 2000 },
  );
});

test('views that do not continue each other, and copies, stay separate and unchanged', () => {
  const read = Buffer.from('abcdefgh');
  const capture = new ResponseCapture(100);
  capture.addOwned(read.subarray(4, 8));
  capture.addOwned(read.subarray(0, 4)); // earlier bytes of the same read: not a continuation
  capture.add(read.subarray(4, 6)); // a copy
  capture.addOwned(read.subarray(6, 8)); // continues the read, but the last kept piece is our copy
  read.fill(0x21); // the caller reuses memory it gave by `add`: nothing kept through `add` changes
  const got = capture.finish();
  assert.equal(got.chunks!.length, 4);
  assert.equal(Buffer.concat(got.chunks!.map((c) => Buffer.from(c, 'base64'))).subarray(8, 10).toString(), 'ef');
});
