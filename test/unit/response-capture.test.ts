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
