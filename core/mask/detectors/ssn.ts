// US Social Security numbers: AAA-GG-SSSS (dash or space), or 9 bare digits only when the text
// just before says "ssn"/"social security" (bare 9-digit ids are too common otherwise).
import type { Finding } from '../types.js';
import { gluedToNeighbours, type NumericChunk, uniformSep } from './numeric-chunks.js';

export function isValidSsn(digits: string): boolean {
  if (digits.length !== 9) return false;
  const area = digits.slice(0, 3);
  const group = digits.slice(3, 5);
  const serial = digits.slice(5);
  if (area === '000' || area === '666' || area[0] === '9') return false;
  return group !== '00' && serial !== '0000';
}

const CONTEXT = /(?:ssn|social security|soc\.? ?sec|ss#)/i;

export function findSsns(text: string, chunks: NumericChunk[], out: Finding[]): void {
  for (const chunk of chunks) {
    if (chunk.plus) continue;
    const g = chunk.groups;
    for (let i = 0; i < g.length; i++) {
      if (g[i]!.paren) continue;
      // Grouped form.
      if (i + 2 < g.length) {
        const sep = uniformSep(g, i, i + 2);
        if (
          (sep === '-' || sep === ' ') &&
          g[i]!.digits.length === 3 &&
          g[i + 1]!.digits.length === 2 &&
          g[i + 2]!.digits.length === 4 &&
          !g[i + 1]!.paren &&
          !g[i + 2]!.paren &&
          !gluedToNeighbours(g, i, i + 2, sep) &&
          isValidSsn(g[i]!.digits + g[i + 1]!.digits + g[i + 2]!.digits)
        ) {
          out.push({ detector: 'ssn', start: g[i]!.start, end: g[i + 2]!.end });
          i += 2;
          continue;
        }
      }
      // Bare form, only with context.
      if (g[i]!.digits.length === 9 && !gluedToNeighbours(g, i, i, '') && isValidSsn(g[i]!.digits)) {
        const before = text.slice(Math.max(0, g[i]!.start - 32), g[i]!.start);
        if (CONTEXT.test(before)) out.push({ detector: 'ssn', start: g[i]!.start, end: g[i]!.end });
      }
    }
  }
}
