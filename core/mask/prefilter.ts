// One pass over the text that says which detector families could possibly match, so that clean
// values (names, small numbers, dates, words) cost a single loop and no allocation. The pass runs
// over a string or straight over UTF-8 bytes: every class below is ASCII, and a multi-byte UTF-8
// sequence is all bytes ≥ 0x80, which (like the non-ASCII character it encodes) belong to no class
// and end every run — so a cell's bytes and its decoded text give the same signals, and a result
// cell without a candidate is never decoded.

// Each ASCII code unit's classes in one table load: the loop runs per character of every cell.
const DIGIT = 1;
const UPPER = 2;
const TOKEN = 4; // [A-Za-z0-9_-]
const SEPARATOR = 8; // keeps a digit run going: space - . ( ) +
const CLASSES = new Uint8Array(256);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[0-9]/.test(ch)) CLASSES[c]! |= DIGIT;
  if (/[A-Z]/.test(ch)) CLASSES[c]! |= UPPER;
  if (/[A-Za-z0-9_-]/.test(ch)) CLASSES[c]! |= TOKEN;
  if (/[ \-.()+]/.test(ch)) CLASSES[c]! |= SEPARATOR;
}
const classOf = (c: number): number => (c < 256 ? CLASSES[c]! : 0);

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

/** The scan's state, fed one code unit (or byte) at a time; one definition for both inputs. */
class SignalScan {
  digits = 0;
  maxDigits = 0;
  seps = 0;
  token = 0;
  maxToken = 0;
  dashRun = 0;
  /** The classes of the previous three code units, newest in the low byte (for the IBAN start). */
  recent = 0;
  at = false;
  ibanStart = false;
  assignment = false;
  dashes = false;

  feed(c: number): void {
    const k = classOf(c);
    if (k & DIGIT) {
      this.digits++;
      this.seps = 0;
      if (this.digits > this.maxDigits) this.maxDigits = this.digits;
      // Upper, upper, digit, then this digit.
      if ((this.recent & 0xff) & DIGIT && (this.recent >> 8) & UPPER && (this.recent >> 16) & UPPER) this.ibanStart = true;
    } else if (k & SEPARATOR) {
      // Separators keep a digit run going, as in "(415) 555-2671"; more than two in a row end it.
      if (++this.seps > 2) this.digits = 0;
    } else {
      this.digits = 0;
      this.seps = 0;
    }
    this.recent = ((this.recent << 8) | k) & 0xffffff;
    if (k & TOKEN) {
      if (++this.token > this.maxToken) this.maxToken = this.token;
    } else {
      this.token = 0;
    }
    if (c === 45) {
      if (++this.dashRun >= 5) this.dashes = true;
    } else {
      this.dashRun = 0;
    }
    if (c === 64) this.at = true;
    else if (c === 61 || c === 58) this.assignment = true;
  }

  result(): Signals | undefined {
    const signals: Signals = { digitRun: this.maxDigits >= DIGIT_RUN, at: this.at, ibanStart: this.ibanStart, longToken: this.maxToken >= TOKEN_RUN, assignment: this.assignment, dashes: this.dashes };
    return signals.digitRun || signals.at || signals.ibanStart || signals.longToken || signals.assignment || signals.dashes ? signals : undefined;
  }
}

export function scanSignals(text: string): Signals | undefined {
  const s = new SignalScan();
  for (let i = 0; i < text.length; i++) s.feed(text.charCodeAt(i));
  return s.result();
}

/** The same signals from the UTF-8 bytes bytes[start, end), without decoding them. */
export function scanSignalsInBytes(bytes: Uint8Array, start: number, end: number): Signals | undefined {
  const s = new SignalScan();
  for (let i = start; i < end; i++) s.feed(bytes[i]!);
  return s.result();
}
