// AWS secret access keys are 40 characters of base64 with no prefix, so on their own they are
// indistinguishable from other random strings. They are reported only with context: a name such
// as `aws_secret_access_key` just before, or an access key id close by.
import { charTests } from '../chars.js';
import type { Finding } from '../types.js';

const { isAlnum, isLower, isUpper } = charTests;

const CONTEXT_NAMES = /aws_?secret|secret_?access_?key|secretaccesskey/gi;
// The same names, for the common answer "none here" without a match iterator.
const ANY_CONTEXT_NAME = new RegExp(CONTEXT_NAMES.source, 'i');
const AFTER_NAME = 80;
const AROUND_KEY_ID = 160;

export function findAwsSecrets(text: string, accessKeyIds: Finding[], out: Finding[]): void {
  if (accessKeyIds.length === 0 && !ANY_CONTEXT_NAME.test(text)) return;
  const seen = new Set<number>();
  const push = (from: number, to: number): void => {
    for (const s of fortyRuns(text, Math.max(0, from), Math.min(text.length, to))) {
      if (seen.has(s)) continue;
      seen.add(s);
      out.push({ detector: 'aws_secret_key', start: s, end: s + 40 });
    }
  };
  for (const m of text.matchAll(CONTEXT_NAMES)) push(m.index + m[0].length, m.index + m[0].length + AFTER_NAME);
  for (const id of accessKeyIds) push(id.start - AROUND_KEY_ID, id.end + AROUND_KEY_ID);
}

const isKeyChar = (c: number): boolean => isAlnum(c) || c === 43 || c === 47; // + and /

/** Starts of runs of exactly 40 key characters inside [from, to) that mix upper and lower case. */
function fortyRuns(text: string, from: number, to: number): number[] {
  const starts: number[] = [];
  let i = from;
  // Don't start in the middle of a run that began before the window.
  while (i < to && i > 0 && isKeyChar(text.charCodeAt(i - 1)) && isKeyChar(text.charCodeAt(i))) i++;
  while (i < to) {
    if (!isKeyChar(text.charCodeAt(i))) {
      i++;
      continue;
    }
    const s = i;
    let upper = false;
    let lower = false;
    while (i < text.length && isKeyChar(text.charCodeAt(i))) {
      const c = text.charCodeAt(i);
      upper ||= isUpper(c);
      lower ||= isLower(c);
      i++;
    }
    if (i - s === 40 && upper && lower) starts.push(s);
  }
  return starts;
}
