// Phone numbers in three shapes, each with its own evidence so that dates, amounts, ids, IP
// addresses and version strings don't qualify:
//  - international: '+', country code, 8–15 digits in total (E.164), NANP (+1) exactly 11;
//  - North American: (415) 555-2671, 415-555-2671, 415.555.2671, 1 415 555 2671, with valid
//    area/exchange codes (first digit 2–9);
//  - national trunk-prefix formats used across Europe and elsewhere: 020 7946 0958, 01 23 45 67 89,
//    (030) 1234 5678 — leading 0, 10–11 digits, one kind of separator.
// Unseparated national numbers count only right after a word such as "phone", "tel" or "mobile".
import type { Finding } from '../types.js';
import { type DigitGroup, gluedToNeighbours, type NumericChunk, uniformSep } from './numeric-chunks.js';

const CONTEXT = /(?:phone|tel|mobile|cell|fax|call|sms|whatsapp|contact)\W{0,4}$/i;

export function findPhones(text: string, chunks: NumericChunk[], out: Finding[]): void {
  for (const chunk of chunks) {
    const g = chunk.groups;
    if (chunk.plus) {
      const end = internationalEnd(g);
      if (end >= 0) out.push({ detector: 'phone', start: chunk.start, end: g[end]!.end });
      continue;
    }
    for (let i = 0; i < g.length; i++) {
      const end = northAmericanEnd(text, g, i) ?? trunkPrefixEnd(text, g, i);
      if (end !== undefined) {
        out.push({ detector: 'phone', start: g[i]!.start, end: g[end]!.end });
        i = end;
      }
    }
  }
}

/** Index of the last group of an international number starting at group 0, or -1. */
function internationalEnd(g: DigitGroup[]): number {
  const first = g[0]!;
  if (first.paren || first.digits[0] === '0') return -1;
  if (g.length === 1) return first.digits.length >= 8 && first.digits.length <= 15 ? 0 : -1;
  if (first.digits.length > 4) return -1;
  const nanp = first.digits === '1';
  let total = 0;
  let best = -1;
  for (let k = 0; k < g.length; k++) {
    total += g[k]!.digits.length;
    if (total > 15) break;
    if (k >= 2 && g[k]!.sep === '.' && g[k - 1]!.sep !== '.' && !g[k - 1]!.paren) break;
    if (nanp ? total === 11 : total >= 8) best = k;
    if (nanp && total >= 11) break;
  }
  if (best < 1) return -1;
  // Dots read as decimals unless they separate at least three groups: "+1234567.89" is an amount.
  const dots = g.slice(1, best + 1).filter((x) => x.sep === '.').length;
  if (dots > 0 && best < 2) return -1;
  return best;
}

function validNanp(ten: string): boolean {
  return ten.length === 10 && ten[0]! >= '2' && ten[3]! >= '2';
}

function northAmericanEnd(text: string, g: DigitGroup[], i: number): number | undefined {
  const a = g[i]!;
  // Bare 10 digits, or 11 with the leading 1, only after a phone-ish word.
  if (g.length - i >= 1 && !a.paren) {
    const d = a.digits;
    const ten = d.length === 11 && d[0] === '1' ? d.slice(1) : d;
    if (validNanp(ten) && !gluedToNeighbours(g, i, i, '') && hasContext(text, a.start)) return i;
  }
  let k = i;
  // Optional country code "1" before the area code, written with the same separator.
  if (!a.paren && a.digits === '1' && k + 1 < g.length) k++;
  if (k + 2 >= g.length) return undefined;
  const area = g[k]!;
  const exch = g[k + 1]!;
  const line = g[k + 2]!;
  if (area.digits.length !== 3 || exch.digits.length !== 3 || line.digits.length !== 4) return undefined;
  if (exch.paren || line.paren) return undefined;
  if (!validNanp(area.digits + exch.digits + line.digits)) return undefined;
  const last = k + 2;
  if (area.paren) {
    if (exch.sep !== ' ' && exch.sep !== '') return undefined;
    if (line.sep !== '-' && line.sep !== ' ' && line.sep !== '.') return undefined;
    if (k > i && area.sep !== ' ') return undefined;
    const after = last + 1 < g.length ? g[last + 1]!.sep : '';
    if (after === line.sep && after !== ' ') return undefined;
    return last;
  }
  const sep = uniformSep(g, i, last);
  if (sep === undefined || sep === '' || gluedToNeighbours(g, i, last, sep) || spaceRunContinues(g, i, last, sep)) {
    return undefined;
  }
  return last;
}

function trunkPrefixEnd(text: string, g: DigitGroup[], i: number): number | undefined {
  const a = g[i]!;
  if (a.digits[0] !== '0' || a.digits[1] === '0' || a.digits.length < 2) return undefined;
  if (!a.paren && (a.digits.length === 10 || a.digits.length === 11)) {
    return !gluedToNeighbours(g, i, i, '') && hasContext(text, a.start) ? i : undefined;
  }
  // Trunk 0 plus area code: 2–5 digits ("020", "07700", "0341"); a longer first run is an id.
  if (!a.paren && a.digits.length > 5) return undefined;
  let total = a.digits.length;
  let best: number | undefined;
  for (let j = i + 1; j < g.length && j <= i + 5; j++) {
    const x = g[j]!;
    if (x.paren || x.digits.length < 2) break;
    total += x.digits.length;
    if (total > 11) break;
    if (total >= 10) best = j;
  }
  if (best === undefined) return undefined;
  // The parenthesised area code may be followed by a space or nothing; the rest shares one separator.
  const from = a.paren ? i + 1 : i;
  const sep = uniformSep(g, from, best);
  if (sep === undefined || (sep === '' && best > from)) return undefined;
  if (a.paren && g[i + 1]!.sep !== ' ' && g[i + 1]!.sep !== '') return undefined;
  if (gluedToNeighbours(g, i, best, sep) || spaceRunContinues(g, i, best, sep)) return undefined;
  if (looksLikeDate(g, i)) return undefined;
  return best;
}

/**
 * A space-grouped window inside a longer run of space-grouped numbers ("9400 1000 0341 0576 30",
 * a tracking number) is a slice of something else, not a phone number.
 */
function spaceRunContinues(g: DigitGroup[], i: number, j: number, sep: string): boolean {
  if (sep !== ' ') return false;
  return (i > 0 && g[i]!.sep === ' ') || (j + 1 < g.length && g[j + 1]!.sep === ' ');
}

/** dd.mm.yyyy / yyyy-mm-dd followed by a time: the first groups are 2,2,4 or 4,2,2. */
function looksLikeDate(g: DigitGroup[], i: number): boolean {
  const sizes = g.slice(i, i + 3).map((x) => x.digits.length).join(',');
  return sizes === '2,2,4' || sizes === '4,2,2';
}

function hasContext(text: string, start: number): boolean {
  return CONTEXT.test(text.slice(Math.max(0, start - 24), start));
}
