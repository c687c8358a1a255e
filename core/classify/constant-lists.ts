// Long lists of constants (`id IN (1, 2, …, 400000)`, `= ANY (ARRAY[…])`) make up nearly all of the
// large statements agents send, and parsing them costs seconds per few MiB. Nothing the classifier
// decides depends on how many constants such a list holds, so a statement can be inspected with
// each long list cut to its first constant: the tree differs only in the list's length.
//
// Lists are found with the shape lexer (literal-shape.ts), which reads only text it reads exactly
// as PostgreSQL does; text outside that subset is never cut. Only lists that are plainly constants
// separated by commas, right after `IN (` or `ARRAY[` and closed right after, are cut.
import type { Inspection } from '../model.js';
import { inspectSql, type PreparedLookup } from './index.js';
import { literalConstants, singleStatementText } from './literal-shape.js';

/** Lists shorter than this are left alone: cutting them saves nothing worth the doubt. */
const MIN_RUN = 64;

const isBlank = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0c;
const isIdent = (c: number): boolean => (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x24 || c >= 0x80;

/** Index of the last non-blank character before `i`, or -1. */
function backOverBlanks(sql: string, i: number): number {
  let j = i - 1;
  while (j >= 0 && isBlank(sql.charCodeAt(j))) j--;
  return j;
}

/** Whether the bare keyword `word` (any case) ends at index `end` (inclusive). */
function keywordEndsAt(sql: string, end: number, word: string): boolean {
  const start = end - word.length + 1;
  if (start < 0 || sql.slice(start, end + 1).toLowerCase() !== word) return false;
  return start === 0 || !isIdent(sql.charCodeAt(start - 1));
}

/** Only blanks, one comma, blanks between `from` and `to`. */
function commaBetween(sql: string, from: number, to: number): boolean {
  let comma = false;
  for (let i = from; i < to; i++) {
    const c = sql.charCodeAt(i);
    if (c === 0x2c && !comma) comma = true;
    else if (!isBlank(c)) return false;
  }
  return comma;
}

/**
 * `sql` with every long constant list after `IN (` or `ARRAY[` cut to its first constant, for
 * inspection only; undefined when there is nothing to cut or the text is outside the lexer's subset.
 */
export function cutConstantLists(sql: string, minRun = MIN_RUN): string | undefined {
  const constants = literalConstants(sql);
  if (!constants || constants.length < minRun) return undefined;
  const pieces: string[] = [];
  let copied = 0;
  let i = 0;
  while (i < constants.length) {
    let j = i;
    while (j + 1 < constants.length && commaBetween(sql, constants[j]!.end, constants[j + 1]!.start)) j++;
    const first = constants[i]!;
    const last = constants[j]!;
    if (j - i + 1 >= minRun) {
      const open = backOverBlanks(sql, first.start);
      const closeAt = (() => {
        let k = last.end;
        while (k < sql.length && isBlank(sql.charCodeAt(k))) k++;
        return k;
      })();
      const opener = sql.charCodeAt(open);
      const closer = sql.charCodeAt(closeAt);
      const inList = opener === 0x28 && closer === 0x29 && keywordEndsAt(sql, backOverBlanks(sql, open), 'in');
      const arrayList = opener === 0x5b && closer === 0x5d && keywordEndsAt(sql, backOverBlanks(sql, open), 'array');
      if (inList || arrayList) {
        pieces.push(sql.slice(copied, first.end));
        copied = last.end;
      }
    }
    i = j + 1;
  }
  if (copied === 0) return undefined;
  pieces.push(sql.slice(copied));
  return pieces.join('');
}

/**
 * inspectSql() for a large statement: one statement with long constant lists is inspected with
 * them cut, and reported with its own text; anything else (several statements, PREPARE, text the
 * lexer cannot read) is inspected in full.
 */
export function inspectCuttingLists(sql: string, prepared?: PreparedLookup): Inspection {
  const cut = cutConstantLists(sql);
  if (cut !== undefined) {
    const quick = inspectSql(cut, prepared);
    const only = quick.ok && quick.statements.length === 1 ? quick.statements[0]! : undefined;
    if (quick.ok && only && !only.prepare && only.text === singleStatementText(cut)) {
      return { ok: true, class: quick.class, statements: [{ ...only, text: singleStatementText(sql) }] };
    }
  }
  return inspectSql(sql, prepared);
}
