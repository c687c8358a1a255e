// One linear pass that cuts a text into "numeric chunks": runs of digit groups joined by single
// separators (space, dash, dot, parentheses), optionally led by '+'. Card, SSN and phone detectors
// then look at windows of consecutive groups instead of re-scanning the text with regexes.
import { charTests } from '../chars.js';

const { at, isAlnum, isDigit } = charTests;

export interface DigitGroup {
  start: number;
  end: number;
  digits: string;
  /** Written as `(123)`: start/end include the parentheses. */
  paren: boolean;
  /** Separator written before this group ('' for the first group or right after a `)`). */
  sep: string;
}

export interface NumericChunk {
  /** Chunk starts with '+' (international phone notation). */
  plus: boolean;
  start: number;
  end: number;
  groups: DigitGroup[];
}

const SEPARATORS = new Set([' ', '-', '.']);

/** Chars that glue a digit run into a longer identifier when they sit between it and a letter/digit. */
const GLUE = new Set(['-', '.', '_', '/']);

/** Max groups per chunk: longer runs are tables of numbers, not one value; the rest starts a new chunk. */
const MAX_GROUPS = 12;

export function numericChunks(text: string): NumericChunk[] {
  const chunks: NumericChunk[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    const startsChunk = isDigit(c) || ((c === 43 || c === 40) && isDigit(at(text, i + 1)));
    if (!startsChunk) {
      i++;
      continue;
    }
    if (glued(text, i)) {
      // Part of a longer identifier (hash, UUID, version, SKU): skip the whole alphanumeric run.
      i++;
      while (i < n && isAlnum(text.charCodeAt(i))) i++;
      continue;
    }
    const chunk = readChunk(text, i);
    // "(5" with no closing parenthesis yields no group: step past it.
    i = chunk.groups.length > 0 ? chunk.end : i + 1;
    if (isAlnum(at(text, chunk.end)) || (GLUE.has(text[chunk.end] ?? '') && isAlnum(at(text, chunk.end + 1)))) {
      // Trailing letters (timestamps' 'T', tracking numbers, hex) make the whole run an identifier.
      while (i < n && (isAlnum(text.charCodeAt(i)) || GLUE.has(text[i]!))) i++;
      continue;
    }
    if (chunk.groups.length > 0) chunks.push(chunk);
  }
  return chunks;
}

function glued(text: string, i: number): boolean {
  const prev = at(text, i - 1);
  if (isAlnum(prev)) return true;
  return GLUE.has(text[i - 1] ?? '') && isAlnum(at(text, i - 2));
}

function readChunk(text: string, from: number): NumericChunk {
  let i = from;
  const plus = text.charCodeAt(i) === 43;
  if (plus) i++;
  const groups: DigitGroup[] = [];
  let sep = '';
  for (;;) {
    const gStart = i;
    const paren = text.charCodeAt(i) === 40;
    let j = paren ? i + 1 : i;
    const dStart = j;
    while (j < text.length && isDigit(text.charCodeAt(j))) j++;
    if (j === dStart || (paren && text.charCodeAt(j) !== 41)) break;
    const digits = text.slice(dStart, j);
    if (paren) j++;
    groups.push({ start: gStart, end: j, digits, paren, sep });
    i = j;
    if (groups.length >= MAX_GROUPS) break;
    // Next separator: one of SEPARATORS, or none right after ')' as in "(415)555-2671".
    const next = text[i];
    if (next !== undefined && SEPARATORS.has(next) && startsGroup(text, i + 1)) {
      sep = next;
      i++;
    } else if (paren && startsGroup(text, i)) {
      sep = '';
    } else {
      break;
    }
  }
  const end = groups.length > 0 ? groups[groups.length - 1]!.end : from;
  return { plus, start: from, end, groups };
}

function startsGroup(text: string, i: number): boolean {
  const c = at(text, i);
  return isDigit(c) || (c === 40 && isDigit(at(text, i + 1)));
}

/** Concatenated digits of groups [i, j]. */
export function windowDigits(groups: DigitGroup[], i: number, j: number): string {
  let s = '';
  for (let k = i; k <= j; k++) s += groups[k]!.digits;
  return s;
}

/** The separator shared by every join inside window [i, j], '' for one group, or undefined if mixed. */
export function uniformSep(groups: DigitGroup[], i: number, j: number): string | undefined {
  if (i === j) return '';
  const s = groups[i + 1]!.sep;
  for (let k = i + 2; k <= j; k++) if (groups[k]!.sep !== s) return undefined;
  return s;
}

/**
 * A window is glued to its neighbours when the same '-' or '.' joins it to the next group
 * (e.g. "415-555-2671-99" is an id, not a phone). Spaces are ordinary prose and don't glue.
 */
export function gluedToNeighbours(groups: DigitGroup[], i: number, j: number, sep: string): boolean {
  const before = i > 0 ? groups[i]!.sep : '';
  const after = j + 1 < groups.length ? groups[j + 1]!.sep : '';
  if (sep === '') return isGlue(before) || isGlue(after);
  return isGlue(sep) && (before === sep || after === sep);
}

function isGlue(sep: string): boolean {
  return sep === '-' || sep === '.';
}
