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
const AT = 16; // @
const ASSIGNMENT = 32; // = :
const DASH = 64; // -
const MARKED = 128; // [A-Z0-9_-]: every match of a long-token detector holds one
const CLASSES = new Uint8Array(256);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[0-9]/.test(ch)) CLASSES[c]! |= DIGIT;
  if (/[A-Z]/.test(ch)) CLASSES[c]! |= UPPER;
  if (/[A-Za-z0-9_-]/.test(ch)) CLASSES[c]! |= TOKEN;
  if (/[ \-.()+]/.test(ch)) CLASSES[c]! |= SEPARATOR;
  if (ch === '@') CLASSES[c]! |= AT;
  if (ch === '=' || ch === ':') CLASSES[c]! |= ASSIGNMENT;
  if (ch === '-') CLASSES[c]! |= DASH;
  if (/[A-Z0-9_-]/.test(ch)) CLASSES[c]! |= MARKED;
}
/** A lower-case letter: extends a token run and ends every other run, so runs of them are skipped in bulk. */
const PLAIN = TOKEN;

export interface Signals {
  /** A run of digits with single separators holds at least 8 digits (card, SSN, phone). */
  digitRun: boolean;
  /** '@' present (e-mail; connection strings also need it). */
  at: boolean;
  /** Two capitals followed by two digits (IBAN start). */
  ibanStart: boolean;
  /**
   * A run of token characters [A-Za-z0-9_-] of 16+ (vendor tokens, JWT, AWS keys, md5 verifiers),
   * in a text holding a capital, a digit, '_' or '-': every match of those detectors holds one
   * (vendor prefixes, "eyJ", "md5", an AWS secret's mixed case), so lower-case words never qualify.
   */
  longToken: boolean;
  /** '=' or ':' present (assignments; PEM and URLs are checked with indexOf when this holds). */
  assignment: boolean;
  /** '-----' present (PEM armour). */
  dashes: boolean;
}

const DIGIT_RUN = 8;
const TOKEN_RUN = 16;

const S_DIGIT_RUN = 1;
const S_AT = 2;
const S_IBAN = 4;
const S_LONG_TOKEN = 8;
const S_ASSIGNMENT = 16;
const S_DASHES = 32;

// The scan's state is local variables, not an object: it runs once per cell of every row. The two
// loops below are the same scan over code units and over bytes (mask-prefilter-bytes.test.ts holds
// them equal); the class table does the per-unit work, so their bodies are short and alike.

/** The signals of the code units of text as bits (0: nothing to look for). */
function scanText(text: string): number {
  let digits = 0, maxDigits = 0, seps = 0, token = 0, maxToken = 0, dashRun = 0, recent = 0, seen = 0, found = 0;
  const end = text.length;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    const k = c < 256 ? CLASSES[c]! : 0;
    if (k === PLAIN) {
      const from = i;
      while (i + 1 < end && text.charCodeAt(i + 1) < 256 && CLASSES[text.charCodeAt(i + 1)] === PLAIN) i++;
      const run = i - from + 1;
      if ((token += run) > maxToken) maxToken = token;
      digits = seps = dashRun = 0;
      recent = run >= 3 ? PLAIN * 0x10101 : ((recent << (8 * run)) | (run === 2 ? PLAIN * 0x101 : PLAIN)) & 0xffffff;
      continue;
    }
    seen |= k;
    if (k & DIGIT) {
      if (++digits > maxDigits) maxDigits = digits;
      seps = 0;
      // Upper, upper, digit, then this digit.
      if (recent & DIGIT && (recent >> 8) & UPPER && (recent >> 16) & UPPER) found |= S_IBAN;
    } else if (k & SEPARATOR) {
      // Separators keep a digit run going, as in "(415) 555-2671"; more than two in a row end it.
      if (++seps > 2) digits = 0;
    } else {
      digits = seps = 0;
    }
    recent = ((recent << 8) | k) & 0xffffff;
    if (k & TOKEN) {
      if (++token > maxToken) maxToken = token;
    } else token = 0;
    if (k & DASH) {
      if (++dashRun >= 5) found |= S_DASHES;
    } else dashRun = 0;
  }
  return bits(found, maxDigits, maxToken, seen);
}

/** The same scan over the UTF-8 bytes bytes[start, end), without decoding them. */
function scanBytes(bytes: Uint8Array, start: number, end: number): number {
  let digits = 0, maxDigits = 0, seps = 0, token = 0, maxToken = 0, dashRun = 0, recent = 0, seen = 0, found = 0;
  for (let i = start; i < end; i++) {
    const k = CLASSES[bytes[i]!]!;
    if (k === PLAIN) {
      const from = i;
      while (i + 1 < end && CLASSES[bytes[i + 1]!] === PLAIN) i++;
      const run = i - from + 1;
      if ((token += run) > maxToken) maxToken = token;
      digits = seps = dashRun = 0;
      recent = run >= 3 ? PLAIN * 0x10101 : ((recent << (8 * run)) | (run === 2 ? PLAIN * 0x101 : PLAIN)) & 0xffffff;
      continue;
    }
    seen |= k;
    if (k & DIGIT) {
      if (++digits > maxDigits) maxDigits = digits;
      seps = 0;
      if (recent & DIGIT && (recent >> 8) & UPPER && (recent >> 16) & UPPER) found |= S_IBAN;
    } else if (k & SEPARATOR) {
      if (++seps > 2) digits = 0;
    } else {
      digits = seps = 0;
    }
    recent = ((recent << 8) | k) & 0xffffff;
    if (k & TOKEN) {
      if (++token > maxToken) maxToken = token;
    } else token = 0;
    if (k & DASH) {
      if (++dashRun >= 5) found |= S_DASHES;
    } else dashRun = 0;
  }
  return bits(found, maxDigits, maxToken, seen);
}

function bits(found: number, maxDigits: number, maxToken: number, seen: number): number {
  if (maxDigits >= DIGIT_RUN) found |= S_DIGIT_RUN;
  if (seen & AT) found |= S_AT;
  if (maxToken >= TOKEN_RUN && seen & MARKED) found |= S_LONG_TOKEN;
  if (seen & ASSIGNMENT) found |= S_ASSIGNMENT;
  return found;
}

function signalsOf(b: number): Signals | undefined {
  if (b === 0) return undefined;
  return { digitRun: (b & S_DIGIT_RUN) !== 0, at: (b & S_AT) !== 0, ibanStart: (b & S_IBAN) !== 0, longToken: (b & S_LONG_TOKEN) !== 0, assignment: (b & S_ASSIGNMENT) !== 0, dashes: (b & S_DASHES) !== 0 };
}

export function scanSignals(text: string): Signals | undefined {
  return signalsOf(scanText(text));
}

/** The same signals from the UTF-8 bytes bytes[start, end), without decoding them. */
export function scanSignalsInBytes(bytes: Uint8Array, start: number, end: number): Signals | undefined {
  return signalsOf(scanBytes(bytes, start, end));
}

/** Every signal on: what the detectors find with no prefilter at all (the property tests' reference). */
export const ALL_SIGNALS: Readonly<Signals> = Object.freeze({ digitRun: true, at: true, ibanStart: true, longToken: true, assignment: true, dashes: true });
