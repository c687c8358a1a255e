// JSON Web Tokens: three base64url segments whose first decodes to a JSON object naming an `alg`.
// Found from each "eyJ" (base64 of '{"'); segments are consumed by a bounded character scan.
import { charTests } from '../chars.js';
import type { Finding } from '../types.js';

const { isTokenChar } = charTests;

const MAX_SEGMENT = 16_384;

export function findJwts(text: string, out: Finding[]): void {
  let i = text.indexOf('eyJ');
  while (i !== -1) {
    const end = jwtEnd(text, i);
    if (end !== undefined) out.push({ detector: 'jwt', start: i, end });
    i = text.indexOf('eyJ', end ?? i + 3);
  }
}

function segmentEnd(text: string, from: number): number {
  let i = from;
  while (i < text.length && i - from < MAX_SEGMENT && isTokenChar(text.charCodeAt(i))) i++;
  return i;
}

function jwtEnd(text: string, start: number): number | undefined {
  if (start > 0 && isTokenChar(text.charCodeAt(start - 1))) return undefined;
  const h = segmentEnd(text, start);
  if (text[h] !== '.') return undefined;
  const p = segmentEnd(text, h + 1);
  if (p === h + 1 || text[p] !== '.') return undefined;
  // The signature may be empty (alg "none"): still a token carrying claims.
  const s = segmentEnd(text, p + 1);
  if (text[s] === '.' && isTokenChar(text.charCodeAt(s + 1))) return undefined; // JWE or something longer
  return headerNamesAlg(text.slice(start, h)) ? s : undefined;
}

function headerNamesAlg(segment: string): boolean {
  if (segment.length > 2048) return false;
  try {
    const header: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof header === 'object' && header !== null && typeof (header as { alg?: unknown }).alg === 'string';
  } catch {
    return false;
  }
}
