// One pass over the text that says which detector families could possibly match, so that clean
// values (names, small numbers, dates, words) cost a single loop and no allocation.

// Each ASCII code unit's classes in one table load: the loop runs per character of every cell.
const DIGIT = 1;
const UPPER = 2;
const TOKEN = 4; // [A-Za-z0-9_-]
const SEPARATOR = 8; // keeps a digit run going: space - . ( ) +
const CLASSES = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[0-9]/.test(ch)) CLASSES[c]! |= DIGIT;
  if (/[A-Z]/.test(ch)) CLASSES[c]! |= UPPER;
  if (/[A-Za-z0-9_-]/.test(ch)) CLASSES[c]! |= TOKEN;
  if (/[ \-.()+]/.test(ch)) CLASSES[c]! |= SEPARATOR;
}
const classOf = (c: number): number => (c < 128 ? CLASSES[c]! : 0);

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
    const k = classOf(c);
    if (k & DIGIT) {
      digits++;
      seps = 0;
      if (digits > maxDigits) maxDigits = digits;
      if (!ibanStart && i >= 3 && classOf(text.charCodeAt(i - 1)) & DIGIT && classOf(text.charCodeAt(i - 2)) & UPPER && classOf(text.charCodeAt(i - 3)) & UPPER) {
        ibanStart = true;
      }
    } else if (k & SEPARATOR) {
      // Separators keep a digit run going, as in "(415) 555-2671"; more than two in a row end it.
      if (++seps > 2) digits = 0;
    } else {
      digits = 0;
      seps = 0;
    }
    if (k & TOKEN) {
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
