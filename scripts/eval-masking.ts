// Evaluates the masking detectors on the labelled corpus (seeded synthetic samples + hand-written
// edge cases) and prints precision/recall per detector and masking throughput.
//
// Scoring is span-level:
//  - a labelled span is recalled when the findings together cover every one of its characters
//    (partially masked secrets count as misses); recall is attributed to the label's detector;
//  - a finding is a true positive when it overlaps a labelled span (of any detector — what matters
//    is that sensitive characters were masked), otherwise a false positive of its own detector.
// Exits 1 when overall recall < 99.5 % or overall precision < 99 %.
//
// Usage: tsx scripts/eval-masking.ts [--seed N] [--per-detector N] [--clean N] [--verbose]
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { createMasker, DETECTOR_NAMES, type DetectorName, findSensitive, type Finding } from '../core/mask/index.js';
import { cleanCells, generateCorpus, type LabelledSample } from '../test/fixtures/masking-corpus/generate.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? dflt : Number(args[i + 1]);
};
const verbose = args.includes('--verbose');

interface EdgeCase {
  name: string;
  text: string;
  find: { detector: DetectorName; value: string }[];
}

function edgeSamples(): LabelledSample[] {
  const file = fileURLToPath(new URL('../test/fixtures/masking-corpus/edge-cases.json', import.meta.url));
  const { cases } = JSON.parse(readFileSync(file, 'utf8')) as { cases: EdgeCase[] };
  return cases.map((c) => {
    let from = 0;
    const spans = c.find.map((f) => {
      const start = c.text.indexOf(f.value, from);
      if (start === -1) throw new Error(`edge case "${c.name}": value for ${f.detector} not in text`);
      from = start + f.value.length;
      return { detector: f.detector, start, end: from };
    });
    return { kind: `edge:${c.name}`, text: c.text, spans };
  });
}

interface Score {
  labels: number;
  recalled: number;
  findings: number;
  truePositives: number;
}

const scores = new Map<DetectorName, Score>(DETECTOR_NAMES.map((d) => [d, { labels: 0, recalled: 0, findings: 0, truePositives: 0 }]));
const all = () => true;

function covered(findings: Finding[], start: number, end: number): boolean {
  let pos = start;
  for (const f of findings) if (f.start <= pos && f.end > pos) pos = f.end; // findings are sorted and disjoint
  return pos >= end;
}

const corpus = [
  ...generateCorpus(DETECTOR_NAMES, { seed: opt('seed', 20240501), perDetector: opt('per-detector', 300), clean: opt('clean', 3000) }),
  ...edgeSamples(),
];
const leakMasker = createMasker({ enabled: true, detectors: {}, columnRules: [] });
let leaks = 0;
for (const s of corpus) {
  const findings = findSensitive(s.text, all);
  for (const span of s.spans) {
    const score = scores.get(span.detector)!;
    score.labels++;
    if (covered(findings, span.start, span.end)) score.recalled++;
    else if (verbose) console.log(`MISS ${span.detector} ${JSON.stringify(s.text.slice(span.start, span.end))} in ${JSON.stringify(s.text)}`);
  }
  for (const f of findings) {
    const score = scores.get(f.detector)!;
    score.findings++;
    if (s.spans.some((l) => f.start < l.end && l.start < f.end)) score.truePositives++;
    else if (verbose) console.log(`FALSE ${f.detector} ${JSON.stringify(s.text.slice(f.start, f.end))} in ${JSON.stringify(s.text)}`);
  }
  const masked = leakMasker.maskText(s.text) ?? s.text;
  for (const span of s.spans) if (masked.includes(s.text.slice(span.start, span.end))) leaks++;
}

const pct = (n: number, d: number): string => (d === 0 ? '    -  ' : `${((100 * n) / d).toFixed(2).padStart(6)}%`);
console.log(`masking evaluation: ${corpus.length} samples (span-level; see header of scripts/eval-masking.ts)\n`);
console.log('detector              labels  recall   findings  precision');
const total: Score = { labels: 0, recalled: 0, findings: 0, truePositives: 0 };
for (const [d, s] of scores) {
  console.log(`${d.padEnd(22)}${String(s.labels).padStart(6)}  ${pct(s.recalled, s.labels)}  ${String(s.findings).padStart(8)}  ${pct(s.truePositives, s.findings)}`);
  total.labels += s.labels;
  total.recalled += s.recalled;
  total.findings += s.findings;
  total.truePositives += s.truePositives;
}
const recall = total.recalled / total.labels;
const precision = total.truePositives / total.findings;
console.log(`${'OVERALL'.padEnd(22)}${String(total.labels).padStart(6)}  ${pct(total.recalled, total.labels)}  ${String(total.findings).padStart(8)}  ${pct(total.truePositives, total.findings)}`);
console.log(`labelled values still present in masked output: ${leaks}`);

// Throughput: maskCell over clean cells and over cells holding sensitive values (not an assertion).
function throughput(label: string, generated: string[]): void {
  // Cells arrive decoded from wire buffers, i.e. as flat strings; generated ones are concatenations.
  const cells = generated.map((c) => Buffer.from(c, 'utf8').toString('utf8'));
  const masker = createMasker({ enabled: true, detectors: {}, columnRules: [] });
  const plan = masker.planColumns(['c']);
  const chars = cells.reduce((n, c) => n + c.length, 0);
  for (const c of cells.slice(0, 2000)) masker.maskCell(c, plan, 0); // warm-up
  const rounds = 5;
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) for (const c of cells) masker.maskCell(c, plan, 0);
  const seconds = (performance.now() - t0) / 1000;
  const mb = (chars * rounds) / 1e6;
  console.log(`throughput ${label.padEnd(6)} ${(mb / seconds).toFixed(1).padStart(7)} MB/s  (${cells.length} cells, avg ${(chars / cells.length).toFixed(0)} chars, MB counted in characters)`);
}
console.log('');
throughput('clean', cleanCells(50_000));
throughput('dirty', corpus.filter((s) => s.spans.length > 0).map((s) => s.text));
// Near-miss inputs built to provoke backtracking or rescans; each is 200 kB in one value.
const adversarial = ['a@', '1 ', '4111 ', '-----BEGIN ', 'eyJhbGciOiJIUzI1NiJ9.', 'password=', 'postgres://u:p@', 'GB82 ', '(5', '"token": "'];
let worst = Infinity;
for (const unit of adversarial) {
  const value = unit.repeat(Math.floor(200_000 / unit.length));
  const t0 = performance.now();
  leakMasker.maskText(value);
  worst = Math.min(worst, value.length / 1e6 / ((performance.now() - t0) / 1000));
}
console.log(`throughput worst   ${worst.toFixed(1).padStart(7)} MB/s  (slowest of ${adversarial.length} adversarial 200 kB values)`);

const ok = recall >= 0.995 && precision >= 0.99;
console.log(`\nrecall ${(100 * recall).toFixed(2)}% (≥ 99.5 required), precision ${(100 * precision).toFixed(2)}% (≥ 99 required): ${ok ? 'PASS' : 'FAIL'}`);
process.exit(ok ? 0 : 1);
