// The idle-session probe's memory figure: one garbage collection during the probe must not turn
// the growth per session negative (it did with a first-to-last difference).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { robustSlope } from '../../bench/idle-sessions.js';

test('a single drop in resident memory does not move the per-session slope', () => {
  // 20 KiB per session, sampled every 25 sessions; a collection frees 30 MiB after the 4th batch.
  const points: Array<[number, number]> = [];
  for (let n = 0; n <= 1000; n += 25) points.push([n, 200 + (n * 20) / 1024 - (n > 100 ? 30 : 0)]);
  const firstToLast = (points.at(-1)![1] - points[0]![1]) / 1000;
  assert.ok(firstToLast * 1024 < 0, 'the naive difference reads negative');
  assert.equal(Math.round(robustSlope(points)! * 1024), 20);
});

test('no slope without two distinct session counts', () => {
  assert.equal(robustSlope([[0, 1]]), undefined);
  assert.equal(robustSlope([[5, 1], [5, 2]]), undefined);
});
