// SPDY/3.1 framing as kubectl's spdystream writes and reads it.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { test } from 'node:test';
import * as spdy from '../../fargate-proxy/src/protocols/kubernetes/streaming/spdy.js';

test('the header dictionary is the spec\'s (§2.6.10.1): the same 1423 bytes as spdystream\'s', () => {
  assert.equal(spdy.DICTIONARY.length, 1423);
  assert.equal(createHash('sha256').update(spdy.DICTIONARY).digest('hex'), '51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02');
});

test('frames are cut from a byte stream however it is split', () => {
  const wire = Buffer.concat([spdy.pingFrame(7), spdy.dataFrame(3, Buffer.from('hello'), true), spdy.rstStreamFrame(5, spdy.RST.CANCEL)]);
  for (let cut = 0; cut <= wire.length; cut++) {
    const r = new spdy.FrameReader();
    const frames = [...r.push(wire.subarray(0, cut)), ...r.push(wire.subarray(cut))];
    assert.equal(frames.length, 3);
    const [ping, data, rst] = frames as [spdy.Frame, spdy.Frame, spdy.Frame];
    assert.ok(ping.kind === 'control' && ping.type === spdy.PING && ping.version === 3 && spdy.parsePing(ping.data) === 7);
    assert.ok(data.kind === 'data' && data.streamId === 3 && data.flags === spdy.FLAG_FIN && data.data.toString() === 'hello');
    assert.ok(rst.kind === 'control' && rst.type === spdy.RST_STREAM);
    assert.deepEqual(spdy.parseRstStream(rst.data), { streamId: 5, status: spdy.RST.CANCEL });
  }
});

test('a frame longer than the gateway accepts is a protocol error before its bytes are buffered', () => {
  const header = Buffer.from([0x80, 0x03, 0x00, 0x01, 0x00, 0xff, 0xff, 0xff]); // SYN_STREAM of 16 MiB
  assert.throws(() => new spdy.FrameReader().push(header), spdy.SpdyProtocolError);
});

test('header blocks: one compression context per direction, block after block', async () => {
  const enc = new spdy.HeaderEncoder();
  const dec = new spdy.HeaderDecoder();
  try {
    for (let id = 0; id < 5; id++) {
      const h: spdy.Headers = new Map([['streamtype', ['error']], ['port', ['8080']], ['requestid', [String(id)]]]);
      const block = await enc.encode(h);
      const frame = new spdy.FrameReader().push(spdy.synStreamFrame(2 * id + 1, block))[0]!;
      assert.ok(frame.kind === 'control' && frame.type === spdy.SYN_STREAM);
      const s = spdy.parseSynStream(frame.data);
      assert.equal(s.streamId, 2 * id + 1);
      assert.deepEqual(await dec.decode(s.headerBlock), h);
    }
  } finally {
    enc.close();
    dec.close();
  }
});

test('a header block that inflates past the limit is refused (compression bomb)', async () => {
  const dec = new spdy.HeaderDecoder();
  try {
    const huge = Buffer.alloc(spdy.MAX_HEADER_BLOCK * 4);
    const bomb = deflateSync(huge, { dictionary: spdy.DICTIONARY });
    assert.ok(bomb.length < spdy.MAX_CONTROL_FRAME);
    await assert.rejects(dec.decode(bomb.subarray(0, bomb.length - 4)), /larger than/);
  } finally {
    dec.close();
  }
});

test('header blocks spdystream would refuse are refused: upper-case or repeated names, truncation, trailing bytes', () => {
  const block = (pairs: [string, string][], extra = Buffer.alloc(0)) => Buffer.concat([u32(pairs.length), ...pairs.flatMap(([n, v]) => [u32(n.length), Buffer.from(n), u32(v.length), Buffer.from(v)]), extra]);
  assert.deepEqual(spdy.decodeHeaderBlock(block([['port', '80']])), new Map([['port', ['80']]]));
  assert.deepEqual(spdy.decodeHeaderBlock(block([['a', 'x\0y']])), new Map([['a', ['x', 'y']]]));
  assert.throws(() => spdy.decodeHeaderBlock(block([['Port', '80']])), spdy.SpdyProtocolError);
  assert.throws(() => spdy.decodeHeaderBlock(block([['port', '80'], ['port', '81']])), spdy.SpdyProtocolError);
  assert.throws(() => spdy.decodeHeaderBlock(block([['port', '80']]).subarray(0, 10)), spdy.SpdyProtocolError);
  assert.throws(() => spdy.decodeHeaderBlock(block([['port', '80']], Buffer.from([0]))), spdy.SpdyProtocolError);
});

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
