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
const actions = fc.record({ D: fc.constantFrom<ScanAction>('pass', 'peek', 'hold'), T: fc.constantFrom<ScanAction>('pass', 'peek', 'hold'), E: fc.constantFrom<ScanAction>('pass', 'hold') });

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

test('held messages can be replaced or dropped, and interleaved output lands at boundaries', () => {
  fc.assert(
    fc.property(messages, fc.array(fc.nat(), { maxLength: 30 }), (msgs, cuts) => {
      const stream = Buffer.concat(msgs.map((m) => frame(m.type, m.body)));
      const scanner = new BackendScanner();
      let pendingInsert = false;
      const handler: ScanHandler = {
        action: (type) => (type === 0x44 ? 'hold' : type === 0x5a ? 'peek' : 'pass'),
        message: (type) => {
          if (type === 0x5a) pendingInsert = true;
          return type === 0x44 ? frame(0x44, Buffer.from('masked')) : undefined;
        },
        get wantsBoundary() {
          return pendingInsert;
        },
        boundary: () => {
          pendingInsert = false;
          out.push(frame(0x4e, Buffer.from('inserted')));
        },
      };
      const out: Buffer[] = [];
      for (const chunk of split(stream, cuts)) scanner.scan(chunk, handler, (b) => out.push(Buffer.from(b)));
      const expected = Buffer.concat(
        msgs.flatMap((m) => (m.type === 0x44 ? [frame(0x44, Buffer.from('masked'))] : m.type === 0x5a ? [frame(m.type, m.body), frame(0x4e, Buffer.from('inserted'))] : [frame(m.type, m.body)])),
      );
      assert.ok(Buffer.concat(out).equals(expected), 'replacement stream differs');
    }),
    { numRuns: 400 },
  );
});
