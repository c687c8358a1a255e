// Reading a session log from its end: the last whole record whatever the line lengths and chunk
// boundaries, an unfinished last write measured (and cut) exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cutTornTail, readLogHead, readLogTail } from '../../fargate-proxy/src/adapters/local/audit-log-tail.js';
import { forEachJournalLine } from '../../fargate-proxy/src/adapters/local/audit-journal.js';

const rec = (seq: number, pad = 0) => JSON.stringify({ seq, hash: `h${seq}`, pad: 'x'.repeat(pad) });

test('the last whole record, for lines shorter and longer than a read chunk, with and without a torn tail', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'airlock-log-tail-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 's.jsonl');
  assert.equal(readLogTail(join(dir, 'none.jsonl')), undefined);
  await writeFile(file, '');
  assert.deepEqual(readLogTail(file), { tornBytes: 0, size: 0 });
  for (const pads of [[0, 0, 0], [10, 70_000, 5], [0, 200_000], [65_530, 65_540], [0]]) {
    for (const torn of ['', '{"seq":9,"ha', 'y'.repeat(150_000)]) {
      const body = `${pads.map((p, i) => rec(i + 1, p)).join('\n')}\n`;
      await writeFile(file, body + torn);
      const tail = readLogTail(file)!;
      assert.equal(tail.last?.seq, pads.length, `pads ${pads.join(',')}, torn ${torn.length}`);
      assert.equal(tail.tornBytes, torn.length);
      assert.equal(readLogHead(file)?.seq, pads[0]! < 65_000 ? 1 : undefined);
      assert.equal(cutTornTail(file), torn.length);
      assert.equal(await readFile(file, 'utf8'), body);
    }
  }
  // A damaged last line: the record before it is the last whole one.
  await writeFile(file, `${rec(1)}\n${rec(2)}\nnot json\n`);
  assert.equal(readLogTail(file)!.last?.seq, 2);
});

test('journal lines are read whole across read chunks, with their byte ranges; an unfinished last write is left out', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'airlock-journal-lines-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'j.jsonl');
  const lines = [rec(1), rec(2, 1_500_000), rec(3, 1_048_000), '', rec(4, 3)];
  await writeFile(file, `${lines.join('\n')}\n{"seq":5,"ha`);
  const seen: Array<{ seq: number; start: number; end: number; lineNo: number }> = [];
  const text = await readFile(file);
  const done = forEachJournalLine(file, 0, (line, start, end, lineNo) => {
    assert.ok(text.subarray(start, end - 1).equals(line), `line ${lineNo} is the bytes of its range`);
    seen.push({ seq: (JSON.parse(line.toString()) as { seq: number }).seq, start, end, lineNo });
  });
  assert.deepEqual(seen.map((s) => [s.seq, s.lineNo]), [[1, 1], [2, 2], [3, 3], [4, 5]]);
  assert.equal(done.end, text.length - '{"seq":5,"ha'.length);
  // Read on from where a reader stopped: only what came after.
  const more: number[] = [];
  forEachJournalLine(file, seen[2]!.end, (line) => void more.push((JSON.parse(line.toString()) as { seq: number }).seq), 4);
  assert.deepEqual(more, [4]);
});
