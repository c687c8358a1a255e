// IBANs: country code, two check digits, then the country's fixed length of alphanumerics,
// electronic (no spaces) or printed (groups of four split by single spaces); ISO 13616 mod-97.
import { charTests } from '../chars.js';
import { ibanChecksumValid } from '../checksums.js';
import type { Finding } from '../types.js';

const { at, isAlnum, isDigit, isUpper } = charTests;

// Lengths from the SWIFT IBAN registry.
const LENGTHS: Record<string, number> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BR: 29, BY: 28, CH: 21,
  CR: 22, CY: 28, CZ: 24, DE: 22, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FO: 18, FR: 27,
  GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26,
  IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20, LV: 21, MC: 27, MD: 24,
  ME: 22, MK: 19, MR: 27, MT: 31, MU: 30, NL: 18, NO: 15, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29,
  RO: 24, RS: 22, SA: 24, SC: 31, SE: 24, SI: 19, SK: 24, SM: 27, ST: 25, SV: 28, TL: 23, TN: 24,
  TR: 26, UA: 29, VA: 22, VG: 24, XK: 20,
};

export function findIbans(text: string, out: Finding[]): void {
  const n = text.length;
  for (let i = 0; i + 4 <= n; i++) {
    const c = text.charCodeAt(i);
    if (!isUpper(c) || !isUpper(at(text, i + 1)) || !isDigit(at(text, i + 2)) || !isDigit(at(text, i + 3))) continue;
    if (isAlnum(at(text, i - 1))) continue;
    const length = LENGTHS[text.slice(i, i + 2)];
    if (length === undefined) continue;
    const found = readIban(text, i, length);
    if (found) {
      out.push(found);
      i = found.end - 1;
    }
  }
}

function readIban(text: string, start: number, length: number): Finding | undefined {
  let compact = '';
  let i = start;
  while (compact.length < length && i < text.length) {
    const c = text.charCodeAt(i);
    if (isDigit(c) || isUpper(c)) {
      compact += text[i];
      i++;
    } else if (c === 32 && compact.length % 4 === 0 && compact.length > 0 && isAlnum(at(text, i + 1))) {
      i++; // printed form: a single space after every fourth character
    } else {
      break;
    }
  }
  if (compact.length !== length || isAlnum(at(text, i))) return undefined;
  return ibanChecksumValid(compact) ? { detector: 'iban', start, end: i } : undefined;
}
