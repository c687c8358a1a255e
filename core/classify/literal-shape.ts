// The shape of a statement: its text with every literal constant replaced by a marker of the
// constant's token kind. Statements that differ only in their constants (`WHERE id = 1`,
// `WHERE id = 2`) share a shape, so the classifier can reuse a verdict without parsing again.
//
// This is a deliberately small subset of PostgreSQL's lexer (src/backend/parser/scan.l). Any text
// it cannot read exactly as the server would — comments, dollar quotes, escape strings, prefixed
// strings (E'', B'', X'', U&''), Unicode identifiers (U&""), backslashes, exponents, hex or underscored numbers — has no
// shape, and the caller parses it in full. Two texts with the same shape therefore have the same
// tokens, in the same places, but for the values of their constants.

/** Markers cannot occur in SQL text: NUL cannot cross the wire protocol, and texts holding one have no shape. */
const MARK = {
  /** An integer literal that fits in int4: the lexer's ICONST. */
  int: '\0i',
  /** Any other numeric literal (decimal point, or too large for int4): the lexer's FCONST. */
  numeric: '\0f',
  /** A standard '…' string: the lexer's SCONST. */
  string: '\0s',
} as const;

const INT4_MAX = '2147483647';

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

/** Characters that may continue an identifier (scan.l `ident_cont`), high-bit characters included. */
function isIdentCont(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || isDigit(c) || c === 0x5f || c === 0x24 || c >= 0x80;
}

function isIdentStart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || c >= 0x80;
}

/** Whether a run of decimal digits is an ICONST (fits in int4 once leading zeros go) or an FCONST. */
function integerMark(digits: string): string {
  const significant = digits.replace(/^0+/, '');
  if (significant.length < INT4_MAX.length) return MARK.int;
  if (significant.length > INT4_MAX.length) return MARK.numeric;
  return significant <= INT4_MAX ? MARK.int : MARK.numeric;
}

/**
 * Where a quoted run opened at `start` ends (just past its closing quote; a doubled quote is one
 * quote inside it), or undefined when it is unterminated or holds a NUL or, if refused, a backslash.
 */
function quotedEnd(sql: string, start: number, quote: number, refuseBackslash: boolean): number | undefined {
  let i = start + 1;
  for (;;) {
    if (i >= sql.length) return undefined;
    const d = sql.charCodeAt(i++);
    if (d === 0 || (refuseBackslash && d === 0x5c)) return undefined;
    if (d !== quote) continue;
    if (sql.charCodeAt(i) !== quote) return i;
    i++;
  }
}

/** Whether blanks holding a newline, then another quote, follow position `i`. */
function continuesOnNextLine(sql: string, i: number): boolean {
  let newline = false;
  for (; i < sql.length; i++) {
    const c = sql.charCodeAt(i);
    if (c === 0x0a || c === 0x0d) newline = true;
    else if (c !== 0x20 && c !== 0x09 && c !== 0x0b && c !== 0x0c) break;
  }
  return newline && sql.charCodeAt(i) === 0x27;
}

/**
 * The statement's shape, or undefined when the text holds anything outside the subset this
 * scanner reads exactly (see the header). Never throws.
 */
export function literalShape(sql: string): string | undefined {
  const out: string[] = [];
  let copiedUpTo = 0;
  const read = readConstants(sql, (start, end, mark) => {
    out.push(sql.slice(copiedUpTo, start), mark);
    copiedUpTo = end;
  });
  if (!read) return undefined;
  out.push(sql.slice(copiedUpTo));
  return out.join('');
}

/** A constant token as PostgreSQL's lexer reads it: ICONST, FCONST or SCONST, at string indices [start, end). */
export interface LiteralConstant {
  kind: 'int' | 'numeric' | 'string';
  start: number;
  end: number;
}

const KIND_OF_MARK: Record<string, LiteralConstant['kind']> = { [MARK.int]: 'int', [MARK.numeric]: 'numeric', [MARK.string]: 'string' };

/**
 * Every constant of the text, in order, or undefined under the same conditions as `literalShape`
 * (the text holds something outside the subset). Never throws.
 */
