// Masks literals in SQL text before it is recorded: string constants and comments always (they
// carry passwords, e-mail addresses, free text), numbers when long enough to be identifiers
// (card, account, phone numbers). Uses PostgreSQL's own scanner, so quoting rules are exact.
import { loadModule, scanSync } from 'libpg-query';
import { createHash } from 'node:crypto';
import { LruCache } from '../lru.js';

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
 * Text with none of these holds nothing to mask: skip the scanner (the common case for simple
 * statements). `$1` parameters are not literals; any other dollar may open a dollar quote.
 */
const MAYBE_LITERAL = new RegExp(`'|\\$(?!\\d)|--|/\\*|\\d{${MIN_MASKED_DIGITS}}`);

/** Prepared and ORM statements repeat their text: remember recent results rather than scan again. */
const recent = new LruCache<string, string>(1000);
const MAX_REMEMBERED_LENGTH = 4096;

export function maskSqlLiterals(sql: string): string {
  if (!MAYBE_LITERAL.test(sql)) return sql;
  const remembered = recent.get(sql);
  if (remembered !== undefined) return remembered;
  const masked = scanAndMask(sql);
  if (sql.length <= MAX_REMEMBERED_LENGTH) recent.set(sql, masked);
  return masked;
}

function scanAndMask(sql: string): string {
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
    if (STRING_TOKENS.has(t.tokenName) || (t.tokenName !== 'IDENT' && t.text.includes("'"))) replacement = "'***'";
    else if (COMMENT_TOKENS.has(t.tokenName)) replacement = t.tokenName === 'C_COMMENT' ? '/* *** */' : '-- ***';
    else if (NUMBER_TOKENS.has(t.tokenName) && (t.text.match(/\d/g)?.length ?? 0) >= MIN_MASKED_DIGITS) replacement = '0';
    if (replacement === undefined) continue;
    out.push(bytes.subarray(cursor, t.start).toString('utf8'), replacement);
    cursor = t.end;
  }
  out.push(bytes.subarray(cursor).toString('utf8'));
  return out.join('');
}
