// One pass over the text that says which detector families could possibly match, so that clean
// values (names, small numbers, dates, words) cost a single loop and no allocation.
import { charTests } from './chars.js';

const { isDigit, isTokenChar, isUpper } = charTests;

export interface Signals {
  /** A run of digits with single separators holds at least 8 digits (card, SSN, phone). */
  digitRun: boolean;
  /** '@' present (e-mail; connection strings also need it). */
  at: boolean;
  /** Two capitals followed by two digits (IBAN start). */
  ibanStart: boolean;
  /** A run of token characters [A-Za-z0-9_-] of 16+ (vendor tokens, JWT, AWS keys). */
  longToken: boolean;
  /** '=' or ':' present (assignments; PEM and URLs are checked with indexOf when this holds). */
  assignment: boolean;
  /** '-----' present (PEM armour). */
  dashes: boolean;
}

const DIGIT_RUN = 8;
const TOKEN_RUN = 16;

export function scanSignals(text: string): Signals | undefined {
  let digits = 0;
  let maxDigits = 0;
  let seps = 0;
  let token = 0;
  let maxToken = 0;
  let dashRun = 0;
  let at = false;
  let ibanStart = false;
  let assignment = false;
  let dashes = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (isDigit(c)) {
      digits++;
      seps = 0;
      if (digits > maxDigits) maxDigits = digits;
      if (!ibanStart && i >= 3 && isDigit(text.charCodeAt(i - 1)) && isUpper(text.charCodeAt(i - 2)) && isUpper(text.charCodeAt(i - 3))) {
        ibanStart = true;
      }
    } else if (c === 32 || c === 45 || c === 46 || c === 40 || c === 41 || c === 43) {
      // Separators keep a digit run going, as in "(415) 555-2671"; more than two in a row end it.
      if (++seps > 2) digits = 0;
    } else {
      digits = 0;
      seps = 0;
    }
    if (isTokenChar(c)) {
      token++;
      if (token > maxToken) maxToken = token;
    } else {
      token = 0;
    }
    if (c === 45) {
      dashRun++;
      if (dashRun >= 5) dashes = true;
    } else {
      dashRun = 0;
    }
    if (c === 64) at = true;
    else if (c === 61 || c === 58) assignment = true;
  }
  const signals: Signals = { digitRun: maxDigits >= DIGIT_RUN, at, ibanStart, longToken: maxToken >= TOKEN_RUN, assignment, dashes };
  return signals.digitRun || at || ibanStart || signals.longToken || assignment || dashes ? signals : undefined;
}
