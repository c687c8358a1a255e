// Payment card numbers: 13–19 digits, written whole or in groups split by one kind of separator
// (space or dash), inside a known issuer range, passing Luhn.
import { luhnValid } from '../checksums.js';
import type { Finding } from '../types.js';
import { gluedToNeighbours, type NumericChunk, uniformSep, windowDigits } from './numeric-chunks.js';

interface IssuerRange {
  low: number;
  high: number;
  /** Digits of the prefix compared (low/high have this many digits). */
  width: number;
  lengths: number[];
}

const r = (low: number, high: number, lengths: number[]): IssuerRange => ({
  low,
  high,
  width: String(low).length,
  lengths,
});
const L16_19 = [16, 17, 18, 19];

// Deliberately excludes 12-digit Maestro and UATP (prefix 1): those ranges collide with ordinary ids.
const ISSUERS: IssuerRange[] = [
  r(4, 4, [13, 16, 19]), // Visa
  r(51, 55, [16]), // Mastercard
  r(2221, 2720, [16]), // Mastercard 2-series
  r(34, 34, [15]),
  r(37, 37, [15]), // American Express
  r(6011, 6011, L16_19),
  r(644, 649, L16_19),
  r(65, 65, L16_19), // Discover
  r(3528, 3589, L16_19), // JCB
  r(300, 305, [14, 16, 17, 18, 19]),
  r(36, 36, [14, 16, 17, 18, 19]),
  r(38, 39, [14, 16, 17, 18, 19]), // Diners Club
  r(62, 62, L16_19), // UnionPay
  r(50, 50, [13, 14, 15, ...L16_19]),
  r(56, 58, [13, 14, 15, ...L16_19]),
  r(63, 63, [13, 14, 15, ...L16_19]),
  r(67, 67, [13, 14, 15, ...L16_19]), // Maestro
  r(2200, 2204, L16_19), // Mir
];

export function knownIssuer(digits: string): boolean {
  for (const range of ISSUERS) {
    if (!range.lengths.includes(digits.length)) continue;
    const prefix = Number(digits.slice(0, range.width));
    if (prefix >= range.low && prefix <= range.high) return true;
  }
  return false;
}

export function isCardNumber(digits: string): boolean {
  return digits.length >= 13 && digits.length <= 19 && knownIssuer(digits) && luhnValid(digits);
}

export function findCards(chunks: NumericChunk[], out: Finding[]): void {
  for (const chunk of chunks) {
    const g = chunk.groups;
    for (let i = 0; i < g.length; i++) {
      if (chunk.plus && i === 0) continue;
      for (let j = Math.min(g.length - 1, i + 5); j >= i; j--) {
        if (!cardShaped(chunk, i, j)) continue;
        const digits = windowDigits(g, i, j);
        if (isCardNumber(digits)) {
          out.push({ detector: 'card', start: g[i]!.start, end: g[j]!.end });
          i = j;
          break;
        }
      }
    }
  }
}

function cardShaped(chunk: NumericChunk, i: number, j: number): boolean {
  const g = chunk.groups;
  const sep = uniformSep(g, i, j);
  if (sep === undefined || sep === '.') return false;
  for (let k = i; k <= j; k++) if (g[k]!.paren) return false;
  if (gluedToNeighbours(g, i, j, sep)) return false;
  if (i === j) return true;
  // Printed cards start with a 4-digit group; 4-digit groups before the window mean a longer
  // grouped number (e.g. a tracking number) that merely contains card-like digits.
  if (g[i]!.digits.length !== 4) return false;
  if (i > 0 && g[i]!.sep === sep && g[i - 1]!.digits.length === 4) return false;
  for (let k = i + 1; k <= j; k++) {
    const len = g[k]!.digits.length;
    if (len < 3 || len > 6) return false;
  }
  return true;
}
