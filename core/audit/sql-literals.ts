// Masks literals in SQL text before it is recorded: string constants and comments always (they
// carry passwords, e-mail addresses, free text), numbers when long enough to be identifiers
// (card, account, phone numbers). Quoting rules must be exact: most statements are read by the
// classifier's JavaScript lexer (a subset of PostgreSQL's, about 1 µs), and only text outside that
// subset (comments, dollar quotes, E'', U&'', exponents …) goes to PostgreSQL's own scanner (WASM,
// tens of µs); wherever both answer they agree (test/unit/sql-literals.test.ts).
import { loadModule, scanSync } from 'libpg-query';
import { createHash } from 'node:crypto';
import { LruCache } from '../lru.js';
import { literalConstants } from '../classify/literal-shape.js';

const STRING_TOKENS = new Set(['SCONST', 'USCONST', 'BCONST', 'XCONST']);
const NUMBER_TOKENS = new Set(['ICONST', 'FCONST']);
const COMMENT_TOKENS = new Set(['C_COMMENT', 'SQL_COMMENT']);
/** Shorter numbers (LIMIT 10, 1.5, 2024) say how a query works rather than whom it is about. */
const MIN_MASKED_DIGITS = 6;

let loaded: Promise<void> | undefined;

/** Loads the parser once; call before `maskSqlLiterals`. */
export function prepareSqlLiteralMasking(): Promise<void> {
  loaded ??= loadModule();
  return loaded;
}

/**
 * Text with none of these holds nothing to mask: skip the lexers (the common case for simple
 * statements). `$1` parameters are not literals; any other dollar may open a dollar quote. Digits
 * are counted over the whole text: a long number may be split by a point (`12345.678`).
 */
const MAYBE_LITERAL = new RegExp(`'|\\$(?!\\d)|--|/\\*|(?:\\d\\D*){${MIN_MASKED_DIGITS}}`);

/** Prepared and ORM statements repeat their text: remember recent results rather than scan again. */
const recent = new LruCache<string, string>(1000);
const MAX_REMEMBERED_LENGTH = 4096;

/**
 * Texts already masked elsewhere (a worker thread masks large statements off the event loop):
 * recording one needs no second pass over megabytes. Only large texts are kept, and few.
 */
const alreadyMasked = new LruCache<string, true>(16);
const ALREADY_MASKED_MIN_LENGTH = 4096;

/**
 * Declares `text` to be what `maskSqlLiterals` returned for some statement (in another thread), or
 * a description of a statement that holds none of its literals: `maskSqlLiterals(text)` then
 * returns it as it is. Never pass unmasked statement text.
 */
export function rememberMaskedSqlText(text: string): void {
  if (text.length >= ALREADY_MASKED_MIN_LENGTH) alreadyMasked.set(text, true);
  else recent.set(text, text);
}

export function maskSqlLiterals(sql: string): string {
  if (sql.length >= ALREADY_MASKED_MIN_LENGTH && alreadyMasked.get(sql)) return sql;
  if (!MAYBE_LITERAL.test(sql)) return sql;
  const remembered = recent.get(sql);
  if (remembered !== undefined) return remembered;
  const masked = lexAndMask(sql) ?? scanAndMask(sql);
  if (sql.length <= MAX_REMEMBERED_LENGTH) recent.set(sql, masked);
  return masked;
}

const STRING_MASK = "'***'";
const NUMBER_MASK = '0';

/** Whether a numeric constant's text is long enough to identify someone. */
function longNumber(text: string): boolean {
  let digits = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39 && ++digits >= MIN_MASKED_DIGITS) return true;
  }
  return false;
}

/** The JavaScript lexer's answer; undefined when the text is outside what it reads exactly. */
function lexAndMask(sql: string): string | undefined {
  const constants = literalConstants(sql);
  if (!constants) return undefined;
  const out: string[] = [];
  let cursor = 0;
  for (const c of constants) {
    let replacement: string | undefined;
    if (c.kind === 'string') replacement = STRING_MASK;
    else if (longNumber(sql.slice(c.start, c.end))) replacement = NUMBER_MASK;
    if (replacement === undefined) continue;
    out.push(sql.slice(cursor, c.start), replacement);
    cursor = c.end;
  }
  if (cursor === 0) return sql;
  out.push(sql.slice(cursor));
  return out.join('');
}

/** PostgreSQL's own scanner: exact for any text, tens of µs a call. Exported for the differential test. */
export function scanAndMask(sql: string): string {
  let tokens;
  try {
    tokens = scanSync(sql).tokens;
  } catch {
    // Unscannable text cannot be masked precisely: record its shape, not its content.
    return `/* unscannable statement: ${Buffer.byteLength(sql)} bytes, sha256 ${createHash('sha256').update(sql).digest('hex').slice(0, 16)} */`;
  }
  // Offsets from the scanner are byte offsets into the UTF-8 text.
  const bytes = Buffer.from(sql, 'utf8');
  const out: string[] = [];
  let cursor = 0;
  for (const t of tokens) {
    let replacement: string | undefined;
    // This scanner build names some constants (U&'…', B'…', X'…') UNKNOWN; keywords never hold a quote.
    if (STRING_TOKENS.has(t.tokenName) || (t.tokenName !== 'IDENT' && t.text.includes("'"))) replacement = STRING_MASK;
    else if (COMMENT_TOKENS.has(t.tokenName)) replacement = t.tokenName === 'C_COMMENT' ? '/* *** */' : '-- ***';
    else if (NUMBER_TOKENS.has(t.tokenName) && longNumber(t.text)) replacement = NUMBER_MASK;
    if (replacement === undefined) continue;
    out.push(bytes.subarray(cursor, t.start).toString('utf8'), replacement);
    cursor = t.end;
  }
  out.push(bytes.subarray(cursor).toString('utf8'));
  return out.join('');
}

const NUMERIC = /^\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*$/;

/**
 * A bound parameter's value (text format) as the audit records it, masked as the same value would
 * be as a literal in the statement's text: a number keeps its digits unless it is long enough to
 * identify someone, anything else is a string constant and is masked; NULL stays NULL.
 */
export function maskSqlParameter(value: string | null): string {
  if (value === null) return 'NULL';
  if (!NUMERIC.test(value)) return STRING_MASK;
  return longNumber(value) ? NUMBER_MASK : value.trim();
}
