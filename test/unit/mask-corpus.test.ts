// The labelled corpus as a regression test: every hand-written edge case exactly, and a small
// seeded synthetic corpus with the same thresholds as `scripts/eval-masking.ts`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DETECTOR_NAMES, findSensitive } from '../../core/mask/index.js';
import { generateCorpus } from '../fixtures/masking-corpus/generate.js';

interface EdgeCase {
  name: string;
  text: string;
  find: { detector: string; value: string }[];
}

const { cases } = JSON.parse(readFileSync(new URL('../fixtures/masking-corpus/edge-cases.json', import.meta.url), 'utf8')) as { cases: EdgeCase[] };

test('hand-written edge cases: exactly the labelled values are found', () => {
  assert.ok(cases.length >= 80);
  for (const c of cases) {
    const got = findSensitive(c.text, () => true).map((f) => `${f.detector}:${c.text.slice(f.start, f.end)}`);
    assert.deepEqual(got, c.find.map((f) => `${f.detector}:${f.value}`), c.name);
  }
});

test('synthetic corpus: recall ≥ 99.5 %, precision ≥ 99 %', () => {
  const corpus = generateCorpus(DETECTOR_NAMES, { seed: 99, perDetector: 40, clean: 400 });
  let labels = 0;
  let recalled = 0;
  let findings = 0;
  let truePositives = 0;
  for (const s of corpus) {
    const found = findSensitive(s.text, () => true);
    for (const l of s.spans) {
      labels++;
      let pos = l.start;
      for (const f of found) if (f.start <= pos && f.end > pos) pos = f.end;
      if (pos >= l.end) recalled++;
    }
    for (const f of found) {
      findings++;
      if (s.spans.some((l) => f.start < l.end && l.start < f.end)) truePositives++;
    }
  }
  assert.ok(recalled / labels >= 0.995, `recall ${recalled}/${labels}`);
  assert.ok(truePositives / findings >= 0.99, `precision ${truePositives}/${findings}`);
});