export function literalConstants(sql: string): LiteralConstant[] | undefined {
  const found: LiteralConstant[] = [];
  const read = readConstants(sql, (start, end, mark) => found.push({ kind: KIND_OF_MARK[mark]!, start, end }));
  return read ? found : undefined;
}

/** The lexer: reports each constant with its marker; undefined when the text is outside the subset. */
function readConstants(sql: string, replace: (start: number, end: number, mark: string) => void): true | undefined {
  const n = sql.length;
  let i = 0;
  while (i < n) {
    const c = sql.charCodeAt(i);
    if (isIdentStart(c)) {
      // Keywords and identifiers are kept as written; digits inside them are not constants.
      i++;
      while (i < n && isIdentCont(sql.charCodeAt(i))) i++;
      continue;
    }
    if (isDigit(c)) {
      const start = i;
      // `.5` and `t.5`: a leading dot is outside the subset.
      if (start > 0 && sql.charCodeAt(start - 1) === 0x2e) return undefined;
      while (i < n && isDigit(sql.charCodeAt(i))) i++;
      let mark = integerMark(sql.slice(start, i));
      if (i < n && sql.charCodeAt(i) === 0x2e) {
        // `1.5` is a decimal; `1.`, `1..2` and `1.e5` are left to the full parser.
        if (!(i + 1 < n && isDigit(sql.charCodeAt(i + 1)))) return undefined;
        i++;
        while (i < n && isDigit(sql.charCodeAt(i))) i++;
        mark = MARK.numeric;
      }
      // Exponents, `0x1F`, `1_000`, `123abc` (trailing junk) and a second dot: outside the subset.
      if (i < n && (isIdentCont(sql.charCodeAt(i)) || sql.charCodeAt(i) === 0x2e)) return undefined;
      replace(start, i, mark);
      continue;
    }
    switch (c) {
      case 0x27: {
        // '…': only when nothing prefixes it (E'', B'', X'', N'', U&'' and typed `x'…'` differ).
        if (i > 0) {
          const prev = sql.charCodeAt(i - 1);
          if (isIdentCont(prev) || prev === 0x26 || prev === 0x27) return undefined;
        }
        // A backslash means something else when standard_conforming_strings is off.
        const end = quotedEnd(sql, i, 0x27, true);
        // 'a'<newline>'b' is one constant to PostgreSQL: left to the full parser.
        if (end === undefined || continuesOnNextLine(sql, end)) return undefined;
        replace(i, end, MARK.string);
        i = end;
        continue;
      }
      case 0x22: {
        // "quoted identifier", kept as written; "" alone is an error. U&"…" is refused: its meaning
        // depends on the string after UESCAPE, which a shape would treat as any constant.
        if (i > 0 && sql.charCodeAt(i - 1) === 0x26) return undefined;
        if (sql.charCodeAt(i + 1) === 0x22 && sql.charCodeAt(i + 2) !== 0x22) return undefined;
        const end = quotedEnd(sql, i, 0x22, false);
        if (end === undefined) return undefined;
        i = end;
        continue;
      }
      case 0x24: {
        // $1 is a parameter, kept as written; anything else with a dollar may open a dollar quote.
        let j = i + 1;
        while (j < n && isDigit(sql.charCodeAt(j))) j++;
        if (j === i + 1 || (j < n && isIdentCont(sql.charCodeAt(j))) || integerMark(sql.slice(i + 1, j)) !== MARK.int) return undefined;
        i = j;
        continue;
      }
      case 0x2d: // -- comment
        if (i + 1 < n && sql.charCodeAt(i + 1) === 0x2d) return undefined;
        i++;
        continue;
      case 0x2f: // /* comment */
        if (i + 1 < n && sql.charCodeAt(i + 1) === 0x2a) return undefined;
        i++;
        continue;
      case 0x5c: // backslash outside a string
      case 0:
        return undefined;
      default:
        i++;
    }
  }
  return true;
}

/**
 * The text a single statement is recorded with: the whole string without surrounding blanks and
 * trailing semicolons — what the parser's statement location and length select for a string holding
 * one statement and no comments.
 */
export function singleStatementText(sql: string): string {
  return sql.replace(/[\s;]+$/, '').trim();
}
