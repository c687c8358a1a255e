// The upstream scanner must reproduce the stream exactly, however the socket splits it, for every
// mix of pass / peek / hold decisions, and hand each held or peeked message over whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BackendScanner, type ScanAction, type ScanHandler } from '../../fargate-proxy/src/protocols/postgres/backend-scanner.js';

function frame(type: number, body: Uint8Array): Buffer {
  const b = Buffer.alloc(5 + body.length);
  b[0] = type;
  b.writeInt32BE(4 + body.length, 1);
  Buffer.from(body).copy(b, 5);
  return b;
}

const TYPES = [0x44 /* D */, 0x54 /* T */, 0x43 /* C */, 0x5a /* Z */, 0x45 /* E */, 0x4e /* N */];
const messages = fc.array(fc.record({ type: fc.constantFrom(...TYPES), body: fc.uint8Array({ maxLength: 300 }) }), { minLength: 1, maxLength: 40 });
const actions = fc.record({ D: fc.constantFrom<ScanAction>('pass', 'peek', 'hold', 'rewrite'), T: fc.constantFrom<ScanAction>('pass', 'peek', 'hold'), E: fc.constantFrom<ScanAction>('pass', 'hold') });

function split(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let last = 0;
  for (const p of points) {
    out.push(Buffer.from(buf.subarray(last, p))); // fresh buffers, like socket reads
    last = p;
  }
  out.push(Buffer.from(buf.subarray(last)));
  return out.filter((c) => c.length > 0);
}

test('pass-through and held-unchanged messages reproduce the stream byte for byte, whatever the chunking', () => {
  fc.assert(
    fc.property(messages, actions, fc.array(fc.nat(), { maxLength: 30 }), (msgs, act, cuts) => {
      const stream = Buffer.concat(msgs.map((m) => frame(m.type, m.body)));
      const seen: { type: number; body: Buffer }[] = [];
      const scanner = new BackendScanner();
      const handler: ScanHandler = {
        action: (type) => (type === 0x44 ? act.D : type === 0x54 ? act.T : type === 0x45 ? act.E : 'pass'),
        message: (type, body, raw) => {
          seen.push({ type, body: Buffer.from(body) });
          return raw; // held messages are sent back unchanged
        },
        rewrite: (type, buf, start, end) => {
          assert.equal(buf[start], type);
          assert.equal(buf.readInt32BE(start + 1), end - start - 1);
          seen.push({ type, body: Buffer.from(buf.subarray(start + 5, end)) });
          return false; // left as it arrived
        },
        wantsBoundary: false,
        boundary: () => undefined,
      };
      const out: Buffer[] = [];
      for (const chunk of split(stream, cuts)) scanner.scan(chunk, handler, (b) => out.push(Buffer.from(b)));
      assert.ok(Buffer.concat(out).equals(stream), 'output differs from input');
      assert.ok(scanner.atBoundary, 'scanner not at a boundary after whole messages');
      const expected = msgs.filter((m) => (m.type === 0x44 && act.D !== 'pass') || (m.type === 0x54 && act.T !== 'pass') || (m.type === 0x45 && act.E !== 'pass'));
      assert.equal(seen.length, expected.length);
      expected.forEach((m, i) => assert.ok(seen[i]!.body.equals(Buffer.from(m.body)), `message ${i} body differs`));
    }),
    { numRuns: 400 },
  );
});

test('held or rewritten messages can be replaced or dropped, and interleaved output lands at boundaries', () => {
  fc.assert(
    fc.property(messages, fc.array(fc.nat(), { maxLength: 30 }), fc.constantFrom<ScanAction>('hold', 'rewrite'), (msgs, cuts, rowAction) => {
      const stream = Buffer.concat(msgs.map((m) => frame(m.type, m.body)));
      const scanner = new BackendScanner();
      // A ReadyForQuery makes the caller want the boundary after the message that follows it: its
      // output must land after that message, whether passed, held or rewritten into the slab.
      let boundariesToGo = 0;
      const handler: ScanHandler = {
        action: (type) => (type === 0x44 ? rowAction : type === 0x5a ? 'peek' : 'pass'),
        message: (type) => {
          if (type === 0x5a) boundariesToGo = 2;
          return type === 0x44 ? frame(0x44, Buffer.from('masked')) : undefined;
        },
        rewrite: (_type, _buf, _start, _end, slab) => {
          const replacement = frame(0x44, Buffer.from('masked'));
          const at = slab.alloc(replacement.length);
          replacement.copy(slab.buffer, at);
          return true;
        },
        get wantsBoundary() {
          return boundariesToGo > 0;
        },
        boundary: () => {
          if (--boundariesToGo === 0) out.push(frame(0x4e, Buffer.from('inserted')));
        },
      };
      const out: Buffer[] = [];
      for (const chunk of split(stream, cuts)) scanner.scan(chunk, handler, (b) => out.push(Buffer.from(b)));
      let toGo = 0;
      const expected = Buffer.concat(
        msgs.flatMap((m) => {
          const sent = m.type === 0x44 ? frame(0x44, Buffer.from('masked')) : frame(m.type, m.body);
          if (m.type === 0x5a) toGo = 2;
          if (toGo > 0 && --toGo === 0) return [sent, frame(0x4e, Buffer.from('inserted'))];
          return [sent];
        }),
      );
      assert.ok(Buffer.concat(out).equals(expected), 'replacement stream differs');
    }),
    { numRuns: 400 },
  );
});
